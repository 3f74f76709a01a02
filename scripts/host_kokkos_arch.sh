#!/usr/bin/env bash
# Prints the Kokkos 3.4 host architecture option (Kokkos_ARCH_<name>) for the CPU this runs on,
# from the instruction sets /proc/cpuinfo lists, or "none" when no option fits:
#   SKX  AVX-512 (F, CD, BW, DQ, VL) and RTM    -march=skylake-avx512 -mrtm
#   HSW  AVX2, FMA, BMI2, F16C, MOVBE           -march=core-avx2
#   SNB  AVX                                    -mavx
# Kokkos 3.4's SKX option also compiles hardware transactional memory (_xbegin) into its host
# atomics, which raises SIGILL on a CPU without RTM (AMD Zen 4, Intel parts with TSX removed):
# such AVX-512 CPUs get HSW. Kokkos 3.4 has no "native" option; the vendor-specific ones
# (ZEN, ZEN2, ZEN3, BDW) differ from these only in tuning and in instructions kelk's kernels
# do not use. Override with KELK_KOKKOS_ARCH (see scripts/build_kokkos.sh).
set -euo pipefail
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
if has avx512f avx512cd avx512bw avx512dq avx512vl rtm; then
  echo SKX
elif has avx2 fma bmi1 bmi2 f16c movbe; then
  echo HSW
elif has avx; then
  echo SNB
else
  echo none
fi
