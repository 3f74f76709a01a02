#!/usr/bin/env bash
# kelk against upstream Kokkos 4 as C++20: builds Kokkos 4.6.01 (OpenMP + Serial, with
# Kokkos_ENABLE_DEPRECATED_CODE_4=OFF, so that nothing Kokkos 5 removes is used) and Kokkos
# Kernels 4.6.02 (its BLAS and batched components only, no pre-instantiated kernels) from the
# release tarballs in ../shared/deps/ into <deps>/kokkos4/install, then kelk (Sacado included)
# with -DCMAKE_CXX_STANDARD=20 in build-kokkos4/, and runs the whole test suite with CTest.
# Each step is skipped when its result is already there. Where the tarballs are absent (a
# user's machine), the check is skipped with a message and exit 0.
#
#   scripts/check_kokkos4.sh [ctest arguments...]
#
# Environment: KELK_SHARED_DEPS (default <repo>/../shared/deps), KELK_DEPS_DIR (default
# <repo>/.deps), KELK_KOKKOS4_BUILD_DIR (default <repo>/build-kokkos4), KELK_KOKKOS_ARCH (as
# for scripts/build_kokkos.sh).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${KELK_SHARED_DEPS:-$repo/../shared/deps}
deps=${KELK_DEPS_DIR:-$repo/.deps}
build=${KELK_KOKKOS4_BUILD_DIR:-$repo/build-kokkos4}
jobs=$(nproc)
log() { printf '[kelk kokkos4] %s\n' "$*"; }

kokkos=kokkos-4.6.01 kernels=kokkos-kernels-4.6.02
if [ ! -f "$shared/$kokkos.tar.xz" ] || [ ! -f "$shared/$kernels.tar.xz" ]; then
  log "skipped: no $shared/$kokkos.tar.xz and $kernels.tar.xz (the upstream Kokkos 4 sources)"
  exit 0
fi
(cd "$shared" && sha256sum --quiet -c SHA256SUMS) || {
  log "ERROR: the tarballs in $shared do not match their SHA256SUMS"
  exit 1
}

arch=${KELK_KOKKOS_ARCH:-$(bash "$repo/scripts/host_kokkos_arch.sh")}
arch=$(printf '%s' "$arch" | tr '[:lower:]' '[:upper:]')
arch_args=()
[ "$arch" = NONE ] || arch_args=(-DKokkos_ARCH_"$arch"=ON)
prefix=$deps/kokkos4/install
stamp=$prefix/.kelk-$kokkos-$kernels-cxx20-arch-$arch
gen=(-G Ninja)

if [ ! -f "$stamp" ]; then
  rm -rf "$deps/kokkos4"
  mkdir -p "$deps/kokkos4/src"
  for t in $kokkos $kernels; do tar -xJf "$shared/$t.tar.xz" -C "$deps/kokkos4/src"; done
  log "building $kokkos (OpenMP + Serial, C++20, deprecated code off, architecture: $arch)"
  cmake -S "$deps/kokkos4/src/$kokkos" -B "$deps/kokkos4/build-kokkos" "${gen[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_CXX_STANDARD=20 \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON \
    -DKokkos_ENABLE_DEPRECATED_CODE_4=OFF "${arch_args[@]}" >"$deps/kokkos4/kokkos.log" 2>&1 &&
    cmake --build "$deps/kokkos4/build-kokkos" -j "$jobs" >>"$deps/kokkos4/kokkos.log" 2>&1 &&
    cmake --install "$deps/kokkos4/build-kokkos" >>"$deps/kokkos4/kokkos.log" 2>&1 || {
    log "ERROR: building $kokkos failed; see $deps/kokkos4/kokkos.log"
    tail -n 20 "$deps/kokkos4/kokkos.log" >&2
    exit 1
  }
  log "building $kernels (BLAS and batched components, no pre-instantiated kernels)"
  cmake -S "$deps/kokkos4/src/$kernels" -B "$deps/kokkos4/build-kernels" "${gen[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CXX_STANDARD=20 -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DKokkosKernels_ENABLE_ALL_COMPONENTS=OFF -DKokkosKernels_ENABLE_COMPONENT_BLAS=ON \
    -DKokkosKernels_ENABLE_COMPONENT_BATCHED=ON -DKokkosKernels_ADD_DEFAULT_ETI=OFF \
    -DKokkosKernels_ENABLE_TPL_BLAS=ON >"$deps/kokkos4/kernels.log" 2>&1 &&
    cmake --build "$deps/kokkos4/build-kernels" -j "$jobs" >>"$deps/kokkos4/kernels.log" 2>&1 &&
    cmake --install "$deps/kokkos4/build-kernels" >>"$deps/kokkos4/kernels.log" 2>&1 || {
    log "ERROR: building $kernels failed; see $deps/kokkos4/kernels.log"
    tail -n 20 "$deps/kokkos4/kernels.log" >&2
    exit 1
  }
  rm -rf "$deps/kokkos4/src" "$deps/kokkos4/build-kokkos" "$deps/kokkos4/build-kernels"
  touch "$stamp"
fi

# kelk as C++20 against it (Sacado's headers from scripts/build_sacado.sh, as setup.sh does)
sacado=()
if bash "$repo/scripts/build_sacado.sh" >/dev/null; then
  sacado=(-DSacado_ROOT="$deps/install")
else
  log "WARNING: no Sacado; the AutoDiff tests are not built"
fi
if [ ! -f "$build/build.ninja" ]; then
  log "configuring kelk (C++20) in $build"
  cmake -S "$repo" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=20 \
    -DKokkos_ROOT="$prefix" -DKokkosKernels_ROOT="$prefix" "${sacado[@]}"
fi
log "building kelk (C++20, $kokkos)"
cmake --build "$build" -j "$jobs"
log "testing kelk (C++20, $kokkos)"
exec ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
