// kelk's HDF5 file schema (docs/FILES.md): model, input and output files.
#include <kelk/kelk_activity.hpp>
#include <kelk/kelk_io.hpp>
#include <kelk/kelk_solve.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <limits>
#include <utility>
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

/// Throws if a dimension read from a file does not fit kelk's int dimensions.
void check_dimension(const hdf5::File& file, const std::string& name, std::uint64_t n) {
  constexpr std::uint64_t limit = std::numeric_limits<int>::max();
  if (n > limit)
    throw hdf5::Error("kelk: '" + file.path() + "' has " + name + " = " + std::to_string(n) +
                      ", beyond kelk's limit " + std::to_string(limit) + " (2^31 - 1)");
}

/// For an fp32 run: throws naming the entry if a value read as float is Inf or NaN although the
/// file holds a finite double there (beyond float's range).
void check_range(const hdf5::File& file, const std::string& name, const std::vector<float>& values,
                 const hdf5::Shape& offset, const hdf5::Shape& count) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) continue;
    hdf5::Shape at(count.size()), one(count.size(), 1);
    for (std::size_t k = count.size(), rest = i; k-- > 0; rest /= count[k])
      at[k] = offset[k] + rest % count[k];
    // this rank alone opens the file again (a read of the shared handle would be collective)
    const double v = hdf5::File::open_read(file.path()).read_slab<double>(name, at, one)[0];
    if (!std::isfinite(v)) return;  // a real NaN or Inf: the solver's check names it
    throw hdf5::Error("kelk: dataset '" + name + "' in '" + file.path() + "' holds " +
                      impl::number(v) + " at " + hdf5::format_shape(at) +
                      ", beyond fp32's range (|x| <= 3.4e38); run in fp64 or rescale the data");
  }
}

/// D and Din of a model from the shape of one of its (D, Din)-shaped datasets.
std::pair<std::size_t, std::size_t> dims_of(const hdf5::File& file, const std::string& name) {
  const auto shape = file.shape(name);
  if (shape.size() != 2 || shape[0] == 0)
    throw hdf5::Error("kelk: model dataset '" + name + "' in '" + file.path() + "' has shape " +
                      hdf5::format_shape(shape) + "; expected (D, Din)");
  check_dimension(file, "D", shape[0]);
  check_dimension(file, "Din", shape[1]);
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
    case ModelKind::lstm:
      return "lstm";
    default:
      return "argru";
  }
}

ModelKind model_kind(const hdf5::File& file) {
  if (file.has_attribute("kelk_model")) {
    const auto kind = file.read_attribute<std::string>("kelk_model");
    for (auto k : {ModelKind::elman, ModelKind::gru, ModelKind::lstm, ModelKind::lorenz96,
                   ModelKind::argru})
      if (kind == to_string(k)) return k;
    throw hdf5::Error("kelk: model file '" + file.path() + "' names an unknown step map '" + kind +
                      "' (known: elman, gru, lstm, lorenz96, argru)");
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
Lstm<Scalar> read_lstm(const hdf5::File& file) {
  const auto [H, Din] = dims_of(file, "W_ii");
  Lstm<Scalar> m;
  m.W_ii = matrix<Scalar>(file, "W_ii", H, Din, "kelk::Lstm::W_ii");
  m.W_if = matrix<Scalar>(file, "W_if", H, Din, "kelk::Lstm::W_if");
  m.W_ig = matrix<Scalar>(file, "W_ig", H, Din, "kelk::Lstm::W_ig");
  m.W_io = matrix<Scalar>(file, "W_io", H, Din, "kelk::Lstm::W_io");
  m.W_hi = matrix<Scalar>(file, "W_hi", H, H, "kelk::Lstm::W_hi");
  m.W_hf = matrix<Scalar>(file, "W_hf", H, H, "kelk::Lstm::W_hf");
  m.W_hg = matrix<Scalar>(file, "W_hg", H, H, "kelk::Lstm::W_hg");
  m.W_ho = matrix<Scalar>(file, "W_ho", H, H, "kelk::Lstm::W_ho");
  m.b_i = vector<Scalar>(file, "b_i", H, "kelk::Lstm::b_i");
  m.b_f = vector<Scalar>(file, "b_f", H, "kelk::Lstm::b_f");
  m.b_g = vector<Scalar>(file, "b_g", H, "kelk::Lstm::b_g");
  m.b_o = vector<Scalar>(file, "b_o", H, "kelk::Lstm::b_o");
  return m;
}

template <class Scalar>
Lorenz96<Scalar> read_lorenz96(const hdf5::File& file) {
  const auto D = file.read_attribute<std::int64_t>("D");
  if (D < 4)
    throw hdf5::Error("kelk: Lorenz-96 model '" + file.path() + "' has D = " + std::to_string(D) +
                      "; need D >= 4");
  check_dimension(file, "D", std::uint64_t(D));
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
  check_dimension(file, "P", P);
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

void write_model(const std::string& path, const Lstm<double>& map) {
  auto file = hdf5::File::create(path);
  const std::size_t H = map.hidden_dim(), Din = map.input_dim();
  file.write_attribute<std::string>("kelk_model", "lstm");
  write_matrix(file, "W_ii", to_host(map.W_ii), H, Din);
  write_matrix(file, "W_if", to_host(map.W_if), H, Din);
  write_matrix(file, "W_ig", to_host(map.W_ig), H, Din);
  write_matrix(file, "W_io", to_host(map.W_io), H, Din);
  write_matrix(file, "W_hi", to_host(map.W_hi), H, H);
  write_matrix(file, "W_hf", to_host(map.W_hf), H, H);
  write_matrix(file, "W_hg", to_host(map.W_hg), H, H);
  write_matrix(file, "W_ho", to_host(map.W_ho), H, H);
  file.write<double>("b_i", {H}, to_host(map.b_i));
  file.write<double>("b_f", {H}, to_host(map.b_f));
  file.write<double>("b_g", {H}, to_host(map.b_g));
  file.write<double>("b_o", {H}, to_host(map.b_o));
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
  const std::pair<const char*, std::size_t> dims[] = {
      {"B", s0[0]}, {"T", in[1]}, {"D", s0[1]}, {"Din", in[2]}};
  for (const auto& [name, n] : dims) check_dimension(file, name, n);
  return {int(s0[0]), int(in[1]), int(s0[1]), int(in[2])};
}

template <class Scalar>
InputBlock<Scalar> read_input_block(const hdf5::File& file, const Partition& part) {
  const auto shape = read_input_shape(file);
  const std::size_t b0 = part.batch_begin, nb = part.local_batch();
  const std::size_t t0 = part.time_begin, nt = part.local_length();
  const auto s0 = file.read_slab<Scalar>("s0", {b0, 0}, {nb, std::size_t(shape.D)});
  const auto in = file.read_slab<Scalar>("inputs", {b0, t0, 0}, {nb, nt, std::size_t(shape.Din)});
  if constexpr (std::is_same<Scalar, float>::value) {
    // a finite double beyond float's range reads as Inf: name it as what it is
    check_range(file, "s0", s0, {b0, 0}, {nb, std::size_t(shape.D)});
    check_range(file, "inputs", in, {b0, t0, 0}, {nb, nt, std::size_t(shape.Din)});
  }
  InputBlock<Scalar> block;
  try {
    block = {BatchView<Scalar>("kelk::io::s0", nb, shape.D),
             SequenceView<Scalar>("kelk::io::inputs", nb, nt, shape.Din)};
  } catch (const std::bad_alloc& e) {
    throw hdf5::Error("kelk: cannot allocate this rank's " +
                      std::to_string(nb * nt * std::size_t(shape.Din) * sizeof(Scalar)) +
                      " bytes for dataset 'inputs' of '" + file.path() + "' (out of memory): " +
                      e.what());
  }
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
  if (options.method == Method::quasi_deer || options.method == Method::quasi_elk) {
    a.push_back({"jacobian_structure", to_string(options.jacobian_structure)});
    if (options.jacobian_structure == JacobianStructure::block)
      a.push_back({"block_size", I(options.block_size)});
  }
  if (options.method == Method::elk || options.method == Method::quasi_elk) {
    a.push_back({"sigma2", options.sigma2 ? *options.sigma2 : default_sigma2(options.method)});
    a.push_back({"kalman_smoother", I(options.kalman_smoother)});
    a.push_back({"sigma2_auto", I(options.sigma2_auto)});
  }
  return a;
}

namespace {

// The temporary file being written, removed if SIGINT, SIGTERM or SIGHUP arrives meanwhile,
// and by kelk::activity's fatal-signal handler where an app installed it (SIGKILL cannot be
// caught: a `<output>.tmp.<random>` file is then left behind).
constexpr int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction previous_actions[3];

extern "C" void remove_pending_file(int sig) {
  activity::remove_pending_file();  // async-signal-safe
  for (int i = 0; i < 3; ++i)
    if (cleanup_signals[i] == sig) ::sigaction(sig, &previous_actions[i], nullptr);
  ::raise(sig);  // what the signal did before: usually ends the process
}

/// Registers `tmp` (written for `path`) for removal on those signals while it lives; the
/// activity while it lives is "writing 'path'".
class PendingFile {
 public:
  PendingFile(const std::string& tmp, const std::string& path) : writing_("writing", path) {
    if (!activity::set_pending_file(tmp)) return;  // too long to register: not cleaned up
    struct sigaction action {};
    action.sa_handler = remove_pending_file;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < 3; ++i) ::sigaction(cleanup_signals[i], &action, &previous_actions[i]);
    armed_ = true;
  }
  ~PendingFile() {
    if (!armed_) return;
    activity::clear_pending_file();
    for (int i = 0; i < 3; ++i) ::sigaction(cleanup_signals[i], &previous_actions[i], nullptr);
  }
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

 private:
  activity::Scope writing_;
  bool armed_ = false;
};

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1);
}

/// Free bytes of the file system holding `path`'s folder, or -1 if unknown.
long double free_bytes(const std::string& path) {
  struct statvfs fs {};
  if (::statvfs(folder_of(path).c_str(), &fs) != 0) return -1;
  return static_cast<long double>(fs.f_bavail) * fs.f_frsize;
}

/// Bytes reserved beyond the datasets' own: HDF5's metadata, the history and the attributes.
constexpr std::uint64_t reserve_margin = 1 << 20;

/// Allocates `length` bytes of the new file `tmp` (written for `path`) on disk.
void reserve(const std::string& tmp, const std::string& path, std::uint64_t length) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_NOFOLLOW);
  const int status =
      fd < 0 ? errno : ::fallocate(fd, 0, 0, static_cast<off_t>(length)) == 0 ? 0 : errno;
  if (fd >= 0) ::close(fd);
  if (status != 0 && status != EOPNOTSUPP && status != ENOSYS)
    throw std::runtime_error("kelk: cannot reserve " + std::to_string(length) + " bytes for '" +
                             path + "': " + std::strerror(status));
}

/// 16 random hex digits: temporary names nobody can predict.
std::string random_suffix() {
  std::random_device device;
  const std::uint64_t r = (std::uint64_t(device()) << 32) ^ device();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(r));
  return text;
}

void broadcast_string(MPI_Comm comm, std::string& text) {
  int n = static_cast<int>(text.size());
  MPI_Bcast(&n, 1, MPI_INT, 0, comm);
  text.resize(std::size_t(n));
  MPI_Bcast(&text[0], n, MPI_CHAR, 0, comm);
}

}  // namespace

void write_atomically(const std::string& path, MPI_Comm comm, std::uint64_t bytes,
                      const std::function<void(hdf5::File&)>& write) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::string tmp;
  if (rank == 0) tmp = path + ".tmp." + random_suffix();
  broadcast_string(comm, tmp);
  impl::collective_check(comm, [&] {
    if (rank != 0) return;
    const long double room = free_bytes(path);
    if (room >= 0 && room < static_cast<long double>(bytes))
      throw std::runtime_error("kelk: No space left on device for '" + path + "': it needs at " +
                               "least " + std::to_string(bytes) + " bytes, the file system of '" +
                               folder_of(path) + "' has " +
                               std::to_string(static_cast<unsigned long long>(room)) + " free");
  });
  PendingFile cleanup(tmp, path);
  std::optional<hdf5::File> file;
  struct stat created {};
  impl::collective_check(comm, [&] {
    file.emplace(hdf5::File::create_new(tmp, comm));
    if (rank == 0 && ::lstat(tmp.c_str(), &created) != 0)
      throw std::runtime_error("kelk: the new file '" + tmp + "' vanished");
  });
  // Reserve the file's blocks before HDF5 writes any: a write that runs out of space inside
  // HDF5's collective calls leaves the ranks waiting for each other there (seen in H5Fclose at
  // 2 and 3 ranks), beyond the reach of any error protocol. File systems without fallocate
  // (EOPNOTSUPP) rely on the free-space check above.
  try {
    impl::collective_check(comm, [&] {
      if (rank != 0) return;
      reserve(tmp, path, bytes + reserve_margin);
    });
  } catch (const impl::CollectiveError&) {
    file.reset();  // every rank: a collective close of the still empty file
    if (rank == 0) ::unlink(tmp.c_str());
    throw;
  }
  try {
    write(*file);
    file->close();
  } catch (const std::exception& e) {
    // An HDF5 call failed on this rank; the others may be waiting inside a collective one.
    const long double room = free_bytes(path);
    const std::string full =
        room >= 0 && room < 1024.0L * 1024.0L
            ? " (No space left on device: " +
                  std::to_string(static_cast<unsigned long long>(room)) + " bytes free in '" +
                  folder_of(path) + "')"
            : "";
    ::unlink(tmp.c_str());
    impl::abort_all(comm, "writing '" + path + "' failed: " + e.what() + full +
                              "; the partial file was removed and '" + path + "' is unchanged");
  }
  // Rename only the file this run created, if nobody has replaced it meanwhile.
  impl::collective_check(comm, [&] {
    if (rank != 0) return;
    struct stat now {};
    if (::lstat(tmp.c_str(), &now) != 0 || !S_ISREG(now.st_mode) || now.st_dev != created.st_dev ||
        now.st_ino != created.st_ino)
      throw std::runtime_error("kelk: the temporary file '" + tmp +
                               "' was replaced while it was written; '" + path +
                               "' is left as it was");
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      throw std::runtime_error("kelk: cannot rename '" + tmp + "' to '" + path +
                               "': " + std::strerror(err));
    }
  });
}

template <class Scalar>
void write_output(const std::string& path, MPI_Comm comm, const Partition& part,
                  const SequenceView<Scalar>& states, const SolveResult& result,
                  const Attributes& attributes, const std::function<void(hdf5::File&)>& extra,
                  std::uint64_t extra_bytes) {
  const std::size_t D = states.extent(2);
  const std::uint64_t bytes =
      std::uint64_t(part.batch) * std::uint64_t(part.length) * D * sizeof(Scalar) + extra_bytes;
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), states);
  write_atomically(path, comm, bytes, [&](hdf5::File& file) {
    file.create_dataset<Scalar>("states", {std::size_t(part.batch), std::size_t(part.length), D});
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
    if (result.method == Method::elk || result.method == Method::quasi_elk) {
      std::vector<double> sigma2(n);
      std::vector<std::int64_t> accepted(n);
      for (std::size_t i = 0; i < n; ++i) {
        sigma2[i] = result.history[i].sigma2;
        accepted[i] = result.history[i].accepted;
      }
      file.write<double>("history/sigma2", {n}, sigma2);
      file.write<std::int64_t>("history/accepted", {n}, accepted);
    }
    for (const auto& [name, value] : attributes)
      std::visit([&, &name = name](const auto& v) { file.write_attribute(name, v); }, value);
    if (extra) extra(file);
  });
}

template <class Scalar>
SequenceView<Scalar> read_sequence_block(const std::string& path, MPI_Comm comm,
                                         const Partition& part, const std::string& dataset,
                                         int width) {
  const auto file = hdf5::File::open_read(path, comm);
  if (!file.exists(dataset))
    throw hdf5::Error("kelk: '" + path + "' has no dataset '" + dataset + "'");
  const auto shape = file.shape(dataset);
  if (shape.size() != 3 || shape[0] != std::size_t(part.batch) ||
      shape[1] != std::size_t(part.length) || (width >= 0 && shape[2] != std::size_t(width)))
    throw hdf5::Error("kelk: '" + dataset + "' in '" + path + "' has shape " +
                      hdf5::format_shape(shape) + "; expected (" + std::to_string(part.batch) +
                      ", " + std::to_string(part.length) + ", " +
                      (width >= 0 ? std::to_string(width) : std::string("D")) + ")");
  const auto values = file.read_slab<Scalar>(
      dataset, {std::size_t(part.batch_begin), std::size_t(part.time_begin), 0},
      {std::size_t(part.local_batch()), std::size_t(part.local_length()), shape[2]});
  SequenceView<Scalar> out("kelk::io::" + dataset, part.local_batch(), part.local_length(),
                           shape[2]);
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
    // mkstemp: an unpredictable name, created exclusively (a planted link is not followed)
    std::string probe = path + ".probe.XXXXXX";
    const int fd = ::mkstemp(&probe[0]);
    if (fd < 0)
      throw std::invalid_argument("kelk: cannot write the output file '" + path +
                                  "' (its folder is missing or not writable: " +
                                  std::strerror(errno) + ")");
    ::close(fd);
    ::unlink(probe.c_str());
  });
}

#define KELK_IO_INSTANTIATE(S)                                                                  \
  template Elman<S> read_elman<S>(const hdf5::File&);                                           \
  template Gru<S> read_gru<S>(const hdf5::File&);                                               \
  template Lstm<S> read_lstm<S>(const hdf5::File&);                                             \
  template Lorenz96<S> read_lorenz96<S>(const hdf5::File&);                                     \
  template ArGru<S> read_argru<S>(const hdf5::File&);                                           \
  template InputBlock<S> read_input_block<S>(const hdf5::File&, const Partition&);              \
  template void write_output<S>(const std::string&, MPI_Comm, const Partition&,                 \
                                const SequenceView<S>&, const SolveResult&, const Attributes&,  \
                                const std::function<void(hdf5::File&)>&, std::uint64_t);        \
  template SequenceView<S> read_sequence_block<S>(const std::string&, MPI_Comm, const Partition&, \
                                                  const std::string&, int);
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
