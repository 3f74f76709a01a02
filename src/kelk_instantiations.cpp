// Compiled instantiations of kelk::solve for the built-in step maps (see kelk.hpp).
#define KELK_IMPL_COMPILING_INSTANTIATIONS
#include <kelk/kelk.hpp>

namespace kelk {
KELK_IMPL_BUILTIN_INSTANTIATIONS()
}  // namespace kelk
