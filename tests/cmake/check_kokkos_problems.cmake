# cmake -P check: kelk_known_kokkos_problem flags exactly the Kokkos versions whose default View
# is the mdspan-based one with the GCC 12 releases known to miscompile it (unless the legacy
# View is on).
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/kelkKokkosChecks.cmake)
set(failures 0)
macro(expect warned version id compiler legacy)
  kelk_known_kokkos_problem(text "${version}" "${id}" "${compiler}" "${legacy}")
  if(text)
    set(got TRUE)
  else()
    set(got FALSE)
  endif()
  if(NOT got STREQUAL "${warned}")
    message("FAIL: Kokkos ${version}, ${id} ${compiler}, legacy ${legacy}: warned ${got}, expected ${warned}")
    math(EXPR failures "${failures} + 1")
  endif()
endmacro()
expect(FALSE 4.5.0 GNU 12.2.0 FALSE)   # the released 4.5 and 4.6 keep the legacy View
expect(FALSE 4.6.1 GNU 12.2.0 FALSE)
expect(TRUE 4.6.99 GNU 12.3.0 FALSE)   # the development line with the mdspan View
expect(FALSE 4.6.99 GNU 12.3.0 TRUE)   # ... unless the legacy View is on
expect(FALSE 4.6.99 GNU 12.1.0 FALSE)
expect(FALSE 4.7.0 GNU 12.2.0 FALSE)   # 4.7 works around GCC 12.2-12.4
expect(TRUE 4.7.0 GNU 12.5.0 FALSE)    # but not 12.5, still crashing with 5.1.1
expect(TRUE 5.1.1 GNU 12.5.0 FALSE)
expect(FALSE 5.2.0 GNU 12.5.0 FALSE)
expect(FALSE 4.4.1 GNU 12.2.0 FALSE)
expect(FALSE 3.4.1 GNU 12.2.0 FALSE)
expect(FALSE 4.6.99 GNU 13.1.0 FALSE)
expect(FALSE 4.6.99 GNU 11.4.0 FALSE)
expect(FALSE 4.6.99 Clang 12.0.0 FALSE)
kelk_known_kokkos_problem(text 4.6.99 GNU 12.2.0 FALSE)
if(NOT text MATCHES "Kokkos_ENABLE_IMPL_VIEW_LEGACY=ON" OR NOT text MATCHES "4.7 for")
  message("FAIL: the warning does not name both ways out: ${text}")
  math(EXPR failures "${failures} + 1")
endif()
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} failed")
endif()
message("kelk_known_kokkos_problem: all cases as expected")
