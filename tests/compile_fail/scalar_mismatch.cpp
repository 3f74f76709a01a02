// Must not compile: float Views with a double map.
#include <kelk/kelk_maps.hpp>
#include <kelk/kelk_solve.hpp>

void call(const kelk::Elman<double>& map, const kelk::BatchView<float>& s0,
          const kelk::SequenceView<float>& u, const kelk::SequenceView<float>& s) {
  kelk::solve(map, s0, u, s);
}
