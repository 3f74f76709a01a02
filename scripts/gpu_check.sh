#!/usr/bin/env bash
# kelk on one NVIDIA GPU (H100 or H200; a machine with 16 cores and a CUDA driver), in one
# call of at most 10 minutes:
#
#   scripts/gpu_check.sh [OUT_DIR]        results in OUT_DIR (default: $OUT, else gpu-check/)
#
# 1. builds Kokkos 4.6.01 (CUDA, Hopper) + Kokkos Kernels 4.6.02 (cuBLAS) and every kelk
#    target with nvcc: scripts/check_cuda.sh --all (the same build CI compiles on a machine
#    without a GPU; sources from KELK_SHARED_DEPS, ../shared/deps or .deps/sources);
# 2. runs the test suite on the GPU (ctest, the SLURM cluster test left out), log in
#    OUT_DIR/ctest.log, JUnit XML in OUT_DIR/ctest.xml;
# 3. runs a benchmark sweep with kelk-bench: the GRU in fp32 and fp64, D = 8, 32, 64,
#    T = 1e4, 1e5, 1e6, B = 1 and 16; sequential, deer, quasi_deer, elk, quasi_elk and
#    block_jacobi on the GPU against the host's sequential loop, one CSV row per case in
#    OUT_DIR/bench.csv, from the smallest T up, each T under its own time limit (a case too big
#    for the GPU's memory, or the time left, is reported and skipped, not fatal).
# The machine needs the packages scripts/setup.sh installs (MPI, HDF5, Catch2, ...) and the
# CUDA toolkit; the Kokkos 4 tarballs travel with the tree: copy ../shared/deps/* into
# .deps/sources/ (ignored by git) and carry that folder.
# Every stage has a time limit (KELK_GPU_BUILD_S, KELK_GPU_TEST_S, KELK_GPU_BENCH_S seconds;
# defaults 330, 120, 120) so that the whole fits in 10 minutes and what was measured comes back
# even when a stage runs out. Exit status: non-zero when the build or a test failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
label="kelk gpu"
# shellcheck source=common.sh
source "$repo/scripts/common.sh"
out=${1:-${OUT:-$repo/gpu-check}}
mkdir -p "$out"
exec > >(tee -a "$out/gpu_check.log") 2>&1

if [ -z "${KELK_SHARED_DEPS:-}" ] && [ ! -d "$repo/../shared/deps" ] && [ -d "$repo/.deps/sources" ]; then
  export KELK_SHARED_DEPS=$repo/.deps/sources
fi
export KELK_CUDA_ARCH=${KELK_CUDA_ARCH:-HOPPER90}
build=${KELK_CUDA_BUILD_DIR:-$repo/build-cuda}
export KELK_CUDA_BUILD_DIR=$build

log "machine: $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -n 1)"
if ! nvidia-smi -L >/dev/null 2>&1; then
  log "no NVIDIA GPU or driver here (nvidia-smi -L failed): only the build is checked"
fi

status=0
t=$SECONDS
if ! timeout "${KELK_GPU_BUILD_S:-330}" bash "$repo/scripts/check_cuda.sh" --all; then
  log "FAILED: the CUDA build (or its time limit, ${KELK_GPU_BUILD_S:-330} s)"
  cp "${KELK_DEPS_DIR:-$repo/.deps}"/cuda/*.log "$out/" 2>/dev/null
  exit 1
fi
stage_done "build (nvcc)" "$t"
nvidia-smi -L >/dev/null 2>&1 || exit 0

t=$SECONDS
log "test suite on the GPU (log: $out/ctest.log)"
timeout "${KELK_GPU_TEST_S:-120}" ctest --test-dir "$build" -LE slurm -j 4 --timeout 100 \
  --output-on-failure --output-junit "$out/ctest.xml" >"$out/ctest.log" 2>&1 || status=1
tail -n 15 "$out/ctest.log"
stage_done "tests" "$t"

t=$SECONDS
bench=$build/apps/kelk-bench
deadline=$((SECONDS + ${KELK_GPU_BENCH_S:-120}))
for T in 10000 100000 1000000; do
  left=$((deadline - SECONDS))
  if [ "$left" -le 5 ]; then
    log "benchmark: no time left for T = $T"
    break
  fi
  log "benchmark T = $T (at most $left s; rows in $out/bench.csv)"
  timeout "$left" env OMP_PROC_BIND=spread OMP_PLACES=threads "$bench" --maps gru \
    --precision fp32,fp64 --D 8,32,64 --T "$T" --B 1,16 \
    --methods sequential,deer,quasi_deer,elk,quasi_elk,block_jacobi \
    --repeats 2 --warmup 1 --format csv --out "$out/bench.csv" >"$out/bench-T$T.log" 2>&1 ||
    log "benchmark T = $T stopped early (exit $?; see $out/bench-T$T.log)"
done
stage_done "benchmark" "$t"
exit "$status"
