// kelk's HDF5 file schema: model files (a step map's kind and weights), input files (initial
// states and inputs) and output files (states, history, run attributes), read and written in
// parallel by time/batch slabs. See docs/FILES.md. Needs KELK_HAVE_HDF5 and KELK_HAVE_MPI.
#pragma once

#include <kelk/kelk_argru.hpp>
#include <kelk/kelk_config.hpp>
#if !defined(KELK_HAVE_MPI) || !defined(KELK_HAVE_HDF5)
#error \
    "kelk/kelk_io.hpp needs kelk built with MPI and HDF5 (KELK_ENABLE_MPI=ON, KELK_ENABLE_HDF5=ON)"
#endif
#include <kelk/kelk_distributed.hpp>
#include <kelk/kelk_hdf5.hpp>
#include <kelk/kelk_maps.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_views.hpp>

#include <mpi.h>
#include <Kokkos_Core.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kelk::io {

/// The step maps a model file can hold (root attribute "kelk_model").
enum class ModelKind { elman, gru, lorenz96, argru, lstm };
std::string to_string(ModelKind kind);

/// The kind of the model in `file`: its "kelk_model" attribute, or argru for the ELK paper's
/// weights file (recognised by its float64/gru/weight_hh dataset). Throws hdf5::Error naming
/// the file otherwise.
ModelKind model_kind(const hdf5::File& file);

template <class Scalar>
Elman<Scalar> read_elman(const hdf5::File& file);
template <class Scalar>
Gru<Scalar> read_gru(const hdf5::File& file);
template <class Scalar>
Lstm<Scalar> read_lstm(const hdf5::File& file);
template <class Scalar>
Lorenz96<Scalar> read_lorenz96(const hdf5::File& file);
template <class Scalar>
ArGru<Scalar> read_argru(const hdf5::File& file);

/// Loads the model of `path` in precision Scalar and returns f(map).
template <class Scalar, class F>
decltype(auto) with_model(const std::string& path, F&& f) {
  const auto file = hdf5::File::open_read(path);
  switch (model_kind(file)) {
    case ModelKind::elman:
      return f(read_elman<Scalar>(file));
    case ModelKind::gru:
      return f(read_gru<Scalar>(file));
    case ModelKind::lstm:
      return f(read_lstm<Scalar>(file));
    case ModelKind::lorenz96:
      return f(read_lorenz96<Scalar>(file));
    default:
      return f(read_argru<Scalar>(file));
  }
}

/// Writes a model file (float64 weights). Serial.
void write_model(const std::string& path, const Elman<double>& map);
void write_model(const std::string& path, const Gru<double>& map);
void write_model(const std::string& path, const Lstm<double>& map);
void write_model(const std::string& path, const Lorenz96<double>& map);

/// Shape of an input file: s0 (B, D) and inputs (B, T, Din).
struct InputShape {
  int B = 0, T = 0, D = 0, Din = 0;
};
/// Reads and checks the shapes and element types of an input file's datasets.
InputShape read_input_shape(const hdf5::File& file);

template <class Scalar>
struct InputBlock {
  BatchView<Scalar> s0;         ///< (local B, D)
  SequenceView<Scalar> inputs;  ///< (local B, local T, Din)
};
/// This rank's slab of an input file opened with the partition's communicator. Collective.
template <class Scalar>
InputBlock<Scalar> read_input_block(const hdf5::File& file, const Partition& part);

/// Writes an input file from row-major host data. Serial.
void write_inputs(const std::string& path, const InputShape& shape, const std::vector<double>& s0,
                  const std::vector<double>& inputs);

/// A scalar attribute of an output file.
using AttributeValue = std::variant<double, std::int64_t, std::string>;
using Attributes = std::vector<std::pair<std::string, AttributeValue>>;

/// The attributes describing a solve: method, options, iterations, convergence, reason,
/// final update and residual, and the library version.
Attributes describe(const SolveOptions& options, const SolveResult& result);

/// Writes a file collectively and atomically: `write` fills a new HDF5 file created under an
/// unpredictable temporary name in the same folder (exclusively: no link is followed), which is
/// renamed to `path` when complete, so that `path` holds either the previous file or a complete
/// new one. Checked first on rank 0: room for at least `bytes`. The temporary file is removed
/// if the write fails and on SIGINT, SIGTERM and SIGHUP meanwhile. A write that fails on some
/// ranks inside collective HDF5 calls ends every rank (impl::abort_all), as the others cannot
/// be told; all other failures throw on every rank.
void write_atomically(const std::string& path, MPI_Comm comm, std::uint64_t bytes,
                      const std::function<void(hdf5::File&)>& write);

/// Writes an output file with write_atomically: "states" (B, T, D) from every rank's block,
/// the per-iteration "history/{iteration,max_update,max_residual}", and `attributes` on the
/// root; then `extra` (if given) writes more into the same file, `extra_bytes` of it.
template <class Scalar>
void write_output(const std::string& path, MPI_Comm comm, const Partition& part,
                  const SequenceView<Scalar>& states, const SolveResult& result,
                  const Attributes& attributes,
                  const std::function<void(hdf5::File&)>& extra = nullptr,
                  std::uint64_t extra_bytes = 0);

/// This rank's block of the (B, T, n) dataset `dataset` of a file, n = `width` (or any, for
/// width < 0), with the partition's B and T. Collective. Throws hdf5::Error naming the file and
/// dataset when it is missing or mis-shaped.
template <class Scalar>
SequenceView<Scalar> read_sequence_block(const std::string& path, MPI_Comm comm,
                                         const Partition& part, const std::string& dataset,
                                         int width = -1);

/// This rank's block of the "states" dataset of an output file. Collective.
template <class Scalar>
SequenceView<Scalar> read_states_block(const std::string& path, MPI_Comm comm,
                                       const Partition& part) {
  return read_sequence_block<Scalar>(path, comm, part, "states");
}

/// Checks, collectively and before any work is done, that `path` can be written: its folder
/// exists and accepts files. Throws std::invalid_argument on every rank otherwise.
void check_writable(const std::string& path, MPI_Comm comm);

}  // namespace kelk::io
