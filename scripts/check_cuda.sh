#!/usr/bin/env bash
# Compile check of kelk for NVIDIA GPUs (Kokkos' CUDA backend), on a machine with the CUDA
# toolkit and no GPU:
#
#   scripts/check_cuda.sh           the library, every app and tests/device/coverage.cpp (one
#                                   translation unit that instantiates every public entry point
#                                   for every kind of map on the GPU): what CI compiles
#   scripts/check_cuda.sh --all     every target, the test binaries and header checks included
#
# 1. unpacks upstream Kokkos 4.6.01 and Kokkos Kernels 4.6.02 from ../shared/deps/ (checksums
#    verified), applies scripts/patches/kokkos-4.6.01-cuda13.patch (four host-side changes
#    CUDA 13 needs, described in the patch) and builds Kokkos (CUDA for Hopper, sm_90, + Serial,
#    C++20, deprecated code off) and Kokkos Kernels (BLAS and batched, cuBLAS, no
#    pre-instantiated kernels), both position-independent (libkelk_c is a shared library),
#    into <deps>/cuda/install, once per version (stamp file);
# 2. installs Sacado's headers there (scripts/build_sacado.sh);
# 3. configures kelk with Kokkos' nvcc_wrapper (MPI, HDF5 and Sacado on) in build-cuda/ and
#    builds it. It fails on any compile error and on any compiler warning in the build (nvcc's
#    "calling a __host__ function from a __host__ __device__ function" among them: on a GPU
#    that is a bug), and checks that `ctest -N` lists the whole suite (parsed discovery).
# Nothing is run: that needs a GPU (scripts/gpu_check.sh). Skipped, with exit 0 and a
# message, where there is no nvcc or no Kokkos 4 sources.
#
# Environment: KELK_DEPS_DIR (default <repo>/.deps), KELK_CUDA_BUILD_DIR (default
# <repo>/build-cuda), KELK_CUDA_ARCH (Kokkos architecture, default HOPPER90), KELK_CCACHE=0
# (no ccache), KELK_SHARED_DEPS (default <repo>/../shared/deps). Logs: <deps>/cuda/*.log.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
label="kelk cuda"
# shellcheck source=common.sh
source "$repo/scripts/common.sh"

all=0
case "${1:-}" in
  --all) all=1 ;;
  "") ;;
  *) log "unknown argument '$1' (use --all or nothing)"; exit 2 ;;
esac

if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
if ! command -v nvcc >/dev/null; then
  log "skipped: no CUDA toolkit (nvcc not on PATH nor in /usr/local/cuda/bin)"
  exit 0
fi
kokkos4_sources_present || exit 0

deps=${KELK_DEPS_DIR:-$repo/.deps}
cuda=$deps/cuda
prefix=$cuda/install
build_dir=${KELK_CUDA_BUILD_DIR:-$repo/build-cuda}
arch=${KELK_CUDA_ARCH:-HOPPER90}
nvcc_version=$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
stamp=$prefix/.kelk-$kokkos4-$kernels4-cuda$nvcc_version-$arch-cxx20-pic
log "nvcc $nvcc_version, Kokkos architecture $arch"

# --- 1. Kokkos and Kokkos Kernels for CUDA --------------------------------------
t=$SECONDS
bash "$repo/scripts/install_packages.sh" "$label" build-essential cmake ninja-build patch ccache \
  catch2 libcli11-dev libtoml11-dev nlohmann-json3-dev libopenmpi-dev libhdf5-openmpi-dev liblbfgs-dev
mapfile -t launcher < <(compiler_launcher_args)
if [ -f "$stamp" ]; then
  log "Kokkos and Kokkos Kernels (CUDA $arch) already built in $prefix"
else
  log "building $kokkos4 (CUDA $arch + Serial, C++20) and $kernels4 (cuBLAS) into $prefix"
  rm -rf "$cuda"
  unpack_kokkos4 "$cuda/src"
  run_logged "$cuda/patch.log" patch -d "$cuda/src/$kokkos4" -p1 \
    -i "$repo/scripts/patches/kokkos-4.6.01-cuda13.patch"
  cmake_install kokkos "$cuda/src/$kokkos4" "$cuda" "$prefix" \
    -DCMAKE_CXX_COMPILER="$cuda/src/$kokkos4/bin/nvcc_wrapper" -DCMAKE_CXX_STANDARD=20 \
    -DKokkos_ENABLE_CUDA=ON -DKokkos_ENABLE_SERIAL=ON -DKokkos_ARCH_"$arch"=ON \
    -DKokkos_ENABLE_DEPRECATED_CODE_4=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON "${launcher[@]}"
  stage_done "Kokkos (CUDA)" "$t"
  t=$SECONDS
  cmake_install kernels "$cuda/src/$kernels4" "$cuda" "$prefix" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$prefix/bin/nvcc_wrapper" \
    -DCMAKE_CXX_STANDARD=20 -DKokkosKernels_ENABLE_ALL_COMPONENTS=OFF \
    -DKokkosKernels_ENABLE_COMPONENT_BLAS=ON -DKokkosKernels_ENABLE_COMPONENT_BATCHED=ON \
    -DKokkosKernels_ADD_DEFAULT_ETI=OFF -DKokkosKernels_ENABLE_TPL_CUBLAS=ON \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON "${launcher[@]}"
  rm -rf "$cuda/src"
  touch "$stamp"
fi
stage_done "Kokkos Kernels (CUDA)" "$t"
run_logged "$cuda/sacado-install.log" env KELK_DEPS_DIR="$deps" bash "$repo/scripts/build_sacado.sh" "$prefix"

# --- 2. kelk --------------------------------------------------------------------
# KELK_DEPS_PREFIX=/nonexistent: never pick up the OpenMP build of scripts/build_kokkos.sh.
t=$SECONDS
log "configuring kelk with nvcc_wrapper in $build_dir (log: $cuda/kelk-configure.log)"
run_logged "$cuda/kelk-configure.log" cmake -S "$repo" -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$prefix/bin/nvcc_wrapper" \
  -DCMAKE_CXX_STANDARD=20 -DKokkos_ROOT="$prefix" -DKokkosKernels_ROOT="$prefix" \
  -DKELK_DEPS_PREFIX=/nonexistent -DSacado_ROOT="$prefix" -DKELK_ENABLE_SACADO=ON "${launcher[@]}"
grep -E 'kelk: (Kokkos|Sacado|test discovery|flags)' "$cuda/kelk-configure.log" || true

# The whole suite must be listed from the parsed sources, as on a cluster's login node.
listing=$(ctest --test-dir "$build_dir" -N)
listed=$(sed -n 's/^Total Tests: //p' <<<"$listing")
catch_cases=$(grep -c '\[threads=' <<<"$listing" || true)
if [ "${listed:-0}" -eq 0 ] || [ "$catch_cases" -eq 0 ]; then
  log "FAILED: ctest -N lists ${listed:-0} tests ($catch_cases Catch test cases) in $build_dir"
  exit 1
fi
log "ctest -N lists $listed tests ($catch_cases Catch test cases, parsed from the sources)"

targets=(kelk kelk_c kelk_device_coverage kelk_apps)
[ "$all" = 1 ] && targets=(all kelk_device_coverage)
log "building ${targets[*]} with nvcc_wrapper (log: $cuda/kelk-build.log)"
# -k 0: compile everything that can be compiled, so that one run reports every error.
if ! cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}" -- -k 0 \
  >"$cuda/kelk-build.log" 2>&1; then
  log "FAILED: kelk does not build with Kokkos' CUDA backend"
  summarize_compile_errors "$cuda/kelk-build.log" "$deps"
  stage_done "kelk (nvcc), FAILED" "$t"
  exit 1
fi
stage_done "kelk (nvcc)" "$t"
# A warning fails the check: from nvcc (cudafe's "warning #20011-D: calling a __host__
# function ... from a __host__ __device__ function") or from the host compiler.
if grep -nE '([Ww]arning #[0-9]+|warning:)' "$cuda/kelk-build.log" >"$cuda/kelk-warnings.log"; then
  log "FAILED: the CUDA build of kelk has warnings ($(wc -l <"$cuda/kelk-warnings.log") lines):"
  head -n 40 "$cuda/kelk-warnings.log"
  exit 1
fi
log "OK: ${targets[*]} build with Kokkos' CUDA backend ($arch), no warning, in $build_dir"
