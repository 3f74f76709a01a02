# Finds Kokkos and Kokkos Kernels for kelk and for projects that use an installed kelk.
#
# Search order:
#   1. the user's own Kokkos: Kokkos_ROOT / KokkosKernels_ROOT or CMAKE_PREFIX_PATH
#      (a cluster's CUDA, HIP or OpenMP build);
#   2. KELK_DEPS_PREFIX, where scripts/build_kokkos.sh puts an OpenMP build;
#   3. the system (Debian's libtrilinos-kokkos-dev: Serial backend only).
# Defines the target kelk::kokkoskernels, which links whichever Kokkos Kernels was found
# (Debian names it trilinos_kokkoskernels, Kokkos Kernels itself Kokkos::kokkoskernels).
include_guard(GLOBAL)

macro(_kelk_find_kokkos_package pkg)
  if(NOT ${pkg}_FOUND)
    find_package(${pkg} CONFIG QUIET PATHS ${KELK_DEPS_PREFIX} NO_SYSTEM_ENVIRONMENT_PATH
                 NO_CMAKE_SYSTEM_PATH)
  endif()
  if(NOT ${pkg}_FOUND)
    find_package(${pkg} CONFIG REQUIRED)
  endif()
endmacro()

_kelk_find_kokkos_package(Kokkos)
# KokkosKernels must come from the same installation as Kokkos: look next to it first.
get_filename_component(_kelk_kokkos_cmake_dir "${Kokkos_DIR}/.." ABSOLUTE)
if(NOT KokkosKernels_FOUND)
  find_package(KokkosKernels CONFIG QUIET PATHS ${_kelk_kokkos_cmake_dir} NO_DEFAULT_PATH)
endif()
_kelk_find_kokkos_package(KokkosKernels)

# Debian's Trilinos-built Kokkos points its include directory at <prefix>/include, which
# does not exist there (its headers are in <prefix>/include/trilinos). Repair it.
get_target_property(_kelk_kokkos_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
set(_kelk_kokkos_inc_fixed)
foreach(_dir IN LISTS _kelk_kokkos_inc)
  if(NOT _dir MATCHES "^\\$<" AND NOT EXISTS "${_dir}/Kokkos_Core.hpp" AND EXISTS "${_dir}/trilinos/Kokkos_Core.hpp")
    list(APPEND _kelk_kokkos_inc_fixed "${_dir}/trilinos")
  elseif(NOT _dir MATCHES "^\\$<" AND NOT EXISTS "${_dir}")
    foreach(_cand /usr/include/trilinos /usr/local/include/trilinos)
      if(EXISTS "${_cand}/Kokkos_Core.hpp")
        list(APPEND _kelk_kokkos_inc_fixed "${_cand}")
      endif()
    endforeach()
  else()
    list(APPEND _kelk_kokkos_inc_fixed "${_dir}")
  endif()
endforeach()
if(NOT "${_kelk_kokkos_inc_fixed}" STREQUAL "${_kelk_kokkos_inc}")
  set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kelk_kokkos_inc_fixed}")
endif()

if(NOT TARGET kelk::kokkoskernels)
  add_library(kelk::kokkoskernels INTERFACE IMPORTED)
  if(TARGET Kokkos::kokkoskernels)
    target_link_libraries(kelk::kokkoskernels INTERFACE Kokkos::kokkoskernels)
  elseif(TARGET trilinos_kokkoskernels)
    target_link_libraries(kelk::kokkoskernels INTERFACE trilinos_kokkoskernels Kokkos::kokkos)
  else()
    message(FATAL_ERROR "kelk: found KokkosKernels in ${KokkosKernels_DIR} but none of its known targets")
  endif()
endif()

# Known broken Kokkos / compiler pairs (kelkKokkosChecks.cmake): warn before anything is built.
include(${CMAKE_CURRENT_LIST_DIR}/kelkKokkosChecks.cmake)
set(_kelk_view_legacy FALSE)
if(Kokkos_VERSION VERSION_GREATER_EQUAL 4 AND COMMAND kokkos_check)
  kokkos_check(OPTIONS IMPL_VIEW_LEGACY RETURN_VALUE _kelk_view_legacy)
endif()
kelk_known_kokkos_problem(_kelk_kokkos_problem "${Kokkos_VERSION}" "${CMAKE_CXX_COMPILER_ID}"
                          "${CMAKE_CXX_COMPILER_VERSION}" "${_kelk_view_legacy}")
if(_kelk_kokkos_problem)
  message(WARNING "${_kelk_kokkos_problem}")
endif()

if(NOT KELK_KOKKOS_REPORTED)
  set(KELK_KOKKOS_REPORTED TRUE)
  message(STATUS "kelk: Kokkos ${Kokkos_VERSION} from ${Kokkos_DIR}")
  message(STATUS "kelk: Kokkos backends: ${Kokkos_DEVICES}")
  # The architecture flags come with Kokkos::kokkos (kelk adds none); show what is in effect.
  set(_kelk_kokkos_opts)
  foreach(_target Kokkos::kokkos Kokkos::kokkoscore kokkoscore)
    if(TARGET ${_target})
      get_target_property(_opts ${_target} INTERFACE_COMPILE_OPTIONS)
      if(_opts)
        list(APPEND _kelk_kokkos_opts ${_opts})
      endif()
    endif()
  endforeach()
  string(REGEX REPLACE "\\$<\\$<COMPILE_LANGUAGE:CXX>:([^>]*)>" "\\1" _kelk_kokkos_opts "${_kelk_kokkos_opts}")
  set(_kelk_arch_flags)
  foreach(_opt IN LISTS _kelk_kokkos_opts)
    # host (-march=..., -mavx512f, ...) and device (-arch=sm_90, --offload-arch=gfx90a, ...)
    if(_opt MATCHES "^-(march|mtune|mcpu|x|m(avx|sse|fma|rtm|arch))" OR
       _opt MATCHES "^-arch[= ]" OR _opt MATCHES "^--?(cuda-gpu-arch|offload-arch|gencode)")
      list(APPEND _kelk_arch_flags "${_opt}")
    endif()
  endforeach()
  if(NOT Kokkos_ARCH)
    set(Kokkos_ARCH none)
  endif()
  if(NOT _kelk_arch_flags)
    set(_kelk_arch_flags "none (the compiler's default target: SSE2 on x86-64)")
  endif()
  string(REPLACE ";" " " _kelk_arch_flags "${_kelk_arch_flags}")
  message(STATUS "kelk: Kokkos architecture: ${Kokkos_ARCH}; flags in effect: ${_kelk_arch_flags}")
  message(STATUS "kelk: Kokkos Kernels from ${KokkosKernels_DIR}")
endif()
