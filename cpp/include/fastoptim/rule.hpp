#pragma once
// What every update rule shares: hyper-parameter checks and the defaults of the rule interface.
//
// A rule (rules/<name>.hpp) is a struct deriving from RuleBase with
//   name, state (slot names), its settings declared once with FASTOPTIM_SETTINGS (which makes
//   Hyper, hyper_fields, hyper_defaults, hyper(const double*) and defaults()), validate(Hyper),
//   state_mask(Hyper) (bit k: the step uses slot k), Step, prepare(Hyper, step, fresh, scalars),
//   traffic(Hyper) (arrays read and written per pass),
// optionally overriding slot_init (a slot's first value), param_copies (slots that start as a
// copy of the parameter), slot_shape and ndim_mask (state not shaped like its parameter),
// row_sparse (the settings under which it takes row-sparse gradients), scalars
// and scalar_init (per-parameter scalar state that prepare() advances), and the loop(s) in
// namespace FASTOPTIM_TIER (see driver.hpp): elementwise over chunks, or per whole tensor. Every Step has `grad_scale`, which the loops multiply each gradient element by
// first: -1 for maximize, times the clip factor when the optimizer clips to max_grad_norm.
#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "fastoptim/format.hpp"
#include "fastoptim/tensor.hpp"

namespace fastoptim {

/// Throw std::invalid_argument (ValueError in Python) naming a hyper-parameter and the rule it breaks.
/// `value` is printed in its shortest round-trip form.
inline void require(bool ok, const char* name, double value, const char* rule) {
  if (!ok) throw std::invalid_argument(std::string("invalid ") + name + "=" + shortest(value) + ": " + rule);
}

/// torch's ranges, shared by the rules.
inline void require_nonnegative(const char* name, double v) { require(v >= 0.0, name, v, "must be >= 0"); }
inline void require_unit_interval(const char* name, double v) {
  require(v >= 0.0 && v < 1.0, name, v, "must be in [0, 1)");
}

/// One pass over the data: how many arrays it reads and writes per element (a read-modify-write
/// array counts in both).
struct Pass {
  int reads, writes;
};

/// A step's memory traffic: one pass, or more for rules that need per-tensor sums first.
struct Traffic {
  Pass passes[3];
  int n_passes;
  std::size_t bytes(std::size_t elem_size) const {
    std::size_t arrays = 0;
    for (int i = 0; i < n_passes; ++i) arrays += static_cast<std::size_t>(passes[i].reads + passes[i].writes);
    return arrays * elem_size;
  }
};

/// The checks every Adam-like rule shares (torch's): lr, eps, weight decay >= 0, betas in [0, 1).
inline void require_adam_like(double lr, double beta1, double beta2, double eps, double weight_decay) {
  require_nonnegative("lr", lr);
  require_unit_interval("beta1", beta1);
  require_unit_interval("beta2", beta2);
  require_nonnegative("eps", eps);
  require_nonnegative("weight_decay", weight_decay);
}

/// A setting's value from the double that Python passed (bools arrive as 0 or 1).
template <class T>
constexpr T setting_from(double v) {
  if constexpr (std::is_same_v<T, bool>)
    return v != 0;
  else
    return static_cast<T>(v);
}

// A rule's settings, declared once: LIST(X) calls X(type, name, default) for each setting, in the
// order Python passes them. The names are the Python keyword arguments (betas arrive as beta1 and
// beta2), the defaults torch's. FASTOPTIM_SETTINGS(LIST) makes, inside the rule's struct:
//   struct Hyper { type name; ... };                 the parsed settings
//   hyper_fields, hyper_defaults                     the names and defaults, in order (for Python)
//   hyper(const double* v) -> Hyper                  v in that order
//   defaults() -> Hyper
#define FASTOPTIM_SETTING_MEMBER(type, name, value) type name;
#define FASTOPTIM_SETTING_NAME(type, name, value) #name,
#define FASTOPTIM_SETTING_DEFAULT(type, name, value) static_cast<double>(value),
#define FASTOPTIM_SETTING_READ(type, name, value) h.name = ::fastoptim::setting_from<type>(v[i++]);
#define FASTOPTIM_SETTINGS(LIST)                                                           \
  struct Hyper {                                                                           \
    LIST(FASTOPTIM_SETTING_MEMBER)                                                         \
  };                                                                                       \
  static constexpr std::array hyper_fields{LIST(FASTOPTIM_SETTING_NAME)};                  \
  static constexpr std::array hyper_defaults{LIST(FASTOPTIM_SETTING_DEFAULT)};             \
  static Hyper hyper(const double* v) {                                                    \
    Hyper h{};                                                                             \
    std::size_t i = 0;                                                                     \
    LIST(FASTOPTIM_SETTING_READ)                                                           \
    return h;                                                                              \
  }                                                                                        \
  static Hyper defaults() { return hyper(hyper_defaults.data()); }

/// Whether a rule's Step asks for two passes (`static constexpr bool two_pass = true`).
template <class Step, class = void>
struct is_two_pass : std::false_type {};
template <class Step>
struct is_two_pass<Step, std::void_t<decltype(Step::two_pass)>> : std::bool_constant<Step::two_pass> {};

/// Whether a rule's Step works row by row (`static constexpr unsigned per_row = <mask of the slots
/// with one value per row>`, e.g. RowWiseAdagrad).
template <class Step, class = void>
struct row_slots : std::integral_constant<unsigned, 0> {};
template <class Step>
struct row_slots<Step, std::void_t<decltype(Step::per_row)>> : std::integral_constant<unsigned, Step::per_row> {};

/// Whether a rule's Step works on whole tensors (`static constexpr bool per_tensor = true`).
template <class Step, class = void>
struct is_per_tensor : std::false_type {};
template <class Step>
struct is_per_tensor<Step, std::void_t<decltype(Step::per_tensor)>> : std::bool_constant<Step::per_tensor> {};

/// How many sums over all of a rule's parameters its update needs (`static constexpr std::size_t
/// global_sums = K` in its Step, e.g. Prodigy's estimate of the distance to the solution): pass 1
/// sums K quantities per tensor, the engine adds them over every tensor of every group (and process),
/// Rule::advance turns the totals into the rule's new scalar state and Rule::finish into each run's
/// pass-2 scalars. 0: the rule has no global sums.
template <class Step, class = void>
struct global_sums : std::integral_constant<std::size_t, 0> {};
template <class Step>
struct global_sums<Step, std::void_t<decltype(Step::global_sums)>>
    : std::integral_constant<std::size_t, Step::global_sums> {};
/// The most global sums a rule may ask for.
inline constexpr std::size_t kMaxGlobalSums = 4;

struct RuleBase {
  /// Names of the rule's per-group scalar state; prepare() reads and advances them.
  static constexpr std::array<const char*, 0> scalars{};
  static double scalar_init(std::size_t) { return 0.0; }
  /// The value a state slot starts at when it is allocated.
  template <class Hyper>
  static double slot_init(const Hyper&, std::size_t /*slot*/) {
    return 0.0;
  }
  /// Bit k: slot k starts as a copy of its parameter instead (Schedule-Free's z).
  static constexpr unsigned param_copies = 0;
  /// Bit k: slot k is never negative (a second moment, an accumulator), so 8-bit state keeps it
  /// with the unsigned dynamic map, twice as fine as the signed one.
  static constexpr unsigned unsigned_slots = 0;
  /// The shape of slot k, from its parameter's (see SlotShape).
  static SlotShape slot_shape(std::size_t /*slot*/) { return SlotShape::param; }
  /// The slots a parameter of `ndim` dimensions may use (ANDed with state_mask): Adafactor keeps
  /// row and column statistics for matrices, a full second moment for vectors.
  static unsigned ndim_mask(int /*ndim*/) { return ~0u; }
  /// Why the rule cannot take a row-sparse gradient with these settings (nullptr: it can). A rule
  /// that can updates only the given rows, running its loop on each row as a tensor of its own.
  template <class Hyper>
  static const char* row_sparse(const Hyper&) {
    return "takes dense gradients only (SGD, Adagrad, SparseAdam and RowWiseAdagrad take row-sparse ones)";
  }
  /// With a row-sparse gradient, the rows where this slot holds anything but zeros step too (with
  /// a zero gradient): SGD's momentum keeps moving every row it has seen, as torch's sparse
  /// momentum buffer does. -1: only the given rows step.
  template <class Hyper>
  static int moving_slot(const Hyper&) {
    return -1;
  }
};

/// Registers a rule: the build lists every `FASTOPTIM_RULE(Name)` line of the headers in rules/
/// in AllRules (fastoptim/rules.hpp), so a new rule is its header alone.
#define FASTOPTIM_RULE(Name) \
  static_assert(std::is_base_of_v<::fastoptim::RuleBase, Name>, #Name " must derive from RuleBase");

/// A rule's per-group scalar state as it starts.
template <class Rule>
std::vector<double> initial_scalars() {
  std::vector<double> v(Rule::scalars.size());
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = Rule::scalar_init(k);
  return v;
}

}  // namespace fastoptim
