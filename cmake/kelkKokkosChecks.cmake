# Known problems of particular Kokkos / compiler pairs, checked at configure time.
include_guard(GLOBAL)

# kelk_known_kokkos_problem(<out> <kokkos_version> <compiler_id> <compiler_version> <view_legacy>)
# sets <out> to a warning text when the pair is known to produce broken programs, else to "".
#
# GCC 12.2-12.5 skip a constexpr constructor of Kokkos' SharedAllocationTracker, which the
# mdspan-based View uses: reference counts go wrong and programs crash in SharedAllocationRecord
# (upstream kokkos issues 7464, 8187). That View is Kokkos' default from the 4.6.99 development
# line on, unless Kokkos_ENABLE_IMPL_VIEW_LEGACY=ON; the released 4.5 and 4.6 keep the legacy
# View (kelk's suite passes on 4.6.01 with GCC 12.2). Kokkos 4.7.0 works around GCC 12.2-12.4
# (kokkos pull request 8223); GCC 12.5 still crashed with Kokkos 5.1.1 (pull request 9262).
function(kelk_known_kokkos_problem out kokkos_version compiler_id compiler_version view_legacy)
  set(text "")
  if(compiler_id STREQUAL "GNU" AND NOT view_legacy AND kokkos_version VERSION_GREATER_EQUAL 4.6.99)
    if((kokkos_version VERSION_LESS 4.7 AND compiler_version VERSION_GREATER_EQUAL 12.2
        AND compiler_version VERSION_LESS 12.6)
       OR (kokkos_version VERSION_LESS_EQUAL 5.1.1 AND compiler_version VERSION_GREATER_EQUAL 12.5
           AND compiler_version VERSION_LESS 12.6))
      string(CONCAT text
        "kelk: Kokkos ${kokkos_version} with GCC ${compiler_version}: GCC 12 miscompiles the "
        "reference counting of Kokkos' mdspan-based View (kokkos issues 7464, 8187; pull "
        "requests 8223, 9262); programs crash in SharedAllocationRecord. Rebuild this Kokkos "
        "with -DKokkos_ENABLE_IMPL_VIEW_LEGACY=ON, use a Kokkos release with the fix (4.7 for "
        "GCC 12.2-12.4, later than 5.1.1 for GCC 12.5), or use another compiler.")
    endif()
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
