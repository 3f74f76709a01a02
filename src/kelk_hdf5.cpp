// kelk::hdf5: the HDF5 C library behind kelk_hdf5.hpp, with errors that name file and object.
#include <kelk/kelk_hdf5.hpp>

#include <hdf5.h>

#include <type_traits>
#include <utility>

static_assert(std::is_same<hid_t, std::int64_t>::value,
              "kelk::hdf5 stores hid_t as std::int64_t (HDF5 >= 1.10)");

namespace kelk::hdf5 {

namespace {

/// Silences HDF5's own error printing while kelk checks and reports errors itself.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

/// Closes an HDF5 identifier with the matching close call when it goes out of scope.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

template <class T>
hid_t native_type() {
  if constexpr (std::is_same<T, double>::value) return H5T_NATIVE_DOUBLE;
  if constexpr (std::is_same<T, float>::value) return H5T_NATIVE_FLOAT;
  if constexpr (std::is_same<T, std::int64_t>::value) return H5T_NATIVE_INT64;
}

TypeClass classify(hid_t type) {
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      return TypeClass::floating;
    case H5T_INTEGER:
      return TypeClass::integer;
    case H5T_STRING:
      return TypeClass::string;
    default:
      return TypeClass::other;
  }
}

const char* name_of(TypeClass c) {
  switch (c) {
    case TypeClass::floating:
      return "floating point";
    case TypeClass::integer:
      return "integer";
    case TypeClass::string:
      return "string";
    default:
      return "a non-numeric type";
  }
}

template <class T>
TypeClass class_of() {
  return std::is_floating_point<T>::value ? TypeClass::floating : TypeClass::integer;
}

std::vector<std::size_t> dataspace_shape(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return std::vector<std::size_t>(dims.begin(), dims.end());
}

}  // namespace

std::string format_shape(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

File File::open_read(const std::string& path) {
  QuietErrors quiet;
  const hid_t id =
      H5Fis_hdf5(path.c_str()) > 0 ? H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
  if (id < 0)
    throw Error("kelk: cannot open '" + path +
                "' as an HDF5 file (missing, unreadable, or not HDF5)");
  return File(id, path);
}

File::File(File&& other) noexcept : id_(other.id_), path_(std::move(other.path_)) {
  other.id_ = -1;
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (id_ >= 0) H5Fclose(id_);
    id_ = other.id_;
    path_ = std::move(other.path_);
    other.id_ = -1;
  }
  return *this;
}

File::~File() {
  if (id_ >= 0) H5Fclose(id_);
}

bool File::exists(const std::string& name) const {
  QuietErrors quiet;
  // H5Lexists fails (rather than answering no) when an intermediate group is missing, so walk
  // the path one component at a time.
  std::string prefix;
  std::size_t pos = 0;
  while (pos <= name.size()) {
    const std::size_t next = name.find('/', pos);
    const std::string part = name.substr(pos, next == std::string::npos ? next : next - pos);
    if (!part.empty()) {
      prefix += (prefix.empty() ? "" : "/") + part;
      if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return true;
}

std::vector<std::size_t> File::shape(const std::string& dataset) const {
  if (!exists(dataset)) throw Error("kelk: '" + path_ + "' has no dataset '" + dataset + "'");
  QuietErrors quiet;
  const Handle ds(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw Error("kelk: '" + dataset + "' in '" + path_ + "' is not a dataset");
  const Handle space(H5Dget_space(ds.get()), H5Sclose);
  return dataspace_shape(space.get());
}

TypeClass File::type_class(const std::string& dataset) const {
  if (!exists(dataset)) throw Error("kelk: '" + path_ + "' has no dataset '" + dataset + "'");
  QuietErrors quiet;
  const Handle ds(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw Error("kelk: '" + dataset + "' in '" + path_ + "' is not a dataset");
  const Handle type(H5Dget_type(ds.get()), H5Tclose);
  return classify(type.get());
}

template <class T>
std::vector<T> File::read(const std::string& dataset,
                          const std::vector<std::size_t>& expected_shape) const {
  const std::vector<std::size_t> dims = shape(dataset);
  const TypeClass tc = type_class(dataset);
  if (tc != class_of<T>())
    throw Error("kelk: dataset '" + dataset + "' in '" + path_ + "' holds " + name_of(tc) +
                " values; expected " + name_of(class_of<T>()));
  if (!expected_shape.empty() && dims != expected_shape)
    throw Error("kelk: dataset '" + dataset + "' in '" + path_ + "' has shape " +
                format_shape(dims) + "; expected " + format_shape(expected_shape));
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<T> values(n);
  QuietErrors quiet;
  const Handle ds(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (n > 0 &&
      H5Dread(ds.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    throw Error("kelk: reading dataset '" + dataset + "' from '" + path_ + "' failed");
  return values;
}

bool File::has_attribute(const std::string& name, const std::string& on) const {
  QuietErrors quiet;
  return H5Aexists_by_name(id_, on.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

template <class T>
T File::read_attribute(const std::string& name, const std::string& on) const {
  if (!has_attribute(name, on))
    throw Error("kelk: '" + path_ + "' has no attribute '" + name + "' on '" + on + "'");
  QuietErrors quiet;
  const Handle attr(H5Aopen_by_name(id_, on.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                    H5Aclose);
  const Handle type(H5Aget_type(attr.get()), H5Tclose);
  const TypeClass tc = classify(type.get());
  const std::string where = "attribute '" + name + "' in '" + path_ + "'";
  if constexpr (std::is_same<T, std::string>::value) {
    if (tc != TypeClass::string) throw Error("kelk: " + where + " is not a string");
    if (H5Tis_variable_str(type.get()) > 0) {
      char* value = nullptr;
      const Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      if (H5Aread(attr.get(), mem.get(), &value) < 0)
        throw Error("kelk: reading " + where + " failed");
      std::string s = value ? value : "";
      H5free_memory(value);
      return s;
    }
    std::string s(H5Tget_size(type.get()), '\0');
    if (H5Aread(attr.get(), type.get(), &s[0]) < 0)
      throw Error("kelk: reading " + where + " failed");
    return s.substr(0, s.find('\0'));
  } else {
    if (tc != class_of<T>())
      throw Error("kelk: " + where + " holds " + name_of(tc) + "; expected " +
                  name_of(class_of<T>()));
    T value{};
    if (H5Aread(attr.get(), native_type<T>(), &value) < 0)
      throw Error("kelk: reading " + where + " failed");
    return value;
  }
}

template std::vector<float> File::read<float>(const std::string&,
                                              const std::vector<std::size_t>&) const;
template std::vector<double> File::read<double>(const std::string&,
                                                const std::vector<std::size_t>&) const;
template std::vector<std::int64_t> File::read<std::int64_t>(const std::string&,
                                                            const std::vector<std::size_t>&) const;
template double File::read_attribute<double>(const std::string&, const std::string&) const;
template std::int64_t File::read_attribute<std::int64_t>(const std::string&,
                                                         const std::string&) const;
template std::string File::read_attribute<std::string>(const std::string&,
                                                       const std::string&) const;

}  // namespace kelk::hdf5
