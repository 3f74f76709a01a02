// The Python extension's maps (kelk_python.hpp): MapOf<M> calls kelk::solve, solve_adjoint and
// probe on unmanaged Views of the caller's (numpy, DLPack) host arrays, with no copy; the
// factories copy named parameter arrays into the maps' weight Views, both precisions.
#include "kelk_python.hpp"

#ifdef KELK_HAVE_HDF5
#include <kelk/kelk_io.hpp>
#endif

#include <cmath>
#include <mutex>
#include <set>
#include <stdexcept>
#include <type_traits>

namespace kelk::python {
namespace {

using Space = Kokkos::DefaultExecutionSpace;
using Memory = Space::memory_space;
constexpr bool host_accessible = Kokkos::SpaceAccessibility<Space, Kokkos::HostSpace>::accessible;

template <class T>
using Rows =
    Kokkos::View<T**, Kokkos::LayoutRight, Memory, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class T>
using Sequence =
    Kokkos::View<T***, Kokkos::LayoutRight, Memory, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class T>
using Flat = Kokkos::View<T*, Kokkos::LayoutRight, Memory, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// kelk::io::write_model where kelk has a writer for the map (float64 Elman, GRU, LSTM,
/// Lorenz-96); the template catches the rest.
template <class M>
void write_model(const std::string&, const M&) {
  throw std::invalid_argument(
      "kelk.Map.save: kelk writes model files of float64 Elman, GRU, LSTM and Lorenz96 maps "
      "only");
}
#ifdef KELK_HAVE_HDF5
[[maybe_unused]] void write_model(const std::string& path, const Elman<double, Memory>& m) {
  io::write_model(path, m);
}
[[maybe_unused]] void write_model(const std::string& path, const Gru<double, Memory>& m) {
  io::write_model(path, m);
}
[[maybe_unused]] void write_model(const std::string& path, const Lstm<double, Memory>& m) {
  io::write_model(path, m);
}
[[maybe_unused]] void write_model(const std::string& path, const Lorenz96<double>& m) {
  io::write_model(path, m);
}
#endif

template <class M>
class MapOf final : public AnyMap {
 public:
  using Scalar = typename M::value_type;
  MapOf(std::string kind, const M& m) : kind_(std::move(kind)), map_(m) {
    if constexpr (!host_accessible)
      throw std::runtime_error(
          "kelk (Python): this kelk was built for a device; the Python module needs a host "
          "execution space");
  }

  std::string kind() const override { return kind_; }
  bool is_double() const override { return std::is_same<Scalar, double>::value; }
  int state_dim() const override { return map_.state_dim(); }
  int input_dim() const override { return map_.input_dim(); }
  std::vector<ParameterBlock> layout() const override { return parameter_layout(map_); }
  void save(const std::string& path) const override {
#ifdef KELK_HAVE_HDF5
    write_model(path, map_);
#else
    (void)path;
    throw std::runtime_error("kelk.Map.save: this kelk was built without HDF5");
#endif
  }

  SolveResult solve(const Arrays& a, const SolveOptions& o) const override {
    return kelk::solve(Space(), map_, s0(a), inputs(a), sequence(a.states, a, state_dim()), o);
  }
  AdjointResult solve_adjoint(const Arrays& a, const AdjointOptions& o) const override {
    return adjoint_with(
        a, [&](const auto& s0, const auto& u, const auto& s, const auto& c, const auto& g) {
          return kelk::solve_adjoint(Space(), map_, s0, u, s, c, g, o);
        });
  }
#ifdef KELK_HAVE_MPI
  SolveResult solve(const DistributedSolver& solver, const Arrays& a,
                    const SolveOptions& o) const override {
    return solver.solve(Space(), map_, s0(a), inputs(a), sequence(a.states, a, state_dim()), o);
  }
  AdjointResult solve_adjoint(const DistributedSolver& solver, const Arrays& a,
                              const AdjointOptions& o) const override {
    return adjoint_with(
        a, [&](const auto& s0, const auto& u, const auto& s, const auto& c, const auto& g) {
          return solver.solve_adjoint(Space(), map_, s0, u, s, c, g, o);
        });
  }
#endif
  ProbeResult probe(const Arrays& a, const ProbeOptions& o) const override {
    return kelk::probe(Space(), map_, s0(a), inputs(a), o);
  }
  MethodChoice choose(const Arrays& a, const Resources& r,
                      std::optional<double> atol) const override {
    return kelk::choose_method(Space(), map_, s0(a), inputs(a), r, atol);
  }
  void release() override {
    map_ = M{};
    released_ = true;
  }

 private:
  template <class Run>
  AdjointResult adjoint_with(const Arrays& a, const Run& run) const {
    Gradients<Scalar, Memory> g;
    const int D = state_dim(), Din = input_dim();
    if (a.ds0 != nullptr) g.s0 = Rows<Scalar>(static_cast<Scalar*>(a.ds0), a.B, D);
    if (a.dinputs != nullptr && Din > 0) g.inputs = sequence(a.dinputs, a, Din);
    const std::size_t P = parameter_count(map_);
    if (a.dparameters != nullptr && P > 0)
      g.parameters = Flat<Scalar>(static_cast<Scalar*>(a.dparameters), P);
    return run(s0(a), inputs(a), const_sequence(a.const_states, a, D),
               const_sequence(a.cotangents, a, D), g);
  }
  Rows<const Scalar> s0(const Arrays& a) const {
    return Rows<const Scalar>(static_cast<const Scalar*>(a.s0), a.B, state_dim());
  }
  Sequence<const Scalar> inputs(const Arrays& a) const {
    return const_sequence(a.inputs, a, input_dim());
  }
  static Sequence<const Scalar> const_sequence(const void* p, const Arrays& a, int n) {
    return Sequence<const Scalar>(static_cast<const Scalar*>(p), a.B, a.T, n);
  }
  static Sequence<Scalar> sequence(void* p, const Arrays& a, int n) {
    return Sequence<Scalar>(static_cast<Scalar*>(p), a.B, a.T, n);
  }

  std::string kind_;
  M map_;
};

/// A weight View of `shape` from a float64 host array (finite entries, converted to Scalar).
template <class View>
View weights(const char* who, const std::string& name, const HostArray& a,
             std::vector<std::size_t> shape) {
  if (a.shape != shape) {
    auto str = [](const std::vector<std::size_t>& s) {
      std::string t = "(";
      for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
      return t + (s.size() == 1 ? ",)" : ")");
    };
    throw std::invalid_argument(std::string(who) + ": " + name + " has shape " + str(a.shape) +
                                "; expected " + str(shape));
  }
  std::size_t n = 1;
  for (auto e : shape) n *= e;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(a.data[i]))
      throw std::invalid_argument(std::string(who) + ": " + name + " entry " + std::to_string(i) +
                                  " is " + (std::isnan(a.data[i]) ? "NaN" : "infinite"));
  View v;
  const std::string label = std::string("kelk::python::") + name;
  if constexpr (View::rank == 1)
    v = View(Kokkos::view_alloc(label, Kokkos::WithoutInitializing), shape[0]);
  else
    v = View(Kokkos::view_alloc(label, Kokkos::WithoutInitializing), shape[0], shape[1]);
  auto host = Kokkos::create_mirror_view(v);
  auto* out = host.data();
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<typename View::value_type>(a.data[i]);
  Kokkos::deep_copy(v, host);
  return v;
}

template <class M>
std::unique_ptr<AnyMap> hold(const char* kind, const M& m) {
  return std::make_unique<MapOf<M>>(kind, m);
}

}  // namespace

#ifdef KELK_PY_DEFINE_REGISTRY
namespace {
std::mutex registry_mutex;
std::set<AnyMap*>& registry() {
  static std::set<AnyMap*> maps;
  return maps;
}
}  // namespace

AnyMap::AnyMap() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  registry().insert(this);
}
AnyMap::~AnyMap() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  registry().erase(this);
}
void AnyMap::release_all() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (AnyMap* m : registry()) m->release();
}
#endif

template <class Scalar>
std::unique_ptr<AnyMap> make_elman(const HostArray& W, const HostArray& U, const HostArray& c) {
  const char* who = "kelk.Elman";
  if (W.shape.size() != 2 || U.shape.size() != 2)
    throw std::invalid_argument("kelk.Elman: W (D, D) and U (D, Din) must be 2-dimensional");
  const std::size_t D = W.shape[0], Din = U.shape[1];
  impl::check_dims(who, int(D), int(Din));
  using Matrix = impl::WeightMatrix<Scalar, Memory>;
  using Vector = impl::WeightVector<Scalar, Memory>;
  Elman<Scalar, Memory> m;
  m.W = weights<Matrix>(who, "W", W, {D, D});
  m.U = weights<Matrix>(who, "U", U, {D, Din});
  m.c = weights<Vector>(who, "c", c, {D});
  return hold("Elman", m);
}

template <class Scalar>
std::unique_ptr<AnyMap> make_gru(const std::vector<HostArray>& w) {
  const char* who = "kelk.GRU";
  if (w.size() != 10) throw std::invalid_argument("kelk.GRU: needs 10 parameter arrays");
  if (w[0].shape.size() != 2 || w[3].shape.size() != 2)
    throw std::invalid_argument("kelk.GRU: W_ir (D, Din) and W_hr (D, D) must be 2-dimensional");
  const std::size_t D = w[3].shape[0], Din = w[0].shape[1];
  impl::check_dims(who, int(D), int(Din));
  using Matrix = impl::WeightMatrix<Scalar, Memory>;
  using Vector = impl::WeightVector<Scalar, Memory>;
  Gru<Scalar, Memory> m;
  m.W_ir = weights<Matrix>(who, "W_ir", w[0], {D, Din});
  m.W_iz = weights<Matrix>(who, "W_iz", w[1], {D, Din});
  m.W_in = weights<Matrix>(who, "W_in", w[2], {D, Din});
  m.W_hr = weights<Matrix>(who, "W_hr", w[3], {D, D});
  m.W_hz = weights<Matrix>(who, "W_hz", w[4], {D, D});
  m.W_hn = weights<Matrix>(who, "W_hn", w[5], {D, D});
  m.b_ir = weights<Vector>(who, "b_ir", w[6], {D});
  m.b_iz = weights<Vector>(who, "b_iz", w[7], {D});
  m.b_in = weights<Vector>(who, "b_in", w[8], {D});
  m.b_hn = weights<Vector>(who, "b_hn", w[9], {D});
  return hold("GRU", m);
}

template <class Scalar>
std::unique_ptr<AnyMap> make_lstm(const std::vector<HostArray>& w) {
  const char* who = "kelk.LSTM";
  if (w.size() != 12) throw std::invalid_argument("kelk.LSTM: needs 12 parameter arrays");
  if (w[0].shape.size() != 2 || w[4].shape.size() != 2)
    throw std::invalid_argument("kelk.LSTM: W_ii (H, Din) and W_hi (H, H) must be 2-dimensional");
  const std::size_t H = w[4].shape[0], Din = w[0].shape[1];
  impl::check_dims(who, int(H), int(Din));
  using Matrix = impl::WeightMatrix<Scalar, Memory>;
  using Vector = impl::WeightVector<Scalar, Memory>;
  Lstm<Scalar, Memory> m;
  Matrix* matrices[] = {&m.W_ii, &m.W_if, &m.W_ig, &m.W_io, &m.W_hi, &m.W_hf, &m.W_hg, &m.W_ho};
  Vector* vectors[] = {&m.b_i, &m.b_f, &m.b_g, &m.b_o};
  const char* names[] = {"W_ii", "W_if", "W_ig", "W_io", "W_hi", "W_hf",
                         "W_hg", "W_ho", "b_i",  "b_f",  "b_g",  "b_o"};
  for (int k = 0; k < 8; ++k)
    *matrices[k] = weights<Matrix>(who, names[k], w[k], {H, k < 4 ? Din : H});
  for (int k = 0; k < 4; ++k) *vectors[k] = weights<Vector>(who, names[8 + k], w[8 + k], {H});
  return hold("LSTM", m);
}

template <class Scalar>
std::unique_ptr<AnyMap> make_lorenz96(int D, double F, double dt) {
  impl::check_dims("kelk.Lorenz96", D, 0);
  if (!std::isfinite(F)) throw std::invalid_argument("kelk.Lorenz96: the forcing F must be finite");
  if (!(dt > 0 && std::isfinite(dt)))
    throw std::invalid_argument("kelk.Lorenz96: the time step dt must be > 0");
  return hold("Lorenz96", Lorenz96<Scalar>(D, Scalar(F), Scalar(dt)));
}

template <class Scalar>
std::unique_ptr<AnyMap> make_argru(const std::vector<HostArray>& w, double c_mu, double c_ls) {
  const char* who = "kelk.ArGRU";
  if (w.size() != 12) throw std::invalid_argument("kelk.ArGRU: needs 12 parameter arrays");
  if (w[0].shape.size() != 1)
    throw std::invalid_argument("kelk.ArGRU: w_r must be 1-dimensional (P)");
  if (!std::isfinite(c_mu) || !std::isfinite(c_ls))
    throw std::invalid_argument("kelk.ArGRU: c_mu and c_ls must be finite");
  const std::size_t P = w[0].shape[0];
  impl::check_dims(who, int(P) + 1, 1);
  using M = ArGru<Scalar, Memory>;
  using Matrix = typename M::Matrix;
  using Vector = typename M::Vector;
  M m;
  m.w_r = weights<Vector>(who, "w_r", w[0], {P});
  m.w_z = weights<Vector>(who, "w_z", w[1], {P});
  m.w_n = weights<Vector>(who, "w_n", w[2], {P});
  m.U_r = weights<Matrix>(who, "U_r", w[3], {P, P});
  m.U_z = weights<Matrix>(who, "U_z", w[4], {P, P});
  m.U_n = weights<Matrix>(who, "U_n", w[5], {P, P});
  m.b_r = weights<Vector>(who, "b_r", w[6], {P});
  m.b_z = weights<Vector>(who, "b_z", w[7], {P});
  m.b_n = weights<Vector>(who, "b_n", w[8], {P});
  m.b_hn = weights<Vector>(who, "b_hn", w[9], {P});
  m.a_mu = weights<Vector>(who, "a_mu", w[10], {P});
  m.a_ls = weights<Vector>(who, "a_ls", w[11], {P});
  m.c_mu = Scalar(c_mu);
  m.c_ls = Scalar(c_ls);
  return hold("ArGRU", m);
}

template <class Scalar>
std::unique_ptr<AnyMap> load_model(const std::string& path) {
#ifdef KELK_HAVE_HDF5
  return io::with_model<Scalar>(path, [](const auto& map) -> std::unique_ptr<AnyMap> {
    using M = std::decay_t<decltype(map)>;
    const char* kind = std::is_same<M, Elman<Scalar>>::value      ? "Elman"
                       : std::is_same<M, Gru<Scalar>>::value      ? "GRU"
                       : std::is_same<M, Lstm<Scalar>>::value     ? "LSTM"
                       : std::is_same<M, Lorenz96<Scalar>>::value ? "Lorenz96"
                                                                  : "ArGRU";
    return hold(kind, map);
  });
#else
  (void)path;
  throw std::runtime_error("kelk.load: this kelk was built without HDF5 (KELK_ENABLE_HDF5=OFF)");
#endif
}

#define KELK_PY_INSTANTIATE(S)                                                                   \
  template std::unique_ptr<AnyMap> make_elman<S>(const HostArray&, const HostArray&,             \
                                                 const HostArray&);                              \
  template std::unique_ptr<AnyMap> make_gru<S>(const std::vector<HostArray>&);                   \
  template std::unique_ptr<AnyMap> make_lstm<S>(const std::vector<HostArray>&);                  \
  template std::unique_ptr<AnyMap> make_lorenz96<S>(int, double, double);                        \
  template std::unique_ptr<AnyMap> make_argru<S>(const std::vector<HostArray>&, double, double); \
  template std::unique_ptr<AnyMap> load_model<S>(const std::string&);

KELK_PY_INSTANTIATE(KELK_PY_SCALAR)

}  // namespace kelk::python
