// kelk's HDF5 file schema (docs/FILES.md): model, input and output files.
#include <kelk/kelk_io.hpp>
#include <kelk/kelk_solve.hpp>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <type_traits>

namespace kelk {

namespace io {

namespace {

/// Host copy of a row-major device View as a vector of doubles.
template <class View>
std::vector<double> to_host(const View& v) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  return std::vector<double>(h.data(), h.data() + h.span());
}

/// Throws naming the dataset if a weight is NaN or Inf, or beyond Scalar's range.
template <class Scalar, class T>
void check_weights(const hdf5::File& file, const std::string& name, const std::vector<T>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = double(values[i]);
    if (std::isfinite(Scalar(v))) continue;
    const std::string what = std::isfinite(v) ? impl::number(v) : std::string("NaN or Inf");
    throw hdf5::Error("kelk: dataset '" + name + "' in '" + file.path() + "' holds " + what +
                      " (entry " + std::to_string(i) + ")" +
                      (std::isfinite(v) ? ", beyond fp32's range" : ""));
  }
}

template <class Scalar>
impl::WeightMatrix<Scalar, Kokkos::DefaultExecutionSpace::memory_space> matrix(
    const hdf5::File& file, const std::string& name, std::size_t rows, std::size_t cols,
    const std::string& label) {
  const auto values = file.read<double>(name, {rows, cols});
  check_weights<Scalar>(file, name, values);
  impl::WeightMatrix<Scalar, Kokkos::DefaultExecutionSpace::memory_space> m(label, rows, cols);
  auto h = Kokkos::create_mirror_view(m);
  for (std::size_t i = 0; i < values.size(); ++i) h.data()[i] = Scalar(values[i]);
  Kokkos::deep_copy(m, h);
  return m;
}

template <class Scalar>
impl::WeightVector<Scalar, Kokkos::DefaultExecutionSpace::memory_space> vector(
    const hdf5::File& file, const std::string& name, std::size_t n, const std::string& label) {
  const auto values = file.read<double>(name, {n});
  check_weights<Scalar>(file, name, values);
  impl::WeightVector<Scalar, Kokkos::DefaultExecutionSpace::memory_space> v(label, n);
  auto h = Kokkos::create_mirror_view(v);
  for (std::size_t i = 0; i < n; ++i) h(i) = Scalar(values[i]);
  Kokkos::deep_copy(v, h);
  return v;
}

/// D and Din of a model from the shape of one of its (D, Din)-shaped datasets.
std::pair<std::size_t, std::size_t> dims_of(const hdf5::File& file, const std::string& name) {
  const auto shape = file.shape(name);
  if (shape.size() != 2 || shape[0] == 0)
    throw hdf5::Error("kelk: model dataset '" + name + "' in '" + file.path() + "' has shape " +
                      hdf5::format_shape(shape) + "; expected (D, Din)");
  return {shape[0], shape[1]};
}

void write_matrix(hdf5::File& file, const std::string& name, const std::vector<double>& v,
                  std::size_t rows, std::size_t cols) {
  file.write<double>(name, {rows, cols}, v);
}

}  // namespace

std::string to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::elman:
      return "elman";
    case ModelKind::gru:
      return "gru";
    case ModelKind::lorenz96:
      return "lorenz96";
    default:
      return "argru";
  }
}

ModelKind model_kind(const hdf5::File& file) {
  if (file.has_attribute("kelk_model")) {
    const auto kind = file.read_attribute<std::string>("kelk_model");
    for (auto k : {ModelKind::elman, ModelKind::gru, ModelKind::lorenz96, ModelKind::argru})
      if (kind == to_string(k)) return k;
    throw hdf5::Error("kelk: model file '" + file.path() + "' names an unknown step map '" + kind +
                      "' (known: elman, gru, lorenz96, argru)");
  }
  if (file.exists("float64/gru/weight_hh")) return ModelKind::argru;
  throw hdf5::Error("kelk: '" + file.path() +
                    "' is not a kelk model file: it has no 'kelk_model' attribute");
}

template <class Scalar>
Elman<Scalar> read_elman(const hdf5::File& file) {
  const auto [D, Din] = dims_of(file, "U");
  Elman<Scalar> m;
  m.W = matrix<Scalar>(file, "W", D, D, "kelk::Elman::W");
  m.U = matrix<Scalar>(file, "U", D, Din, "kelk::Elman::U");
  m.c = vector<Scalar>(file, "c", D, "kelk::Elman::c");
  return m;
}

template <class Scalar>
Gru<Scalar> read_gru(const hdf5::File& file) {
  const auto [D, Din] = dims_of(file, "W_ir");
  Gru<Scalar> m;
  m.W_ir = matrix<Scalar>(file, "W_ir", D, Din, "kelk::Gru::W_ir");
  m.W_iz = matrix<Scalar>(file, "W_iz", D, Din, "kelk::Gru::W_iz");
  m.W_in = matrix<Scalar>(file, "W_in", D, Din, "kelk::Gru::W_in");
  m.W_hr = matrix<Scalar>(file, "W_hr", D, D, "kelk::Gru::W_hr");
  m.W_hz = matrix<Scalar>(file, "W_hz", D, D, "kelk::Gru::W_hz");
  m.W_hn = matrix<Scalar>(file, "W_hn", D, D, "kelk::Gru::W_hn");
  m.b_ir = vector<Scalar>(file, "b_ir", D, "kelk::Gru::b_ir");
  m.b_iz = vector<Scalar>(file, "b_iz", D, "kelk::Gru::b_iz");
  m.b_in = vector<Scalar>(file, "b_in", D, "kelk::Gru::b_in");
  m.b_hn = vector<Scalar>(file, "b_hn", D, "kelk::Gru::b_hn");
  return m;
}

template <class Scalar>
Lorenz96<Scalar> read_lorenz96(const hdf5::File& file) {
  const auto D = file.read_attribute<std::int64_t>("D");
  if (D < 4)
    throw hdf5::Error("kelk: Lorenz-96 model '" + file.path() + "' has D = " + std::to_string(D) +
                      "; need D >= 4");
  const std::vector<double> F{file.read_attribute<double>("F")},
      dt{file.read_attribute<double>("dt")};
  check_weights<Scalar>(file, "F", F);
  check_weights<Scalar>(file, "dt", dt);
  return Lorenz96<Scalar>(int(D), Scalar(F[0]), Scalar(dt[0]));
}

template <class Scalar>
ArGru<Scalar> read_argru(const hdf5::File& file) {
  using Map = ArGru<Scalar>;
  const std::string group = std::is_same<Scalar, float>::value ? "float32/" : "float64/";
  const auto hh_shape = file.shape(group + "gru/weight_hh");
  if (hh_shape.size() != 2 || hh_shape[0] != 3 * hh_shape[1] || hh_shape[1] == 0)
    throw hdf5::Error("kelk: '" + group + "gru/weight_hh' in '" + file.path() + "' has shape " +
                      hdf5::format_shape(hh_shape) + "; expected (3P, P)");
  const std::size_t P = hh_shape[1];
  // float32 models are read exactly as stored, float64 ones from the exact upcasts
  const auto w_ih = file.read<Scalar>(group + "gru/weight_ih", {3 * P, 1});
  const auto w_hh = file.read<Scalar>(group + "gru/weight_hh", {3 * P, P});
  const auto bias = file.read<Scalar>(group + "gru/bias", {3 * P});
  const auto bias_n = file.read<Scalar>(group + "gru/bias_n", {P});
  const auto dec_w = file.read<Scalar>(group + "decoder/weight", {2, P});
  const auto dec_b = file.read<Scalar>(group + "decoder/bias", {2});
  check_weights<Scalar>(file, group + "gru/weight_ih", w_ih);
  check_weights<Scalar>(file, group + "gru/weight_hh", w_hh);
  check_weights<Scalar>(file, group + "gru/bias", bias);
  check_weights<Scalar>(file, group + "gru/bias_n", bias_n);
  check_weights<Scalar>(file, group + "decoder/weight", dec_w);
  check_weights<Scalar>(file, group + "decoder/bias", dec_b);

  // Gate g of the stacked (3P, .) arrays occupies rows [g P, (g + 1) P), in the order r, z, n.
  const auto vec = [&](const std::string& label, const std::vector<Scalar>& src,
                       std::size_t offset) {
    typename Map::Vector v(Kokkos::view_alloc(Kokkos::WithoutInitializing, "kelk::ArGru::" + label),
                           P);
    auto h = Kokkos::create_mirror_view(v);
    for (std::size_t i = 0; i < P; ++i) h(i) = src[offset + i];
    Kokkos::deep_copy(v, h);
    return v;
  };
  const auto mat = [&](const std::string& label, std::size_t gate) {
    typename Map::Matrix m(Kokkos::view_alloc(Kokkos::WithoutInitializing, "kelk::ArGru::" + label),
                           P, P);
    auto h = Kokkos::create_mirror_view(m);
    for (std::size_t i = 0; i < P; ++i)
      for (std::size_t j = 0; j < P; ++j) h(i, j) = w_hh[(gate * P + i) * P + j];
    Kokkos::deep_copy(m, h);
    return m;
  };
  Map map;
  map.w_r = vec("w_r", w_ih, 0);
  map.w_z = vec("w_z", w_ih, P);
  map.w_n = vec("w_n", w_ih, 2 * P);
  map.U_r = mat("U_r", 0);
  map.U_z = mat("U_z", 1);
  map.U_n = mat("U_n", 2);
  map.b_r = vec("b_r", bias, 0);
  map.b_z = vec("b_z", bias, P);
  map.b_n = vec("b_n", bias, 2 * P);
  map.b_hn = vec("b_hn", bias_n, 0);
  map.a_mu = vec("a_mu", dec_w, 0);
  map.a_ls = vec("a_ls", dec_w, P);
  map.c_mu = dec_b[0];
  map.c_ls = dec_b[1];
  return map;
}

void write_model(const std::string& path, const Elman<double>& map) {
  auto file = hdf5::File::create(path);
  const std::size_t D = map.state_dim(), Din = map.input_dim();
  file.write_attribute<std::string>("kelk_model", "elman");
  write_matrix(file, "W", to_host(map.W), D, D);
  write_matrix(file, "U", to_host(map.U), D, Din);
  file.write<double>("c", {D}, to_host(map.c));
  file.close();
}

void write_model(const std::string& path, const Gru<double>& map) {
  auto file = hdf5::File::create(path);
  const std::size_t D = map.state_dim(), Din = map.input_dim();
  file.write_attribute<std::string>("kelk_model", "gru");
  write_matrix(file, "W_ir", to_host(map.W_ir), D, Din);
  write_matrix(file, "W_iz", to_host(map.W_iz), D, Din);
  write_matrix(file, "W_in", to_host(map.W_in), D, Din);
  write_matrix(file, "W_hr", to_host(map.W_hr), D, D);
  write_matrix(file, "W_hz", to_host(map.W_hz), D, D);
  write_matrix(file, "W_hn", to_host(map.W_hn), D, D);
  file.write<double>("b_ir", {D}, to_host(map.b_ir));
  file.write<double>("b_iz", {D}, to_host(map.b_iz));
  file.write<double>("b_in", {D}, to_host(map.b_in));
  file.write<double>("b_hn", {D}, to_host(map.b_hn));
  file.close();
}

void write_model(const std::string& path, const Lorenz96<double>& map) {
  auto file = hdf5::File::create(path);
  file.write_attribute<std::string>("kelk_model", "lorenz96");
  file.write_attribute<std::int64_t>("D", map.D);
  file.write_attribute<double>("F", map.forcing);
  file.write_attribute<double>("dt", map.dt);
  file.close();
}

InputShape read_input_shape(const hdf5::File& file) {
  const auto s0 = file.shape("s0");
  const auto in = file.shape("inputs");
  const auto where = "input file '" + file.path() + "': ";
  if (s0.size() != 2)
    throw hdf5::Error("kelk: " + where + "'s0' has shape " + hdf5::format_shape(s0) +
                      "; expected (B, D)");
  if (in.size() != 3)
    throw hdf5::Error("kelk: " + where + "'inputs' has shape " + hdf5::format_shape(in) +
                      "; expected (B, T, Din)");
  if (in[0] != s0[0])
    throw hdf5::Error("kelk: " + where + "'s0' holds " + std::to_string(s0[0]) +
                      " sequences but 'inputs' " + std::to_string(in[0]));
  for (const char* name : {"s0", "inputs"})
    if (file.type_class(name) != hdf5::TypeClass::floating)
      throw hdf5::Error("kelk: " + where + "'" + name +
                        "' must hold floating-point values (float32 or float64)");
  return {int(s0[0]), int(in[1]), int(s0[1]), int(in[2])};
}

template <class Scalar>
InputBlock<Scalar> read_input_block(const hdf5::File& file, const Partition& part) {
  const auto shape = read_input_shape(file);
  const std::size_t b0 = part.batch_begin, nb = part.local_batch();
  const std::size_t t0 = part.time_begin, nt = part.local_length();
  const auto s0 = file.read_slab<Scalar>("s0", {b0, 0}, {nb, std::size_t(shape.D)});
  const auto in = file.read_slab<Scalar>("inputs", {b0, t0, 0}, {nb, nt, std::size_t(shape.Din)});
  InputBlock<Scalar> block{BatchView<Scalar>("kelk::io::s0", nb, shape.D),
                           SequenceView<Scalar>("kelk::io::inputs", nb, nt, shape.Din)};
  auto hs = Kokkos::create_mirror_view(block.s0);
  auto hi = Kokkos::create_mirror_view(block.inputs);
  std::copy(s0.begin(), s0.end(), hs.data());
  std::copy(in.begin(), in.end(), hi.data());
  Kokkos::deep_copy(block.s0, hs);
  Kokkos::deep_copy(block.inputs, hi);
  return block;
}

void write_inputs(const std::string& path, const InputShape& shape, const std::vector<double>& s0,
                  const std::vector<double>& inputs) {
  auto file = hdf5::File::create(path);
  file.write<double>("s0", {std::size_t(shape.B), std::size_t(shape.D)}, s0);
  file.write<double>("inputs", {std::size_t(shape.B), std::size_t(shape.T), std::size_t(shape.Din)},
                     inputs);
  file.close();
}

Attributes describe(const SolveOptions& options, const SolveResult& result) {
  using I = std::int64_t;
  Attributes a = {
      {"kelk_version", std::string(version())},
      {"method", to_string(options.method)},
      {"rtol", options.rtol},
      {"initial_guess", to_string(options.initial_guess)},
      {"non_finite", to_string(options.non_finite)},
      {"clip_value", options.clip_value},
      {"keep_best", I(options.keep_best)},
      {"chunks", I(options.chunks)},
      {"iterations", I(result.iterations)},
      {"converged", I(result.converged)},
      {"stop_reason", to_string(result.reason)},
      {"final_update", result.final_update},
      {"final_residual", result.final_residual},
      {"returned_iteration", I(result.returned_iteration)},
  };
  if (options.atol) a.push_back({"atol", *options.atol});
  if (options.max_iter) a.push_back({"max_iter", I(*options.max_iter)});
  if (options.method == Method::block_jacobi) a.push_back({"blocks", I(options.blocks)});
  if (options.method == Method::elk || options.method == Method::quasi_elk) {
    a.push_back({"sigma2", options.sigma2 ? *options.sigma2 : default_sigma2(options.method)});
    a.push_back({"kalman_smoother", I(options.kalman_smoother)});
  }
  return a;
}

template <class Scalar>
void write_output(const std::string& path, MPI_Comm comm, const Partition& part,
                  const SequenceView<Scalar>& states, const SolveResult& result,
                  const Attributes& attributes) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  // one temporary name for all ranks, unique to this job
  long long tag = rank == 0 ? static_cast<long long>(::getpid()) : 0;
  MPI_Bcast(&tag, 1, MPI_LONG_LONG, 0, comm);
  const std::string tmp = path + ".tmp" + std::to_string(tag);
  try {
    impl::collective_check(comm, [&] {});  // everyone arrives before the collective create
    auto file = hdf5::File::create(tmp, comm);
    const std::size_t D = states.extent(2);
    file.create_dataset<Scalar>("states", {std::size_t(part.batch), std::size_t(part.length), D});
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), states);
    file.write_slab<Scalar>(
        "states", {std::size_t(part.batch_begin), std::size_t(part.time_begin), 0},
        {std::size_t(part.local_batch()), std::size_t(part.local_length()), D}, h.data());
    const std::size_t n = result.history.size();
    std::vector<std::int64_t> it(n);
    std::vector<double> upd(n), res(n);
    for (std::size_t i = 0; i < n; ++i) {
      it[i] = result.history[i].iteration;
      upd[i] = result.history[i].max_update;
      res[i] = result.history[i].max_residual;
    }
    file.write<std::int64_t>("history/iteration", {n}, it);
    file.write<double>("history/max_update", {n}, upd);
    file.write<double>("history/max_residual", {n}, res);
    if (result.method == Method::block_jacobi) {
      std::vector<std::int64_t> work(n), span(n);
      for (std::size_t i = 0; i < n; ++i) {
        work[i] = result.history[i].steps_recomputed;
        span[i] = result.history[i].longest_recomputation;
      }
      file.write<std::int64_t>("history/steps_recomputed", {n}, work);
      file.write<std::int64_t>("history/longest_recomputation", {n}, span);
    }
    for (const auto& [name, value] : attributes)
      std::visit([&, &name = name](const auto& v) { file.write_attribute(name, v); }, value);
    file.close();
  } catch (...) {
    if (rank == 0) std::remove(tmp.c_str());
    throw;
  }
  MPI_Barrier(comm);
  int ok = 1;
  if (rank == 0) ok = std::rename(tmp.c_str(), path.c_str()) == 0 ? 1 : 0;
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  if (!ok) {
    if (rank == 0) std::remove(tmp.c_str());
    throw hdf5::Error("kelk: cannot rename '" + tmp + "' to '" + path + "'");
  }
}

template <class Scalar>
SequenceView<Scalar> read_states_block(const std::string& path, MPI_Comm comm,
                                       const Partition& part) {
  const auto file = hdf5::File::open_read(path, comm);
  const auto shape = file.shape("states");
  if (shape.size() != 3 || shape[0] != std::size_t(part.batch) ||
      shape[1] != std::size_t(part.length))
    throw hdf5::Error("kelk: 'states' in '" + path + "' has shape " + hdf5::format_shape(shape) +
                      "; expected (" + std::to_string(part.batch) + ", " +
                      std::to_string(part.length) + ", D)");
  const auto values = file.read_slab<Scalar>(
      "states", {std::size_t(part.batch_begin), std::size_t(part.time_begin), 0},
      {std::size_t(part.local_batch()), std::size_t(part.local_length()), shape[2]});
  SequenceView<Scalar> out("kelk::io::states", part.local_batch(), part.local_length(), shape[2]);
  auto h = Kokkos::create_mirror_view(out);
  std::copy(values.begin(), values.end(), h.data());
  Kokkos::deep_copy(out, h);
  return out;
}

void check_writable(const std::string& path, MPI_Comm comm) {
  impl::collective_check(comm, [&] {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank != 0) return;
    const std::string probe = path + ".probe" + std::to_string(::getpid());
    std::ofstream f(probe);
    const bool ok = static_cast<bool>(f);
    f.close();
    std::remove(probe.c_str());
    if (!ok)
      throw std::invalid_argument("kelk: cannot write the output file '" + path +
                                  "' (its folder is missing or not writable)");
  });
}

#define KELK_IO_INSTANTIATE(S)                                                                  \
  template Elman<S> read_elman<S>(const hdf5::File&);                                           \
  template Gru<S> read_gru<S>(const hdf5::File&);                                               \
  template Lorenz96<S> read_lorenz96<S>(const hdf5::File&);                                     \
  template ArGru<S> read_argru<S>(const hdf5::File&);                                           \
  template InputBlock<S> read_input_block<S>(const hdf5::File&, const Partition&);              \
  template void write_output<S>(const std::string&, MPI_Comm, const Partition&,                 \
                                const SequenceView<S>&, const SolveResult&, const Attributes&); \
  template SequenceView<S> read_states_block<S>(const std::string&, MPI_Comm, const Partition&);
KELK_IO_INSTANTIATE(float)
KELK_IO_INSTANTIATE(double)
#undef KELK_IO_INSTANTIATE

}  // namespace io

template <class Scalar>
ArGru<Scalar> load_argru(const std::string& path) {
  return io::read_argru<Scalar>(hdf5::File::open_read(path));
}
template ArGru<float> load_argru<float>(const std::string&);
template ArGru<double> load_argru<double>(const std::string&);

}  // namespace kelk
