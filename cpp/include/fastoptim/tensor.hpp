#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fastoptim {

/// Element type of a parameter (bf16: ml_dtypes' bfloat16, the top half of a float32; f16: IEEE
/// half precision, NumPy's float16).
enum class DType : std::uint8_t { f32, f64, bf16, f16 };

/// The most state arrays any rule keeps per parameter.
inline constexpr std::size_t kMaxState = 4;

/// How a float32 parameter's state is stored (state_dtype=): as the parameter (native), as
/// bfloat16, as blockwise 8-bit codes (uint8 codes, one float32 absmax per kQuantBlock elements;
/// see quantize.hpp), or as blockwise 4-bit codes (two per byte, element 2j in byte j's low
/// nibble, one float32 absmax per kQuant4Block elements). The rule's loop always sees float32:
/// the driver converts the state in registers or a block of kQuantBlock elements in L1 around it.
enum class StateType : std::uint8_t { native, bf16, int8, int4 };

/// Elements per block of 8-bit state: one absmax each (and the driver's conversion block).
inline constexpr std::size_t kQuantBlock = 256;
/// Elements per block of 4-bit state (Li et al. 2023's 128): one absmax each.
inline constexpr std::size_t kQuant4Block = 128;

/// Elements per absmax of a quantized state type.
inline constexpr std::size_t quant_block(StateType t) { return t == StateType::int4 ? kQuant4Block : kQuantBlock; }

/// One parameter as the kernels see it: raw pointers, already checked by the caller for dtype,
/// size, contiguity and aliasing. A state pointer is null when the rule does not use that slot.
/// The shape decides where chunks may end (never inside a row) and what per-tensor and per-row
/// rules see (Adafactor's rows and columns); without one (`shape` null) the tensor is the vector
/// (size,).
struct Tensor {
  void* param = nullptr;
  const void* grad = nullptr;
  void* state[kMaxState] = {};
  std::size_t size = 0;
  DType dtype = DType::f32;
  int ndim = 1;
  const std::ptrdiff_t* shape = nullptr;  ///< ndim extents, C order; owned by the caller
  StateType state_type = StateType::native;  ///< native: float32 for a bfloat16 parameter
  unsigned unsigned_slots = 0;         ///< int8, int4: bit k, slot k is never negative (the unsigned map)
  float* absmax[kMaxState] = {};       ///< int8, int4: each slot's block maxima
  // A 16-bit parameter: its gradient is 16-bit or float32, and it is the rounding of a float32
  // value: of its master, or, without one, of the update, rounded to nearest or stochastically with
  // noise drawn from `noise` and the index. A bfloat16 master is kept as its exact low 16 bits
  // (master_low), a float16 one as the float32 difference from the parameter (master_delta; the
  // master itself where the parameter overflowed to inf).
  bool grad_f32 = false;
  bool stochastic = false;
  std::uint16_t* master_low = nullptr;
  float* master_delta = nullptr;
  std::uint32_t noise = 0;  ///< a key per parameter and step (see engine)

  bool half() const { return dtype == DType::bf16 || dtype == DType::f16; }
  /// Whether the rules see this tensor through float32 blocks (see visit_converted).
  bool converted() const { return state_type != StateType::native || half(); }

  std::size_t extent(int k) const { return shape ? static_cast<std::size_t>(shape[k]) : size; }
  /// The extent of the last dimension (1 for a 0-d tensor).
  std::size_t cols() const { return ndim == 0 ? 1 : extent(ndim - 1); }
  /// The extent of the second-last dimension (1 below 2 dimensions).
  std::size_t rows() const { return ndim < 2 ? 1 : extent(ndim - 2); }
  /// Elements per row, a row being an index of the first dimension (an embedding table's row);
  /// 1 for vectors and scalars.
  std::size_t row_width() const { return ndim < 2 || size == 0 ? 1 : size / extent(0); }
};

/// The shape of a state array, in terms of its parameter's shape `s`.
enum class SlotShape : std::uint8_t {
  param,  ///< s (the default)
  rows,   ///< s with its last extent 1: a statistic per row (Adafactor's row_var)
  cols,   ///< s with its second-last extent 1: a statistic per column (Adafactor's col_var)
  first,  ///< (s[0],): a statistic per row of the first dimension (RowWiseAdagrad's sum)
};

/// A slice [begin, end) of one tensor: the unit of work one thread takes.
struct Chunk {
  std::uint32_t tensor;
  std::size_t begin, end;
};

/// Below this many elements in a call, one thread does all of it (a parallel region costs a few us).
inline constexpr std::size_t kParallelMinElems = std::size_t{1} << 15;
/// Largest chunk a thread takes at once.
inline constexpr std::size_t kChunkElems = std::size_t{1} << 15;
/// How far ahead of its loop an elementwise rule asks for its arrays' lines, and in pieces of how
/// many bytes of parameter (see visit_streamed).
inline constexpr std::size_t kPrefetchBytes = 4096, kStreamPieceBytes = 1024;

/// Which passes a call of a two-pass rule (LAMB, LARS) makes. Split, the caller can combine each
/// tensor's partial sums of squares across processes between the passes (fastoptim.distributed).
enum class Phase : std::uint8_t {
  both,    ///< pass 1, the trust ratios from the sums, pass 2
  norms,   ///< pass 1 only: write each tensor's two sums to Work::sums
  update,  ///< pass 2 only, from the sums in Work::sums
};

/// Everything one rule call needs besides its scalars: the tensors, their chunks, the thread count.
struct Work {
  const Tensor* tensors = nullptr;
  const Chunk* chunks = nullptr;
  std::size_t n_chunks = 0;
  std::size_t n_tensors = 0;
  std::size_t total = 0;  ///< elements over all tensors; decides whether to go parallel
  int threads = 1;
  Phase phase = Phase::both;  ///< two-pass rules only
  double* sums = nullptr;     ///< 2 per tensor (a rule's global_sums for those rules), for norms and update
};

/// Tensors and the chunks they are cut into (at most kChunkElems elements each, or one row when a
/// row is longer; small tensors are one chunk; a chunk never splits a row): what one kernel call
/// runs over. Built once, e.g. per parameter group.
struct TensorSet {
  std::vector<Tensor> tensors;
  std::vector<Chunk> chunks;
  std::size_t total = 0;  ///< elements over all tensors

  void add(const Tensor& t) {
    const auto index = static_cast<std::uint32_t>(tensors.size());
    // Quantized state is only for elementwise rules, whose chunks may split rows: cut at whole
    // blocks (kChunkElems is a multiple of both block sizes, and even, for 4-bit codes' bytes).
    const bool quantized = t.state_type == StateType::int8 || t.state_type == StateType::int4;
    const std::size_t width = quantized ? 1 : t.row_width();
    const std::size_t step = width >= kChunkElems ? width : kChunkElems / width * width;
    for (std::size_t b = 0; b < t.size; b += step) chunks.push_back({index, b, b + step < t.size ? b + step : t.size});
    tensors.push_back(t);
    total += t.size;
  }
  Work work(int threads) const { return {tensors.data(), chunks.data(), chunks.size(), tensors.size(), total, threads}; }
};

/// What one read of the gradients tells: the first tensor holding inf or NaN (-1: none) and, when
/// asked for, the sum of their squares.
struct GradStats {
  std::ptrdiff_t first_bad = -1;
  double sum_squares = 0;
};

}  // namespace fastoptim
