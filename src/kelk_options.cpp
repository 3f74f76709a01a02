// Names of kelk's option values, both ways, for drivers, input decks and messages.
#include <kelk/kelk_options.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace kelk {

namespace {

const std::pair<Method, const char*> method_names[] = {
    {Method::sequential, "sequential"},
    {Method::jacobi, "jacobi"},
    {Method::deer, "deer"},
    {Method::quasi_deer, "quasi_deer"},
    {Method::elk, "elk"},
    {Method::quasi_elk, "quasi_elk"},
    {Method::block_jacobi, "block_jacobi"},
};
const std::pair<InitialGuess, const char*> guess_names[] = {
    {InitialGuess::zeros, "zeros"},
    {InitialGuess::repeat_s0, "repeat_s0"},
    {InitialGuess::provided, "provided"},
};
const std::pair<NonFinitePolicy, const char*> policy_names[] = {
    {NonFinitePolicy::clip_and_zero, "clip_and_zero"},
    {NonFinitePolicy::reset_to_guess, "reset_to_guess"},
    {NonFinitePolicy::none, "none"},
};
const std::pair<JacobianStructure, const char*> structure_names[] = {
    {JacobianStructure::diagonal, "diagonal"},
    {JacobianStructure::block, "block"},
    {JacobianStructure::dense, "dense"},
};
const std::pair<StopReason, const char*> reason_names[] = {
    {StopReason::converged, "converged"},
    {StopReason::max_iterations, "max_iterations"},
    {StopReason::non_finite, "non_finite"},
    {StopReason::stalled, "stalled"},
};

template <class E, std::size_t N>
std::string name_of(const std::pair<E, const char*> (&table)[N], E value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return "unknown";
}

template <class E, std::size_t N>
E parse(const std::pair<E, const char*> (&table)[N], const std::string& name, const char* what) {
  std::string valid;
  for (const auto& [v, n] : table) {
    if (name == n) return v;
    valid += valid.empty() ? n : std::string(", ") + n;
  }
  throw std::invalid_argument(std::string("kelk: unknown ") + what + " '" + name +
                              "' (valid: " + valid + ")");
}

}  // namespace

std::string to_string(Method m) {
  return name_of(method_names, m);
}
std::string to_string(InitialGuess g) {
  return name_of(guess_names, g);
}
std::string to_string(NonFinitePolicy p) {
  return name_of(policy_names, p);
}
std::string to_string(StopReason r) {
  return name_of(reason_names, r);
}
std::string to_string(JacobianStructure s) {
  return name_of(structure_names, s);
}

Method parse_method(const std::string& name) {
  return parse(method_names, name, "method");
}
InitialGuess parse_initial_guess(const std::string& name) {
  return parse(guess_names, name, "initial guess");
}
NonFinitePolicy parse_non_finite_policy(const std::string& name) {
  return parse(policy_names, name, "non-finite policy");
}
JacobianStructure parse_jacobian_structure(const std::string& name) {
  return parse(structure_names, name, "jacobian structure");
}

const std::vector<Method>& all_methods() {
  static const std::vector<Method> methods = [] {
    std::vector<Method> m;
    for (const auto& entry : method_names) m.push_back(entry.first);
    return m;
  }();
  return methods;
}

int default_max_iter(Method m, int T) {
  return m == Method::elk || m == Method::quasi_elk ? std::max(T, 100) : T;
}

double default_sigma2(Method m) {
  return m == Method::quasi_elk ? 1e2 : 1e6;
}

const char* version() {
  return KELK_VERSION_STRING;
}

}  // namespace kelk
