// kelk::hdf5: the HDF5 C library behind kelk_hdf5.hpp, with errors that name file and object,
// and MPI-IO with collective transfers for files opened with a communicator.
#include <kelk/kelk_activity.hpp>
#include <kelk/kelk_hdf5.hpp>

#include <hdf5.h>

#include <algorithm>
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

Shape dataspace_shape(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return Shape(dims.begin(), dims.end());
}

std::size_t volume(const Shape& s) {
  std::size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

/// The memory dataspace of a slab of `count` elements; an empty slab selects nothing.
hid_t memory_space(bool scalar, const std::vector<hsize_t>& count) {
  if (scalar) return H5Screate(H5S_SCALAR);
  std::size_t n = 1;
  for (auto c : count) n *= c;
  if (n > 0) return H5Screate_simple(int(count.size()), count.data(), nullptr);
  const hsize_t one = 1;
  const hid_t space = H5Screate_simple(1, &one, nullptr);
  H5Sselect_none(space);
  return space;
}

/// Chunk dimensions for a checksummed dataset (HDF5's filters, fletcher32 among them, need a
/// chunked layout): the whole dataset while it takes at most 1 MiB, otherwise its largest
/// dimension halved until a chunk does.
std::vector<hsize_t> chunk_dims(std::vector<hsize_t> dims, std::size_t element_bytes) {
  const auto bytes = [&] {
    std::size_t n = element_bytes;
    for (auto d : dims) n *= d;
    return n;
  };
  while (bytes() > (std::size_t(1) << 20)) {
    auto largest = std::max_element(dims.begin(), dims.end());
    if (*largest <= 1) break;
    *largest = (*largest + 1) / 2;
  }
  return dims;
}

/// True if HDF5's error stack holds a fletcher32 checksum failure.
bool checksum_failed() {
  bool found = false;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        const std::string what = e->desc ? e->desc : "";
        if (what.find("Fletcher32") != std::string::npos ||
            what.find("fletcher32") != std::string::npos)
          *static_cast<bool*>(data) = true;
        return 0;
      },
      &found);
  return found;
}

/// Transfer properties: collective MPI-IO for parallel files.
hid_t transfer_properties(bool parallel) {
  const hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
#ifdef H5_HAVE_PARALLEL
  if (parallel) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
#else
  (void)parallel;
#endif
  return dxpl;
}

}  // namespace

std::string format_shape(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

File File::open_read(const std::string& path) {
  const activity::Scope doing("reading", path);
  QuietErrors quiet;
  const hid_t id =
      H5Fis_hdf5(path.c_str()) > 0 ? H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
  if (id < 0)
    throw Error("kelk: cannot open '" + path +
                "' as an HDF5 file (missing, unreadable, or not HDF5)");
  return File(id, path, false, 0);
}

File File::create(const std::string& path) {
  const activity::Scope doing("writing", path);
  QuietErrors quiet;
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) throw Error("kelk: cannot create HDF5 file '" + path + "'");
  return File(id, path, false, 0);
}

#ifdef KELK_HAVE_MPI
File File::open_read(const std::string& path, MPI_Comm comm) {
  const activity::Scope doing("reading", path);
  QuietErrors quiet;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  // probe on every rank (cheap, independent) so that all ranks agree before the collective open
  int ok = H5Fis_hdf5(path.c_str()) > 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
  if (!ok)
    throw Error("kelk: cannot open '" + path +
                "' as an HDF5 file (missing, unreadable, or not HDF5)");
  const Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL);
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (id < 0) throw Error("kelk: cannot open HDF5 file '" + path + "' with MPI-IO");
  return File(id, path, true, rank);
}

File File::create_new(const std::string& path, MPI_Comm comm) {
  QuietErrors quiet;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL);
  // H5F_ACC_EXCL: MPI_MODE_EXCL, i.e. O_CREAT | O_EXCL, which follows no link
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get());
  if (id < 0) throw Error("kelk: cannot create HDF5 file '" + path + "' (it exists, or " +
                          "its folder is not writable)");
  return File(id, path, true, rank);
}
#endif

File::File(File&& other) noexcept
    : id_(other.id_),
      path_(std::move(other.path_)),
      parallel_(other.parallel_),
      rank_(other.rank_) {
  other.id_ = -1;
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (id_ >= 0) H5Fclose(id_);
    id_ = other.id_;
    path_ = std::move(other.path_);
    parallel_ = other.parallel_;
    rank_ = other.rank_;
    other.id_ = -1;
  }
  return *this;
}

File::~File() {
  if (id_ >= 0) H5Fclose(id_);
}

void File::close() {
  if (id_ < 0) return;
  const herr_t status = H5Fclose(id_);
  id_ = -1;
  if (status < 0) throw Error("kelk: closing HDF5 file '" + path_ + "' failed");
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

namespace {
/// Opens a dataset of an open file; throws naming the file and the dataset.
hid_t open_dataset(const File& file, hid_t id, const std::string& dataset) {
  if (!file.exists(dataset))
    throw Error("kelk: '" + file.path() + "' has no dataset '" + dataset + "'");
  QuietErrors quiet;
  const hid_t ds = H5Dopen2(id, dataset.c_str(), H5P_DEFAULT);
  if (ds < 0) throw Error("kelk: '" + dataset + "' in '" + file.path() + "' is not a dataset");
  return ds;
}
}  // namespace

Shape File::shape(const std::string& dataset) const {
  const Handle ds(open_dataset(*this, id_, dataset), H5Dclose);
  const Handle space(H5Dget_space(ds.get()), H5Sclose);
  return dataspace_shape(space.get());
}

TypeClass File::type_class(const std::string& dataset) const {
  const Handle ds(open_dataset(*this, id_, dataset), H5Dclose);
  const Handle type(H5Dget_type(ds.get()), H5Tclose);
  return classify(type.get());
}

template <class T>
std::vector<T> File::read(const std::string& dataset, const Shape& expected_shape) const {
  const activity::Scope doing("reading", path_);
  const Shape dims = shape(dataset);
  if (!expected_shape.empty() && dims != expected_shape)
    throw Error("kelk: dataset '" + dataset + "' in '" + path_ + "' has shape " +
                format_shape(dims) + "; expected " + format_shape(expected_shape));
  return read_slab<T>(dataset, Shape(dims.size(), 0), dims);
}

template <class T>
std::vector<T> File::read_slab(const std::string& dataset, const Shape& offset,
                               const Shape& count) const {
  const activity::Scope doing("reading", path_);
  const Handle ds(open_dataset(*this, id_, dataset), H5Dclose);
  const Handle file_space(H5Dget_space(ds.get()), H5Sclose);
  const Shape dims = dataspace_shape(file_space.get());
  {
    const Handle type(H5Dget_type(ds.get()), H5Tclose);
    const TypeClass tc = classify(type.get());
    if (tc != class_of<T>())
      throw Error("kelk: dataset '" + dataset + "' in '" + path_ + "' holds " + name_of(tc) +
                  " values; expected " + name_of(class_of<T>()));
  }
  if (offset.size() != dims.size() || count.size() != dims.size())
    throw Error("kelk: dataset '" + dataset + "' in '" + path_ + "' has rank " +
                std::to_string(dims.size()) + "; a slab of rank " + std::to_string(count.size()) +
                " was asked for");
  for (std::size_t i = 0; i < dims.size(); ++i)
    if (offset[i] + count[i] > dims[i])
      throw Error("kelk: dataset '" + dataset + "' in '" + path_ + "' has shape " +
                  format_shape(dims) + "; cannot read " + format_shape(count) + " at " +
                  format_shape(offset));
  std::vector<T> values;
  try {
    values.resize(volume(count));
  } catch (const std::bad_alloc&) {
    throw Error("kelk: cannot allocate " + std::to_string(volume(count) * sizeof(T)) +
                " bytes to read " + format_shape(count) + " of dataset '" + dataset + "' in '" +
                path_ + "' (out of memory)");
  }
  if (volume(dims) == 0 && !dims.empty()) return values;  // nothing to read on any rank
  QuietErrors quiet;
  const std::vector<hsize_t> off(offset.begin(), offset.end()), cnt(count.begin(), count.end());
  if (values.empty())
    H5Sselect_none(file_space.get());
  else if (!dims.empty())
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, off.data(), nullptr, cnt.data(), nullptr);
  const Handle mem_space(memory_space(dims.empty(), cnt), H5Sclose);
  const Handle dxpl(transfer_properties(parallel_), H5Pclose);
  T dummy{};  // a rank with nothing to read still takes part in a collective read
  if (H5Dread(ds.get(), native_type<T>(), mem_space.get(), file_space.get(), dxpl.get(),
              values.empty() ? &dummy : values.data()) < 0) {
    if (checksum_failed())
      throw Error("kelk: dataset '" + dataset + "' in '" + path_ + "' is damaged: its data do " +
                  "not match their fletcher32 checksum");
    throw Error("kelk: reading dataset '" + dataset + "' from '" + path_ + "' failed");
  }
  return values;
}

void File::ensure_groups(const std::string& dataset) {
  std::size_t pos = 0;
  while ((pos = dataset.find('/', pos + 1)) != std::string::npos) {
    const std::string group = dataset.substr(0, pos);
    if (group.empty() || exists(group)) continue;
    QuietErrors quiet;
    const Handle g(H5Gcreate2(id_, group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!g.valid()) throw Error("kelk: cannot create group '" + group + "' in '" + path_ + "'");
  }
}

template <class T>
void File::create_dataset(const std::string& dataset, const Shape& shape, bool checksum) {
  ensure_groups(dataset);
  QuietErrors quiet;
  const std::vector<hsize_t> dims(shape.begin(), shape.end());
  const Handle space(shape.empty() ? H5Screate(H5S_SCALAR)
                                   : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
                     H5Sclose);
  // a fletcher32 checksum on every chunk of a non-empty array, verified by every read
  const Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (checksum && volume(shape) > 0 && !shape.empty()) {
    const auto chunk = chunk_dims(dims, sizeof(T));
    if (H5Pset_chunk(dcpl.get(), int(chunk.size()), chunk.data()) < 0 ||
        H5Pset_fletcher32(dcpl.get()) < 0)
      throw Error("kelk: cannot set a checksum on dataset '" + dataset + "' in '" + path_ + "'");
  }
  const Handle ds(H5Dcreate2(id_, dataset.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                             dcpl.get(), H5P_DEFAULT),
                  H5Dclose);
  if (!ds.valid()) throw Error("kelk: cannot create dataset '" + dataset + "' in '" + path_ + "'");
}

bool File::has_checksum(const std::string& dataset) const {
  const Handle ds(open_dataset(*this, id_, dataset), H5Dclose);
  const Handle dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
  const int n = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t values = 0;
    if (H5Pget_filter2(dcpl.get(), unsigned(i), &flags, &values, nullptr, 0, nullptr,
                       &config) == H5Z_FILTER_FLETCHER32)
      return true;
  }
  return false;
}

template <class T>
void File::write_slab(const std::string& dataset, const Shape& offset, const Shape& count,
                      const T* data) {
  const Handle ds(open_dataset(*this, id_, dataset), H5Dclose);
  const Handle file_space(H5Dget_space(ds.get()), H5Sclose);
  const Shape dims = dataspace_shape(file_space.get());
  if (volume(dims) == 0 && !dims.empty()) return;  // nothing to write on any rank
  QuietErrors quiet;
  const std::vector<hsize_t> off(offset.begin(), offset.end()), cnt(count.begin(), count.end());
  const std::size_t n = volume(count);
  if (n == 0)
    H5Sselect_none(file_space.get());
  else if (!dims.empty())
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, off.data(), nullptr, cnt.data(), nullptr);
  const Handle mem_space(memory_space(dims.empty(), cnt), H5Sclose);
  const Handle dxpl(transfer_properties(parallel_), H5Pclose);
  const T dummy{};  // a rank with nothing to write still takes part in a collective write
  if (H5Dwrite(ds.get(), native_type<T>(), mem_space.get(), file_space.get(), dxpl.get(),
               n == 0 ? &dummy : data) < 0)
    throw Error("kelk: writing dataset '" + dataset + "' to '" + path_ + "' failed");
}

template <class T>
void File::write(const std::string& dataset, const Shape& shape, const std::vector<T>& data) {
  if (data.size() != volume(shape))
    throw Error("kelk: " + std::to_string(data.size()) + " values for dataset '" + dataset +
                "' of shape " + format_shape(shape));
  create_dataset<T>(dataset, shape);
  const bool writer = !parallel_ || rank_ == 0;
  write_slab<T>(dataset, Shape(shape.size(), 0), writer ? shape : Shape(shape.size(), 0),
                data.data());
}

bool File::has_attribute(const std::string& name, const std::string& on) const {
  QuietErrors quiet;
  return H5Aexists_by_name(id_, on.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

template <class T>
T File::read_attribute(const std::string& name, const std::string& on) const {
  const activity::Scope doing("reading", path_);
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
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
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

template <class T>
void File::write_attribute(const std::string& name, const T& value, const std::string& on) {
  QuietErrors quiet;
  if (has_attribute(name, on)) H5Adelete_by_name(id_, on.c_str(), name.c_str(), H5P_DEFAULT);
  const Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  herr_t status = -1;
  if constexpr (std::is_same<T, std::string>::value) {
    const Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    const Handle attr(H5Acreate_by_name(id_, on.c_str(), name.c_str(), type.get(), space.get(),
                                        H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      H5Aclose);
    const char* c = value.c_str();
    if (attr.valid()) status = H5Awrite(attr.get(), type.get(), &c);
  } else {
    const Handle attr(H5Acreate_by_name(id_, on.c_str(), name.c_str(), native_type<T>(),
                                        space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      H5Aclose);
    if (attr.valid()) status = H5Awrite(attr.get(), native_type<T>(), &value);
  }
  if (status < 0) throw Error("kelk: cannot write attribute '" + name + "' in '" + path_ + "'");
}

#define KELK_HDF5_NUMERIC(T)                                                                   \
  template std::vector<T> File::read<T>(const std::string&, const Shape&) const;               \
  template std::vector<T> File::read_slab<T>(const std::string&, const Shape&, const Shape&)   \
      const;                                                                                   \
  template void File::create_dataset<T>(const std::string&, const Shape&, bool);               \
  template void File::write_slab<T>(const std::string&, const Shape&, const Shape&, const T*); \
  template void File::write<T>(const std::string&, const Shape&, const std::vector<T>&);
KELK_HDF5_NUMERIC(float)
KELK_HDF5_NUMERIC(double)
KELK_HDF5_NUMERIC(std::int64_t)
#undef KELK_HDF5_NUMERIC

template double File::read_attribute<double>(const std::string&, const std::string&) const;
template std::int64_t File::read_attribute<std::int64_t>(const std::string&,
                                                         const std::string&) const;
template std::string File::read_attribute<std::string>(const std::string&,
                                                       const std::string&) const;
template void File::write_attribute<double>(const std::string&, const double&, const std::string&);
template void File::write_attribute<std::int64_t>(const std::string&, const std::int64_t&,
                                                  const std::string&);
template void File::write_attribute<std::string>(const std::string&, const std::string&,
                                                 const std::string&);

}  // namespace kelk::hdf5
