# Known problems of particular Kokkos / compiler pairs, checked at configure time.
include_guard(GLOBAL)

# kelk_known_kokkos_problem(<out> <kokkos_version> <compiler_id> <compiler_version> <view_legacy>)
# sets <out> to a warning text when the pair is known to produce broken programs, else to "".
#
# GCC 12 miscompiles the mdspan-based View of Kokkos 4.5 and 4.6 (kokkos issues 7464 and 8187,
# fixed in 4.7): reference counts go wrong and programs crash in
# SharedAllocationRecord::decrement. A Kokkos built with Kokkos_ENABLE_IMPL_VIEW_LEGACY=ON
# keeps the old View and is not affected.
function(kelk_known_kokkos_problem out kokkos_version compiler_id compiler_version view_legacy)
  set(text "")
  if(kokkos_version VERSION_GREATER_EQUAL 4.5 AND kokkos_version VERSION_LESS 4.7
     AND compiler_id STREQUAL "GNU"
     AND compiler_version VERSION_GREATER_EQUAL 12 AND compiler_version VERSION_LESS 13
     AND NOT view_legacy)
    set(text
      "kelk: Kokkos ${kokkos_version} with GCC ${compiler_version}: GCC 12 miscompiles the "
      "mdspan-based View of Kokkos 4.5 and 4.6 (kokkos issues 7464, 8187); programs crash in "
      "SharedAllocationRecord::decrement. Use Kokkos >= 4.7, or rebuild this Kokkos with "
      "-DKokkos_ENABLE_IMPL_VIEW_LEGACY=ON (or use another compiler).")
    string(CONCAT text ${text})
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
