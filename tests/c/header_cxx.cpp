// kelk.h and kelk_mpi.h compile as C++ (extern "C"), warning-free; the symbols link.
#include <kelk/kelk.h>
#ifdef KELK_TEST_MPI
#include <kelk/kelk_mpi.h>
#endif

#include <cstdio>

int main() {
  kelk_options o;
  kelk_options_default(&o);
  std::printf("kelk %s from C++: default method %d\n", kelk_version(), o.method);
  return o.method == KELK_METHOD_DEER ? 0 : 1;
}
