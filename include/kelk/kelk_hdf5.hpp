// HDF5 access for kelk's data files: a small RAII wrapper over the HDF5 C library that turns
// every failure into a kelk::hdf5::Error naming the file and the object. Available when kelk is
// built with KELK_ENABLE_HDF5 (KELK_HAVE_HDF5 is then defined in kelk_config.hpp).
#pragma once

#include <kelk/kelk_config.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace kelk::hdf5 {

/// Any failure to open, find, read or convert something in an HDF5 file.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Element type classes kelk distinguishes when it checks a dataset before reading it.
enum class TypeClass { floating, integer, string, other };

/// An open HDF5 file. Movable, not copyable; closes the file when destroyed.
class File {
 public:
  /// Opens an existing file read-only.
  static File open_read(const std::string& path);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  const std::string& path() const { return path_; }

  /// True if `name` (e.g. "float64/gru/bias") exists, every group on the way included.
  bool exists(const std::string& name) const;
  /// Shape of a dataset (empty for a scalar dataset).
  std::vector<std::size_t> shape(const std::string& dataset) const;
  /// Type class of a dataset's elements.
  TypeClass type_class(const std::string& dataset) const;

  /// The whole dataset, converted to T (float, double or std::int64_t); throws if the dataset
  /// is missing, its elements are not of T's class (floating point or integer), or its shape
  /// differs from `expected_shape` when that is given.
  template <class T>
  std::vector<T> read(const std::string& dataset,
                      const std::vector<std::size_t>& expected_shape = {}) const;

  /// A scalar attribute of the file's root group (or of the object `on`).
  template <class T>
  T read_attribute(const std::string& name, const std::string& on = "/") const;
  bool has_attribute(const std::string& name, const std::string& on = "/") const;

 private:
  File(std::int64_t id, std::string path) : id_(id), path_(std::move(path)) {}
  std::int64_t id_ = -1;  // hid_t
  std::string path_;
};

/// Formats a shape as "(a, b, c)" for messages.
std::string format_shape(const std::vector<std::size_t>& shape);

}  // namespace kelk::hdf5
