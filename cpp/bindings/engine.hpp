#pragma once
// _core.Engine: the parameters, state and step counts of one optimizer, and its step.
//
// One Engine serves one Python optimizer and all of its parameter groups. State is kept per
// parameter, as torch does, and found by the array's identity: a parameter keeps its state when
// param_groups are edited (arrays swapped in, groups reordered), and a group may hold parameters at
// different step counts. step() is a single call: it checks every parameter, gradient and setting of
// every group, allocates missing state aside, optionally checks finiteness, and only then updates;
// new state is kept only when the step completes. Any error leaves every parameter, every state
// array and every count as it was.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "busy.hpp"
#include "sparse.hpp"
#include "fastoptim/dispatch.hpp"
#include "fastoptim/schedules.hpp"

namespace fastoptim::bind {

/// A 16-bit parameter's master weights, as state_dict() names them: a bfloat16 one's low 16 bits
/// (uint16), a float16 one's float32 difference from the parameter.
inline constexpr const char* kMasterLowBits = "master_low_bits";
inline constexpr const char* kMasterDelta = "master_delta";

/// One parameter and what the optimizer keeps for it.
struct Param {
  py::array array;                 ///< the user's array (or a view of a torch tensor's memory)
  py::object key;                  ///< what its state belongs to: the array itself, or the torch tensor
  std::string label;               ///< "parameter 3" or "parameter 'w'", for messages
  Expect expect;                   ///< dtype, shape and bytes when registered: what its gradient must be
  void* data = nullptr;            ///< its data pointer when registered
  py::object descr;                ///< its dtype object when registered (held, so its address stays its own)
  std::vector<py::object> state;   ///< per slot; a null handle is a slot not allocated
  std::vector<py::object> absmax;  ///< per slot, for 8-bit state: its block maxima (float32)
  StateType state_type = StateType::native;  ///< how its state is stored (see state_type_for)
  py::object master;               ///< a 16-bit parameter's master weights (see kMasterLowBits, kMasterDelta)
  std::int64_t step = 0;           ///< completed steps
  std::vector<double> scalars;     ///< the rule's per-parameter scalar state (NAdam's mu_product)
  /// The rows whose moving slot (see moving_slot) holds anything but zeros, when known: a
  /// row-sparse step updates them too. Unknown (after a dense step or a load) until the next
  /// row-sparse step reads them from the state.
  std::vector<std::int64_t> moving;
  bool moving_known = false;
};

/// The name of a 16-bit parameter's master weights in its state.
inline const char* master_name(const Param& p) { return py::array(p.master).itemsize() == 2 ? kMasterLowBits : kMasterDelta; }

struct Group {
  std::vector<std::size_t> members;  ///< indices into EngineBase::params_
  TensorSet set;                     ///< parameter pointers; gradients and state are set per step
  /// The latest step ran the whole group as one run and completed: its members share a step count
  /// and scalar state, and `set` points at their state for slots `ready_mask`. Then the next step
  /// with the same mask needs no planning (the common case). Anything else that changes state clears it.
  bool ready = false;
  unsigned ready_mask = 0;
  /// This step some members have no gradient (None) or a row-sparse one: those without are
  /// skipped, and `active` holds one tensor per member with a gradient, in order (a row-sparse
  /// gradient's values as one tensor), for the finiteness check and the norm.
  bool partial = false;
  TensorSet active;
  /// This step's row-sparse gradients, and per member the index of its own in `sparse` (or -1).
  std::vector<RowGrad> sparse;
  std::vector<std::ptrdiff_t> sparse_of;
};

/// Parameters of one group that share a step count, scalar state and newly allocated slots: one
/// Rule::Step and one kernel call. A group is one run unless its parameters have diverged (one was
/// added to it mid-run, or moved from another group).
struct Run {
  std::size_t group = 0;
  std::vector<std::size_t> members;  ///< positions in the group; empty when the run is the whole group
  TensorSet own;                     ///< the members' tensors, when not the whole group
  std::int64_t step = 0;             ///< completed steps of every member
  unsigned fresh = 0;                ///< slots this step allocates
  unsigned mask = 0;                 ///< slots this step uses
  std::vector<double> scalars;       ///< scalar state before the step; prepare() advances it
};

enum class Nonfinite { raise, skip, ignore };

/// A setting's value at step t: a number, a Schedule (evaluated in C++), or any Python callable
/// t -> float (the slow path). `scheduled` tells whether it came from a schedule or callable.
double hyper_value(py::handle obj, std::int64_t t, const char* name, bool* scheduled);
/// Raise unless `v` is finite: ValueError, or FloatingPointError for a schedule's value during a step.
void check_finite(double v, const char* name, bool scheduled, std::int64_t t, std::size_t group, bool in_step);

/// Make the n-th state allocation from now fail with MemoryError (0: never). For tests only.
void fail_allocation(long n);

/// The state_dtype= values: "same" is the parameter's own dtype.
enum class StateDtype { same, f32, f64, bf16, int8, int4 };
/// Tensors below this many elements keep float32 state under state_dtype="int8" or "int4"
/// (bitsandbytes' min_8bit_size, the 4-bit paper's threshold): their blocks would cost more than
/// they save.
inline constexpr std::size_t kMin8bitSize = 4096;
/// Whether state of this type is codes with block maxima.
inline bool quantized(StateType t) { return t == StateType::int8 || t == StateType::int4; }
/// A quantized slot's codes: the parameter's shape for 8 bits, (ceil(size / 2),) for 4 bits.
std::vector<py::ssize_t> code_dims(const std::vector<py::ssize_t>& shape, StateType type);

/// Every state array is allocated here: shaped as `kind` says from `param`'s shape, typed like
/// `param` (native), or as bfloat16, or as 8- or 4-bit codes (uint8, with its block maxima in
/// `*absmax`, `is_signed` choosing the map); every element holds `init` (rounded to the type).
py::object alloc_state(const py::array& param, SlotShape kind, double init, StateType type = StateType::native,
                       bool is_signed = true, py::object* absmax = nullptr);
/// NumPy's dtype for a slot of this type (the parameter's, bfloat16 or uint8).
py::dtype state_dtype_of(const py::array& param, StateType type);
/// An ndarray's data pointer.
void* data_of(const py::object& a);

class EngineBase {
 public:
  virtual ~EngineBase() = default;

  /// Register the parameters of every group (lists[g]: arrays, labels[g]: their labels), keeping the
  /// state of those already registered. A parameter is known by its key (keys[g][i]; by default the
  /// array itself): a known key with a new array of the same shape and dtype keeps its state in the
  /// new memory. All checks first; on error nothing changes.
  void set_groups(const py::list& lists, const py::list& labels, const py::object& keys);
  /// The registered arrays, group by group (for a torch optimizer, the views of its tensors).
  py::list arrays() const;
  /// Whether `lists` holds exactly the registered arrays, group by group.
  bool matches(const py::list& lists) const;
  /// What step() did.
  enum class Outcome : int { skipped = 0, stepped = 1, params_changed = 2 };
  /// One optimizer step over all groups: stepped, skipped (nonfinite="skip"), or, when `lists` are
  /// not the registered arrays, nothing at all (register them with set_groups, then step again).
  /// For a two-pass rule, `reduce_sums` (unless None) is called once per step between the passes as
  /// reduce_sums(sums, index): sums[j] holds parameter index[j]'s two partial sums of squares (its
  /// flat position over all groups), and it may change them in place before pass 2 reads them.
  Outcome step(const py::list& lists, const py::list& grads, const py::list& hypers, const std::string& nonfinite,
               const py::object& max_grad_norm, const py::object& reduce_sums);
  /// Raise ValueError if `hyper` breaks the rule's ranges, naming the group.
  void validate(std::size_t group, const py::handle& hyper) { parse_hyper(group, hyper, group_step(group), false); }

  /// Per group, per parameter: None (no state yet) or (step, {scalar: value}, {slot: array}), the
  /// arrays copied, or (copy=false) the engine's own, which the next steps update in place.
  py::list snapshot(bool copy);
  /// Replace all state by `entries`, shaped as snapshot() returns it. Everything is checked before
  /// anything changes.
  void load(const py::list& entries);

  /// state_dtype=: how new state is stored ("float32", "float64", "bfloat16", "int8", or "" for
  /// the parameters' dtype). Set before any parameter is registered.
  void set_state_dtype(const std::string& name);
  std::string state_dtype() const;
  /// How bfloat16 parameters are kept: as the rounding of a float32 master (their low bits kept
  /// beside them), or, without, rounded to nearest or stochastically with noise from `seed`. Set
  /// before any parameter is registered.
  void set_rounding(bool master_weights, bool stochastic, std::uint64_t seed);

  /// A group's schedule position: the most steps any of its parameters has taken.
  std::int64_t group_step(std::size_t group) const;
  std::size_t n_groups() const { return groups_.size(); }
  /// The global L2 norm of the gradients that the latest step measured for max_grad_norm (else NaN).
  double last_grad_norm() const { return last_grad_norm_; }
  /// Each group's lr as the latest step (or check) evaluated it.
  std::vector<double> last_lr() const;
  Busy& busy() { return busy_; }

  virtual std::size_t n_state() const = 0;
  virtual std::string slot_name(std::size_t slot) const = 0;
  virtual std::string scalar_name(std::size_t k) const = 0;
  virtual std::size_t n_scalars() const = 0;
  /// The position of the setting named lr among the rule's settings.
  virtual std::size_t lr_field() const = 0;
  /// Whether the rule makes two passes (LAMB, LARS), so step() offers its sums to `reduce_sums`.
  virtual bool two_pass() const = 0;
  /// How many sums over all parameters the rule needs before its update (Prodigy, D-Adaptation), or 0.
  virtual std::size_t global_sums() const = 0;
  /// The (reads, writes) of each pass of a step with the group's latest validated settings.
  virtual std::vector<std::pair<int, int>> traffic(std::size_t group) = 0;

 protected:
  /// Evaluate the group's settings at step t and check them. A non-finite value is a ValueError,
  /// or, when a schedule produced it during a step, a FloatingPointError.
  virtual void parse_hyper(std::size_t group, const py::handle& hyper, std::int64_t t, bool in_step) = 0;
  virtual unsigned state_mask(std::size_t group) const = 0;
  virtual double slot_init(std::size_t group, std::size_t slot) const = 0;
  /// Why the rule cannot take a row-sparse gradient with the group's settings (nullptr: it can).
  virtual const char* row_sparse(std::size_t group) const = 0;
  /// The slot whose nonzero rows keep moving without a gradient (SGD's momentum buffer), or -1.
  virtual int moving_slot(std::size_t group) const = 0;
  /// Bit k: slot k starts as a copy of its parameter (then slot_init does not apply).
  virtual unsigned param_copies() const = 0;
  virtual SlotShape slot_shape(std::size_t slot) const = 0;
  /// Bit k: slot k is never negative (8-bit state uses the unsigned map).
  virtual unsigned unsigned_slots() const = 0;
  /// Why the rule keeps its state at the parameters' precision only (nullptr: it can convert).
  virtual const char* converted_state_refusal() const = 0;
  /// The slots a parameter of `ndim` dimensions may use.
  virtual unsigned ndim_mask(int ndim) const = 0;
  virtual std::vector<double> initial_scalars() const = 0;
  /// Compute runs_[r]'s step scalars (and advance its scalar state) before the GIL is released.
  virtual void prepare(std::size_t r) = 0;
  virtual void run(const KernelTable& k, std::size_t r, const Work& w) = 0;
  /// A rule with global sums: advance its scalar state from the totals over every run (and process),
  /// and give every run its pass-2 scalars.
  virtual void finish(const double* totals) = 0;
  /// Multiply run r's gradients by `factor` as the rule reads them (gradient clipping).
  virtual void scale_gradients(std::size_t r, double factor) = 0;

  std::vector<Run> runs_;                    ///< the current step's runs
  std::vector<std::vector<double>> values_;  ///< the settings the latest parse evaluated, per group

 private:
  /// Point the tensors at their state, allocating missing slots into `pending`; then cut groups into runs.
  struct Pending {
    std::size_t param, slot;
    py::object array, absmax;
  };
  /// How parameter `c` of this shape keeps its state under state_dtype_; raises naming `label`
  /// when its dtype does not go with state_dtype_.
  StateType state_type_for(const Checked& c, const std::string& label) const;
  void plan(std::vector<Pending>& pending);
  /// Run r's tensors.
  Work work_of(std::size_t r, int threads) const;
  /// Add member i of group g to `set`: its tensor, or with a row-sparse gradient one tensor per row.
  void add_member(const Group& g, std::size_t i, TensorSet& set) const;
  /// Run every run's pass 1, call `reduce_sums` with the GIL held (and, for a rule with global sums,
  /// finish() with their totals), then every run's pass 2.
  void run_split(const KernelTable& k, int threads, const py::object& reduce_sums);
  /// A rule with global sums: every group's lr must be the same or 0 (its estimate is one number).
  void check_shared_lr() const;
  /// A rule with global sums keeps one scalar state for all parameters: that of any parameter that
  /// has stepped, else the rule's initial one.
  std::vector<double> shared_scalars() const;

  std::vector<Param> params_;
  std::vector<Group> groups_;
  SpanIndex spans_;
  StateDtype state_dtype_ = StateDtype::same;
  bool master_weights_ = true, stochastic_ = false;
  std::uint64_t seed_ = 0;
  double last_grad_norm_ = std::numeric_limits<double>::quiet_NaN();
  Busy busy_;
};

}  // namespace fastoptim::bind
