// HDF5 access for kelk's data files: a small RAII wrapper over the HDF5 C library that turns
// every failure into a kelk::hdf5::Error naming the file and the object. Files opened with an
// MPI communicator use MPI-IO: their slab reads and writes are collective, each rank moving
// only its own part. Available when kelk is built with KELK_ENABLE_HDF5 (KELK_HAVE_HDF5).
#pragma once

#include <kelk/kelk_config.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef KELK_HAVE_MPI
#include <mpi.h>
#endif

namespace kelk::hdf5 {

/// Any failure to open, find, read, write or convert something in an HDF5 file.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Element type classes kelk distinguishes when it checks a dataset before reading it.
enum class TypeClass { floating, integer, string, other };

using Shape = std::vector<std::size_t>;

/// An open HDF5 file. Movable, not copyable; closes the file when destroyed (collectively for a
/// file opened with a communicator).
class File {
 public:
  /// Opens an existing file read-only.
  static File open_read(const std::string& path);
  /// Creates (truncates) a file for writing.
  static File create(const std::string& path);
#ifdef KELK_HAVE_MPI
  /// Opens an existing file read-only on every rank of `comm` with MPI-IO. Collective.
  static File open_read(const std::string& path, MPI_Comm comm);
  /// Creates a new file on every rank of `comm` with MPI-IO; fails if `path` exists, as a file
  /// or as a link (nothing is followed or truncated). Collective.
  static File create_new(const std::string& path, MPI_Comm comm);
#endif

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  const std::string& path() const {
    return path_;
  }
  /// Closes the file now (collective for a parallel file); throws if HDF5 reports a failure.
  void close();

  /// True if `name` (e.g. "float64/gru/bias") exists, every group on the way included.
  bool exists(const std::string& name) const;
  /// Shape of a dataset (empty for a scalar dataset).
  Shape shape(const std::string& dataset) const;
  /// Type class of a dataset's elements.
  TypeClass type_class(const std::string& dataset) const;

  /// The whole dataset, converted to T (float, double or std::int64_t); throws if the dataset
  /// is missing, its elements are not of T's class (floating point or integer), or its shape
  /// differs from `expected_shape` when that is given.
  template <class T>
  std::vector<T> read(const std::string& dataset, const Shape& expected_shape = {}) const;
  /// The hyperslab [offset, offset + count) of a dataset, row-major. Collective on a parallel
  /// file (every rank calls it, each with its own slab, possibly empty). A dataset whose
  /// checksum does not match its data is an Error saying it is damaged.
  template <class T>
  std::vector<T> read_slab(const std::string& dataset, const Shape& offset,
                           const Shape& count) const;

  /// Creates a dataset of T elements (float, double, std::int64_t). Collective on a parallel
  /// file. Groups on the way are created. With `checksum` (the default) a non-empty array is
  /// stored in chunks of at most 1 MiB, each with HDF5's fletcher32 checksum, which every
  /// read (kelk's, h5py's, h5dump's) verifies: a damaged dataset then fails to read.
  template <class T>
  void create_dataset(const std::string& dataset, const Shape& shape, bool checksum = true);
  /// True if a dataset carries fletcher32 checksums.
  bool has_checksum(const std::string& dataset) const;
  /// Writes the hyperslab [offset, offset + count) of an existing dataset from row-major data.
  /// Collective on a parallel file.
  template <class T>
  void write_slab(const std::string& dataset, const Shape& offset, const Shape& count,
                  const T* data);
  /// Creates and writes a whole (small) dataset. Collective on a parallel file: every rank
  /// passes the same data, which one rank writes.
  template <class T>
  void write(const std::string& dataset, const Shape& shape, const std::vector<T>& data);

  /// Scalar attributes (double, std::int64_t or std::string) of the root group or of `on`.
  template <class T>
  T read_attribute(const std::string& name, const std::string& on = "/") const;
  bool has_attribute(const std::string& name, const std::string& on = "/") const;
  /// Writes (replaces) a scalar attribute; collective on a parallel file (same value on every
  /// rank).
  template <class T>
  void write_attribute(const std::string& name, const T& value, const std::string& on = "/");

 private:
  File(std::int64_t id, std::string path, bool parallel, int rank)
      : id_(id), path_(std::move(path)), parallel_(parallel), rank_(rank) {}
  void ensure_groups(const std::string& dataset);
  std::int64_t id_ = -1;  // hid_t
  std::string path_;
  bool parallel_ = false;
  int rank_ = 0;
};

/// Formats a shape as "(a, b, c)" for messages.
std::string format_shape(const Shape& shape);

}  // namespace kelk::hdf5
