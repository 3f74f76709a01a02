// kelk::solve: evaluate s_t = f(s_{t-1}, u_t), t = 1..T, for a batch of sequences, by the
// sequential loop or in parallel over time (Jacobi, DEER, quasi-DEER, ELK, quasi-ELK, block Jacobi).
#pragma once

#include <kelk/impl/kelk_iteration.hpp>
#include <kelk/impl/kelk_kernels.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_scan.hpp>
#include <kelk/kelk_step_map.hpp>
#include <kelk/kelk_views.hpp>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace kelk {

namespace impl {

[[noreturn]] inline void invalid(const std::string& what) {
  throw std::invalid_argument("kelk::solve: " + what);
}

/// A number as the user wrote it: the shortest decimal that reads back as the same double
/// (std::to_string prints -1e-7 as -0.000000).
inline std::string number(double x) {
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, x);
    if (std::strtod(text, nullptr) == x || !std::isfinite(x)) break;
  }
  return text;
}

inline std::string shape(std::size_t a, std::size_t b, std::size_t c) {
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ", " + std::to_string(c) + ")";
}

/// The refusal of a method that needs the map's Jacobian (or its diagonal) when the map has
/// none; `how` says how this kind of map provides one. Shared by kelk::solve and the C API.
inline std::string missing_jacobian(Method m, const std::string& how) {
  return "method " + to_string(m) + " needs a step map with jacobian(): " + how +
         ", or choose a method without Jacobians (jacobi, block_jacobi, sequential)";
}
inline std::string missing_jacobian_diagonal(Method m, const std::string& how) {
  return "method " + to_string(m) + " needs a step map with jacobian_diagonal(): " + how +
         ", or choose a method without Jacobians (jacobi, block_jacobi, sequential)";
}

/// Host-side checks of shapes, options and data; throws std::invalid_argument naming the
/// problem. Returns the problem description for the kernels.
template <class ExecutionSpace, class StepMap>
Problem<ExecutionSpace, StepMap> make_problem(
    const ExecutionSpace& space, const StepMap& map,
    const BatchView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>& s0,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        inputs,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& states,
    const SolveOptions& options) {
  Problem<ExecutionSpace, StepMap> p{map, s0, inputs, states};
  p.prev0 = s0;
  p.D = map.state_dim();
  p.Din = map.input_dim();
  // Each dimension is an int (flat indices over B T D are 64-bit); larger ones are refused.
  constexpr std::size_t int_max = std::numeric_limits<int>::max();
  const std::pair<const char*, std::size_t> extents[] = {{"batch size B", s0.extent(0)},
                                                         {"sequence length T", states.extent(1)}};
  for (const auto& [what, n] : extents)
    if (n > int_max)
      invalid("the " + std::string(what) + " = " + std::to_string(n) + " exceeds kelk's limit " +
              std::to_string(int_max) + " (2^31 - 1); split it over ranks or calls");
  p.B = static_cast<int>(s0.extent(0));
  p.T = p.global_T = static_cast<int>(states.extent(1));
  if (p.D < 1)
    invalid("the step map's state dimension D is " + std::to_string(p.D) + "; need D >= 1");
  if (p.Din < 0) invalid("the step map's input dimension Din is negative");
  if (p.B < 1) invalid("s0 holds no sequence (batch size B = 0); need B >= 1");
  if (s0.extent(1) != std::size_t(p.D))
    invalid("s0 has shape (" + std::to_string(s0.extent(0)) + ", " + std::to_string(s0.extent(1)) +
            ") but the step map has D = " + std::to_string(p.D) + "; need (B, D)");
  if (states.extent(0) != std::size_t(p.B) || states.extent(2) != std::size_t(p.D))
    invalid("states have shape " + shape(states.extent(0), states.extent(1), states.extent(2)) +
            "; need (B, T, D) with B = " + std::to_string(p.B) + ", D = " + std::to_string(p.D));
  if (p.T < 1) invalid("the sequence length T is 0; need T >= 1");
  if (inputs.extent(0) != std::size_t(p.B) || inputs.extent(1) != std::size_t(p.T) ||
      inputs.extent(2) != std::size_t(p.Din))
    invalid("inputs have shape " + shape(inputs.extent(0), inputs.extent(1), inputs.extent(2)) +
            " but (B, T, Din) = " + shape(p.B, p.T, p.Din) + " is needed");
  if (!states.span_is_contiguous() || !inputs.span_is_contiguous() || !s0.span_is_contiguous())
    invalid("s0, inputs and states must be contiguous Views");

  if (options.atol && !(*options.atol >= 0 && std::isfinite(*options.atol)))
    invalid("atol must be finite and >= 0, got " + number(*options.atol));
  if (!(options.rtol >= 0 && std::isfinite(options.rtol)))
    invalid("rtol must be finite and >= 0, got " + number(options.rtol));
  if (options.max_iter && *options.max_iter < 0)
    invalid("max_iter must be >= 0, got " + std::to_string(*options.max_iter));
  if (options.chunks < 0)
    invalid("chunks must be >= 0 (0: automatic), got " + std::to_string(options.chunks));
  if (!(options.clip_value > 0)) invalid("clip_value must be > 0");
  if (options.blocks < 0)
    invalid("blocks must be >= 0 (0: automatic), got " + std::to_string(options.blocks));
  if (options.method == Method::block_jacobi && options.blocks > p.T)
    invalid("blocks = " + std::to_string(options.blocks) + " is more than the " +
            std::to_string(p.T) + " time steps to split (per rank when distributed)");
  if (std::size_t(p.B) * std::size_t(p.D) > int_max)
    invalid("B D = " + std::to_string(std::size_t(p.B) * std::size_t(p.D)) +
            " exceeds kelk's limit " + std::to_string(int_max) +
            " (2^31 - 1) on the states of one time step; use fewer sequences per call");
  const Method m = options.method;
  // dense methods keep D x D matrices, indexed by int inside kernels
  if ((m == Method::deer || m == Method::elk) && 3 * std::size_t(p.D) * std::size_t(p.D) > int_max)
    invalid("method " + to_string(m) + " keeps dense D x D Jacobians; D = " + std::to_string(p.D) +
            " is beyond its limit 26754 (3 D^2 < 2^31); use quasi_deer, quasi_elk or block_jacobi");
  // run time, not compile time: the method is a run-time option, and jacobi, block_jacobi
  // and sequential need no Jacobian
  if ((m == Method::deer || m == Method::elk) && !provides_jacobian_v<StepMap>)
    invalid(missing_jacobian(
        m, "`KOKKOS_FUNCTION void jacobian(const value_type* s, const value_type* u, value_type* "
           "f, value_type* jac, value_type* scratch) const` writing f(s, u) and jac[i * D + j] = "
           "df_i/ds_j; wrap a map whose step is a template in kelk::AutoDiff (kelk_autodiff.hpp) "
           "to get it"));
  const bool quasi = m == Method::quasi_deer || m == Method::quasi_elk;
  const JacobianStructure structure = quasi ? options.jacobian_structure : JacobianStructure::dense;
  if (quasi && structure == JacobianStructure::block) {
    const int k = options.block_size;
    if (k < 1 || k > p.D || p.D % k != 0)
      invalid("jacobian_structure block needs a block_size k that divides D = " +
              std::to_string(p.D) + ", got " + std::to_string(k));
    if (!provides_jacobian_blocks_v<StepMap> && !provides_jacobian_v<StepMap>)
      invalid("jacobian_structure block needs a step map with jacobian_blocks() or jacobian() "
              "(kelk_step_map.hpp); wrap a map whose step is a template in kelk::AutoDiff "
              "(kelk_autodiff.hpp) to get them, or use jacobian_structure diagonal");
  }
  if (quasi && structure == JacobianStructure::dense) {
    if (3 * std::size_t(p.D) * std::size_t(p.D) > int_max)
      invalid("jacobian_structure dense keeps D x D Jacobians; D = " + std::to_string(p.D) +
              " is beyond its limit 26754 (3 D^2 < 2^31); use diagonal or block");
    if (!provides_jacobian_v<StepMap>)
      invalid(missing_jacobian(m, "jacobian_structure dense needs it; wrap a map whose step is a "
                                  "template in kelk::AutoDiff (kelk_autodiff.hpp) to get it"));
  }
  if (quasi && structure == JacobianStructure::diagonal && !provides_jacobian_diagonal_v<StepMap>)
    invalid(missing_jacobian_diagonal(
        m, "`KOKKOS_FUNCTION void jacobian_diagonal(const value_type* s, const value_type* u, "
           "value_type* f, value_type* diag, value_type* scratch) const` writing f(s, u) and "
           "diag[i] = df_i/ds_i; wrap a map whose step is a template in kelk::AutoDiff "
           "(kelk_autodiff.hpp) to get it"));
  if (options.sigma2 && !(*options.sigma2 > 0 && std::isfinite(*options.sigma2)))
    invalid("sigma2 must be finite and > 0, got " + number(*options.sigma2));

  if (const char* what = non_finite_data(space, s0, inputs)) invalid(what);
  if (options.method != Method::sequential && options.initial_guess == InitialGuess::provided &&
      count_non_finite(space, states) > 0)
    invalid("the provided initial guess (the states on entry) contains NaN or Inf");
  return p;
}

/// solve()'s work on Views of kelk's own types (the compiled instantiations of kelk.hpp).
template <class ExecutionSpace, class StepMap>
SolveResult solve_contiguous(
    const ExecutionSpace& space, const StepMap& map,
    const BatchView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>& s0,
    const SequenceView<const typename StepMap::value_type, typename ExecutionSpace::memory_space>&
        inputs,
    const SequenceView<typename StepMap::value_type, typename ExecutionSpace::memory_space>& states,
    const SolveOptions& options) {
  const auto p = make_problem(space, map, s0, inputs, states, options);
  Kokkos::Profiling::pushRegion("kelk::solve::" + to_string(options.method));
  const SolveResult result = solve_with(space, p, options, SingleProcess{});
  Kokkos::Profiling::popRegion();
  return result;
}

/// check_view_argument() of each (B, T, n) View in turn, up to the first that fails.
template <class Scalar, class Memory, class... Sequences>
constexpr bool check_sequence_arguments();
template <class Scalar, class Memory, class First, class... Rest>
constexpr bool check_sequence_arguments_from() {
  if constexpr (!check_view_argument<First, Scalar, Memory, 3, false>())
    return false;
  else
    return check_sequence_arguments<Scalar, Memory, Rest...>();
}
template <class Scalar, class Memory, class... Sequences>
constexpr bool check_sequence_arguments() {
  if constexpr (sizeof...(Sequences) == 0)
    return true;
  else
    return check_sequence_arguments_from<Scalar, Memory, Sequences...>();
}

/// The compile-time checks of an entry point's map and Views, in turn, so that a misuse gives
/// one message (for the first problem); true when the call can be compiled.
/// States: the writable (B, T, D) View, or void when there is none.
template <class ExecutionSpace, class StepMap, class S0, class States, class... Sequences>
constexpr bool check_arguments() {
  static_assert(Kokkos::is_execution_space<ExecutionSpace>::value,
                "kelk: the first argument must be a Kokkos execution space instance");
  if constexpr (!check_step_map<StepMap>()) {
    return false;
  } else {
    using Scalar = typename StepMap::value_type;
    using Memory = typename ExecutionSpace::memory_space;
    if constexpr (!check_view_argument<S0, Scalar, Memory, 2, false>())
      return false;
    else if constexpr (!check_sequence_arguments<Scalar, Memory, Sequences...>())
      return false;
    else if constexpr (std::is_void<States>::value)
      return true;
    else
      return check_view_argument<States, Scalar, Memory, 3, true>();
  }
}

/// Calls solve(s0, inputs, states) on kelk's own View types: Views laid out as LayoutRight's
/// are used in place, any other is copied into a contiguous View first (labelled
/// `who`::s0_copy, ...) and the states are copied back afterwards.
template <class Scalar, class ExecutionSpace, class S0, class Inputs, class States, class Solve>
SolveResult on_layout_right(const ExecutionSpace& space, const std::string& who, const S0& s0,
                            const Inputs& inputs, const States& states, const Solve& solve) {
  using Memory = typename ExecutionSpace::memory_space;
  bool copied = false;
  const auto s = as_layout_right<SequenceView<Scalar, Memory>>(
      space, states, (who + "::states_copy").c_str(), &copied);
  const SolveResult result = solve(
      as_layout_right<BatchView<const Scalar, Memory>>(space, s0, (who + "::s0_copy").c_str()),
      as_layout_right<SequenceView<const Scalar, Memory>>(space, inputs,
                                                         (who + "::inputs_copy").c_str()),
      s);
  if (copied) {
    Kokkos::deep_copy(space, states, s);
    space.fence();
  }
  return result;
}

}  // namespace impl

/// Evaluates the recurrence s_t = f(s_{t-1}, u_t), t = 1..T, for B sequences.
///
/// \param space   execution space instance every kernel runs on
/// \param map     the step map (see \ref step_map_contract)
/// \param s0      initial states, (B, D)
/// \param inputs  inputs u_1..u_T, (B, T, Din)
/// \param states  output s_1..s_T, (B, T, D); with InitialGuess::provided, also the guess
/// \param options method, tolerances, safeguards (ALGORITHMS.md section 7)
/// \returns iterations, convergence and why, final update and residual, optional history.
/// \throws std::invalid_argument for inconsistent shapes, empty problems, invalid options,
///         NaN/Inf in s0 or inputs, or a method the map cannot serve.
///
/// The Views are kelk::BatchView / kelk::SequenceView of the map's value_type in the space's
/// memory space, or any Kokkos View of that scalar, rank and memory space (a Kokkos::subview,
/// LayoutStride): one whose entries lie as LayoutRight's would (a time window of a single
/// sequence) is used in place; any other (a time window of several sequences) is copied into a
/// contiguous View first, and the states copied back after the solve (one B T D copy each way).
template <class ExecutionSpace, class StepMap, class S0, class Inputs, class States,
          class = std::enable_if_t<Kokkos::is_execution_space<ExecutionSpace>::value>>
SolveResult solve(const ExecutionSpace& space, const StepMap& map, const S0& s0,
                  const Inputs& inputs, const States& states, const SolveOptions& options = {}) {
  if constexpr (impl::check_arguments<ExecutionSpace, StepMap, S0, States, Inputs>()) {
    return impl::on_layout_right<typename StepMap::value_type>(
        space, "kelk::solve", s0, inputs, states, [&](const auto& s0_, const auto& inputs_,
                                                      const auto& states_) {
          return impl::solve_contiguous(space, map, s0_, inputs_, states_, options);
        });
  } else {
    return {};
  }
}

/// solve() on the default execution space.
template <class StepMap, class S0, class Inputs, class States,
          class = std::enable_if_t<!Kokkos::is_execution_space<StepMap>::value>>
SolveResult solve(const StepMap& map, const S0& s0, const Inputs& inputs, const States& states,
                  const SolveOptions& options = {}) {
  return solve(Kokkos::DefaultExecutionSpace(), map, s0, inputs, states, options);
}

}  // namespace kelk
