// Loading the trained autoregressive GRU from its HDF5 weights file (input/argru/SPEC.md §7).
#include <kelk/kelk_argru.hpp>
#include <kelk/kelk_hdf5.hpp>

#include <type_traits>
#include <vector>

namespace kelk {

template <class Scalar>
ArGru<Scalar> load_argru(const std::string& path) {
  using Map = ArGru<Scalar>;
  const auto file = hdf5::File::open_read(path);
  const std::string group = std::is_same<Scalar, float>::value ? "float32/" : "float64/";
  const auto hh_shape = file.shape(group + "gru/weight_hh");
  if (hh_shape.size() != 2 || hh_shape[0] != 3 * hh_shape[1] || hh_shape[1] == 0)
    throw hdf5::Error("kelk::load_argru: '" + group + "gru/weight_hh' in '" + path +
                      "' has shape " + hdf5::format_shape(hh_shape) + "; expected (3P, P)");
  const std::size_t P = hh_shape[1];
  const auto w_ih = file.read<Scalar>(group + "gru/weight_ih", {3 * P, 1});
  const auto w_hh = file.read<Scalar>(group + "gru/weight_hh", {3 * P, P});
  const auto bias = file.read<Scalar>(group + "gru/bias", {3 * P});
  const auto bias_n = file.read<Scalar>(group + "gru/bias_n", {P});
  const auto dec_w = file.read<Scalar>(group + "decoder/weight", {2, P});
  const auto dec_b = file.read<Scalar>(group + "decoder/bias", {2});

  // Gate g of the stacked (3P, .) arrays occupies rows [g P, (g + 1) P), in the order r, z, n.
  const auto vector = [&](const std::string& label, const std::vector<Scalar>& src,
                          std::size_t offset) {
    typename Map::Vector v(Kokkos::view_alloc(Kokkos::WithoutInitializing, "kelk::ArGru::" + label),
                           P);
    auto h = Kokkos::create_mirror_view(v);
    for (std::size_t i = 0; i < P; ++i) h(i) = src[offset + i];
    Kokkos::deep_copy(v, h);
    return v;
  };
  const auto matrix = [&](const std::string& label, std::size_t gate) {
    typename Map::Matrix m(Kokkos::view_alloc(Kokkos::WithoutInitializing, "kelk::ArGru::" + label),
                           P, P);
    auto h = Kokkos::create_mirror_view(m);
    for (std::size_t i = 0; i < P; ++i)
      for (std::size_t j = 0; j < P; ++j) h(i, j) = w_hh[(gate * P + i) * P + j];
    Kokkos::deep_copy(m, h);
    return m;
  };
  Map map;
  map.w_r = vector("w_r", w_ih, 0);
  map.w_z = vector("w_z", w_ih, P);
  map.w_n = vector("w_n", w_ih, 2 * P);
  map.U_r = matrix("U_r", 0);
  map.U_z = matrix("U_z", 1);
  map.U_n = matrix("U_n", 2);
  map.b_r = vector("b_r", bias, 0);
  map.b_z = vector("b_z", bias, P);
  map.b_n = vector("b_n", bias, 2 * P);
  map.b_hn = vector("b_hn", bias_n, 0);
  map.a_mu = vector("a_mu", dec_w, 0);
  map.a_ls = vector("a_ls", dec_w, P);
  map.c_mu = dec_b[0];
  map.c_ls = dec_b[1];
  return map;
}

template ArGru<float> load_argru<float>(const std::string&);
template ArGru<double> load_argru<double>(const std::string&);

}  // namespace kelk
