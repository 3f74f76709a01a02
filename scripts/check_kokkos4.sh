#!/usr/bin/env bash
# kelk against upstream Kokkos 4 as C++20: builds Kokkos 4.6.01 (OpenMP + Serial, with
# Kokkos_ENABLE_DEPRECATED_CODE_4=OFF, so that nothing Kokkos 5 removes is used) and Kokkos
# Kernels 4.6.02 (its BLAS and batched components only, no pre-instantiated kernels) from the
# release tarballs in ../shared/deps/ (checksums verified) into <deps>/kokkos4/install, once per
# version (stamp file), installs Sacado's headers there, builds kelk (Sacado included) with
# -DCMAKE_CXX_STANDARD=20 in build-kokkos4/, and runs the test suite with CTest. Where the
# tarballs are absent (a user's machine), the check is skipped with a message and exit 0.
#
#   scripts/check_kokkos4.sh [ctest arguments...]     e.g. -LE slurm
#   scripts/check_kokkos4.sh --build-only             Kokkos 4 and kelk only, no test
#
# Environment: KELK_SHARED_DEPS (default <repo>/../shared/deps), KELK_DEPS_DIR (default
# <repo>/.deps), KELK_KOKKOS4_BUILD_DIR (default <repo>/build-kokkos4), KELK_KOKKOS_ARCH (as
# for scripts/build_kokkos.sh), KELK_CCACHE=0 (no ccache). Logs: <deps>/kokkos4/*.log.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
label="kelk kokkos4"
# shellcheck source=common.sh
source "$repo/scripts/common.sh"
kokkos4_sources_present || exit 0
build_only=0
if [ "${1:-}" = --build-only ]; then
  build_only=1
  shift
fi

deps=${KELK_DEPS_DIR:-$repo/.deps}
k4=$deps/kokkos4
prefix=$k4/install
build=${KELK_KOKKOS4_BUILD_DIR:-$repo/build-kokkos4}
jobs=$(nproc)
arch=${KELK_KOKKOS_ARCH:-$(bash "$repo/scripts/host_kokkos_arch.sh")}
arch=$(printf '%s' "$arch" | tr '[:lower:]' '[:upper:]')
arch_args=()
[ "$arch" = NONE ] || arch_args=(-DKokkos_ARCH_"$arch"=ON)
stamp=$prefix/.kelk-$kokkos4-$kernels4-cxx20-arch-$arch
mapfile -t launcher < <(compiler_launcher_args)

t=$SECONDS
if [ -f "$stamp" ]; then
  log "$kokkos4 and $kernels4 (OpenMP, $arch) already built in $prefix"
else
  rm -rf "$k4"
  unpack_kokkos4 "$k4/src"
  log "building $kokkos4 (OpenMP + Serial, C++20, deprecated code off, architecture: $arch)"
  cmake_install kokkos "$k4/src/$kokkos4" "$k4" "$prefix" -DCMAKE_CXX_STANDARD=20 \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON \
    -DKokkos_ENABLE_DEPRECATED_CODE_4=OFF "${arch_args[@]}" "${launcher[@]}"
  log "building $kernels4 (BLAS and batched components, no pre-instantiated kernels)"
  cmake_install kernels "$k4/src/$kernels4" "$k4" "$prefix" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CXX_STANDARD=20 -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DKokkosKernels_ENABLE_ALL_COMPONENTS=OFF -DKokkosKernels_ENABLE_COMPONENT_BLAS=ON \
    -DKokkosKernels_ENABLE_COMPONENT_BATCHED=ON -DKokkosKernels_ADD_DEFAULT_ETI=OFF \
    -DKokkosKernels_ENABLE_TPL_BLAS=ON "${launcher[@]}"
  rm -rf "$k4/src"
  touch "$stamp"
fi
# Sacado's headers (kelk_autodiff.hpp) into the same prefix, as scripts/setup.sh does for its own
run_logged "$k4/sacado-install.log" env KELK_DEPS_DIR="$deps" bash "$repo/scripts/build_sacado.sh" "$prefix"
stage_done "Kokkos 4 and Kernels" "$t"

t=$SECONDS
if [ ! -f "$build/build.ninja" ]; then
  log "configuring kelk (C++20) in $build"
  run_logged "$k4/kelk-configure.log" cmake -S "$repo" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=20 -DKokkos_ROOT="$prefix" \
    -DKokkosKernels_ROOT="$prefix" -DKELK_DEPS_PREFIX=/nonexistent -DSacado_ROOT="$prefix" \
    -DKELK_ENABLE_SACADO=ON "${launcher[@]}"
fi
log "building kelk (C++20, $kokkos4) in $build"
run_logged "$k4/kelk-build.log" cmake --build "$build" -j "$jobs"
if grep -n 'warning:' "$k4/kelk-build.log" >"$k4/kelk-warnings.log"; then
  log "FAILED: kelk's build against $kokkos4 has warnings:"
  head -n 40 "$k4/kelk-warnings.log"
  exit 1
fi
stage_done "kelk (C++20)" "$t"
[ "$build_only" = 1 ] && exit 0

t=$SECONDS
log "testing kelk (C++20, $kokkos4)"
status=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@" || status=$?
stage_done "tests" "$t"
exit "$status"
