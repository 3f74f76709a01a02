# Finds Sacado's headers (forward-mode AD, header-only) for kelk_autodiff.hpp, for kelk and for
# projects that use an installed kelk. Sets KELK_SACADO_INCLUDE_DIR (the folder with Sacado.hpp
# and Sacado_config.h) or leaves it empty.
#
# Search order:
#   1. Sacado_ROOT (CMake variable or environment): <root>/include/sacado, <root>/include, <root>
#      (a cluster's Trilinos built with its Kokkos);
#   2. KELK_DEPS_PREFIX/include/sacado, where scripts/build_sacado.sh puts them.
# The system is not searched: Debian's libtrilinos-sacado-dev lives in /usr/include/trilinos
# next to Debian's Serial-only Kokkos headers, and that folder on the include path would mix
# them with the Kokkos kelk was built with. A folder that holds KokkosCore_config.h (a whole
# Trilinos include folder) is accepted only when it is Kokkos' own include folder.
include_guard(GLOBAL)

set(_kelk_sacado_roots)
if(Sacado_ROOT)
  list(APPEND _kelk_sacado_roots "${Sacado_ROOT}")
elseif(DEFINED ENV{Sacado_ROOT})
  list(APPEND _kelk_sacado_roots "$ENV{Sacado_ROOT}")
endif()
set(_kelk_sacado_hints)
foreach(_root IN LISTS _kelk_sacado_roots)
  list(APPEND _kelk_sacado_hints "${_root}/include/sacado" "${_root}/include" "${_root}")
endforeach()
list(APPEND _kelk_sacado_hints "${KELK_DEPS_PREFIX}/include/sacado")

if(NOT KELK_SACADO_INCLUDE_DIR)
  unset(KELK_SACADO_INCLUDE_DIR)
  unset(KELK_SACADO_INCLUDE_DIR CACHE)
  find_path(KELK_SACADO_INCLUDE_DIR NAMES Sacado.hpp HINTS ${_kelk_sacado_hints} NO_DEFAULT_PATH)
endif()

set(KELK_SACADO_PROBLEM "")
if(KELK_SACADO_INCLUDE_DIR)
  if(NOT EXISTS "${KELK_SACADO_INCLUDE_DIR}/Sacado_config.h")
    set(KELK_SACADO_PROBLEM "${KELK_SACADO_INCLUDE_DIR} has Sacado.hpp but no Sacado_config.h")
  elseif(EXISTS "${KELK_SACADO_INCLUDE_DIR}/KokkosCore_config.h")
    get_target_property(_kelk_sacado_kokkos_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
    get_filename_component(_kelk_sacado_real "${KELK_SACADO_INCLUDE_DIR}" REALPATH)
    set(_kelk_sacado_same FALSE)
    foreach(_dir IN LISTS _kelk_sacado_kokkos_inc)
      get_filename_component(_dir_real "${_dir}" REALPATH)
      if(_dir_real STREQUAL _kelk_sacado_real)
        set(_kelk_sacado_same TRUE)
      endif()
    endforeach()
    if(NOT _kelk_sacado_same)
      set(KELK_SACADO_PROBLEM
          "${KELK_SACADO_INCLUDE_DIR} holds another Kokkos' headers (KokkosCore_config.h) besides "
          "Sacado's; run scripts/build_sacado.sh or point Sacado_ROOT at the Trilinos of your Kokkos")
    endif()
  else()
    file(STRINGS "${KELK_SACADO_INCLUDE_DIR}/Sacado_config.h" _kelk_sacado_kokkoscore
         REGEX "^#define HAVE_SACADO_KOKKOSCORE")
    if(NOT _kelk_sacado_kokkoscore)
      set(KELK_SACADO_PROBLEM
          "${KELK_SACADO_INCLUDE_DIR}/Sacado_config.h lacks HAVE_SACADO_KOKKOSCORE (Fad types would not run in kernels)")
    endif()
  endif()
endif()
