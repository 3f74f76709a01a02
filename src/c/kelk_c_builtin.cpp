// The C API's built-in maps: Elman, GRU, LSTM and Lorenz-96 from the caller's parameter arrays, and
// any map of a kelk model file, on kelk's default execution space.
#include "kelk_c_map.hpp"

#include <cmath>
#include <string>

namespace kelk::c_api {
namespace {

using Space = Kokkos::DefaultExecutionSpace;
using Memory = Space::memory_space;

template <class M>
kelk_map* handle(const M& map) {
  return new MapHandle<M, Space>(map);
}

/// Copies the caller's parameters, in the map's parameter_layout() order, into its Views.
class Parameters {
 public:
  Parameters(const char* who, const double* data, std::size_t count)
      : who_(who), data_(data), count_(count) {}

  template <class View>
  View take(const std::string& name, std::size_t rows, std::size_t cols = 0) {
    const std::size_t n = cols == 0 && View::rank == 1 ? rows : rows * cols;
    if (used_ + n > count_)
      throw std::invalid_argument(who_ + ": " + std::to_string(count_) +
                                  " parameters are too few; " + name + " needs entries " +
                                  std::to_string(used_) + " .. " + std::to_string(used_ + n - 1));
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isfinite(data_[used_ + i]))
        throw std::invalid_argument(who_ + ": parameter " + std::to_string(used_ + i) + " (" +
                                    name + ", entry " + std::to_string(i) + ") is " +
                                    (std::isnan(data_[used_ + i]) ? "NaN" : "infinite"));
    View v;
    if constexpr (View::rank == 1)
      v = View(Kokkos::view_alloc(who_ + "::" + name, Kokkos::WithoutInitializing), rows);
    else
      v = View(Kokkos::view_alloc(who_ + "::" + name, Kokkos::WithoutInitializing), rows, cols);
    const typename View::HostMirror::const_type host(
        typename View::HostMirror(const_cast<double*>(data_ + used_), v.layout()));
    Kokkos::deep_copy(v, host);
    used_ += n;
    return v;
  }
  void finish() const {
    if (used_ != count_)
      throw std::invalid_argument(who_ + ": got " + std::to_string(count_) +
                                  " parameters, the map has " + std::to_string(used_));
  }

 private:
  std::string who_;
  const double* data_;
  std::size_t count_, used_ = 0;
};

}  // namespace

kelk_map* make_builtin(int kind, int D, int Din, const double* parameters, std::size_t count,
                       double step) {
  const char* who = "kelk_map_create_builtin";
  impl::check_dims(who, D, Din);
  if (parameters == nullptr && count > 0)
    throw std::invalid_argument(std::string(who) + ": parameters is NULL");
  Parameters p(who, parameters, count);
  using Matrix = impl::WeightMatrix<double, Memory>;
  using Vector = impl::WeightVector<double, Memory>;
  const std::size_t d = D, din = Din;
  switch (kind) {
    case KELK_MAP_ELMAN: {
      Elman<double, Memory> m;
      m.W = p.take<Matrix>("W", d, d);
      m.U = p.take<Matrix>("U", d, din);
      m.c = p.take<Vector>("c", d);
      p.finish();
      return handle(m);
    }
    case KELK_MAP_GRU: {
      Gru<double, Memory> m;
      m.W_ir = p.take<Matrix>("W_ir", d, din);
      m.W_iz = p.take<Matrix>("W_iz", d, din);
      m.W_in = p.take<Matrix>("W_in", d, din);
      m.W_hr = p.take<Matrix>("W_hr", d, d);
      m.W_hz = p.take<Matrix>("W_hz", d, d);
      m.W_hn = p.take<Matrix>("W_hn", d, d);
      m.b_ir = p.take<Vector>("b_ir", d);
      m.b_iz = p.take<Vector>("b_iz", d);
      m.b_in = p.take<Vector>("b_in", d);
      m.b_hn = p.take<Vector>("b_hn", d);
      p.finish();
      return handle(m);
    }
    case KELK_MAP_LSTM: {
      if (D % 2 != 0)
        throw std::invalid_argument(std::string(who) +
                                    ": the LSTM's state is [h, c]; need an even D = 2H, got " +
                                    std::to_string(D));
      const std::size_t h = d / 2;
      Lstm<double, Memory> m;
      for (auto [W, name] : {std::pair{&m.W_ii, "W_ii"}, {&m.W_if, "W_if"}, {&m.W_ig, "W_ig"},
                             {&m.W_io, "W_io"}})
        *W = p.take<Matrix>(name, h, din);
      for (auto [W, name] : {std::pair{&m.W_hi, "W_hi"}, {&m.W_hf, "W_hf"}, {&m.W_hg, "W_hg"},
                             {&m.W_ho, "W_ho"}})
        *W = p.take<Matrix>(name, h, h);
      for (auto [b, name] :
           {std::pair{&m.b_i, "b_i"}, {&m.b_f, "b_f"}, {&m.b_g, "b_g"}, {&m.b_o, "b_o"}})
        *b = p.take<Vector>(name, h);
      p.finish();
      return handle(m);
    }
    case KELK_MAP_LORENZ96: {
      if (Din != 0)
        throw std::invalid_argument(std::string(who) + ": Lorenz-96 has no input; need Din = 0");
      if (count != 1 || !std::isfinite(parameters[0]))
        throw std::invalid_argument(std::string(who) +
                                    ": Lorenz-96 takes one finite parameter, the forcing F");
      if (!(step > 0 && std::isfinite(step)))
        throw std::invalid_argument(std::string(who) + ": Lorenz-96's time step must be > 0");
      return handle(Lorenz96<double>(D, parameters[0], step));
    }
    case KELK_MAP_ARGRU:
      throw std::invalid_argument(std::string(who) +
                                  ": the autoregressive GRU is read from its file (kelk_map_load)");
    default:
      throw std::invalid_argument(std::string(who) + ": unknown kind " + std::to_string(kind) +
                                  " (KELK_MAP_ELMAN, KELK_MAP_GRU, KELK_MAP_LSTM, KELK_MAP_LORENZ96)");
  }
}

kelk_map* load_builtin(const std::string& path) {
#if defined(KELK_HAVE_HDF5) && defined(KELK_HAVE_MPI)
  return io::with_model<double>(path, [](const auto& map) { return handle(map); });
#else
  throw Error(KELK_ERROR_UNSUPPORTED,
              "kelk_map_load: this kelk was built without HDF5 (KELK_ENABLE_HDF5=OFF)");
#endif
}

}  // namespace kelk::c_api
