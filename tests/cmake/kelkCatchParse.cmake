# kelk_parse_catch_tests(TARGET SOURCES <files> [EXTRA_ARGS ...] [TEST_SUFFIX s]
#                        [ENVIRONMENT "A=1;B=2"] [PROPERTIES ...])
#
# Registers one CTest test per Catch2 TEST_CASE / TEMPLATE_TEST_CASE found in the sources, at
# configure time, without running the test binary. This is the fallback to catch_discover_tests
# (which runs the binary after every build) for builds whose binary cannot run where it is
# built: a CUDA or HIP build on a login node without a GPU driver, a cross compile. Test names
# are those catch_discover_tests gives; a TEMPLATE_TEST_CASE becomes one test running all its
# instantiations ("name - *"). A test spec that matches no test case fails.
# Test names with spaces need CMP0110 (CMake >= 3.19); set it where this file is included.
if(POLICY CMP0110)
  cmake_policy(SET CMP0110 NEW)
endif()

function(kelk_parse_catch_tests target)
  # PARSE_ARGV keeps the ';' of the one ENVIRONMENT value
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TEST_SUFFIX;ENVIRONMENT" "SOURCES;EXTRA_ARGS;PROPERTIES")
  foreach(source IN LISTS arg_SOURCES)
    get_filename_component(source "${source}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${source}")
    file(READ "${source}" code)
    string(REGEX MATCHALL "(TEMPLATE_)?TEST_CASE[ \t\r\n]*\\([ \t\r\n]*\"([^\"\\\\]|\\\\.)*\"" cases "${code}")
    foreach(case IN LISTS cases)
      string(REGEX REPLACE "^(TEMPLATE_)?TEST_CASE[ \t\r\n]*\\([ \t\r\n]*\"(.*)\"$" "\\2" name "${case}")
      # Catch test specs separate alternatives with commas: escape them
      string(REPLACE "," "\\," spec "${name}")
      if(case MATCHES "^TEMPLATE_")
        set(spec "${spec} - *")
      endif()
      set(test_name "${name}${arg_TEST_SUFFIX}")
      set(quoted_name "${test_name}")
      if(NOT POLICY CMP0110)  # CMake < 3.19 writes names with spaces unquoted
        set(quoted_name "\"${test_name}\"")
      endif()
      add_test(NAME "${quoted_name}" COMMAND ${target} "${spec}" ${arg_EXTRA_ARGS})
      set_tests_properties("${test_name}" PROPERTIES FAIL_REGULAR_EXPRESSION "No tests ran|No test cases matched"
                           ENVIRONMENT "${arg_ENVIRONMENT}" ${arg_PROPERTIES})
    endforeach()
  endforeach()
endfunction()
