#!/usr/bin/env bash
# Builds Kokkos and Kokkos Kernels with the OpenMP (and Serial) backends into
# <repo>/.deps/install, from the Kokkos 3.4.1 sources inside Debian's `trilinos`
# source package. Debian's binary Kokkos package has the Serial backend only.
#
# The sources come from scripts/fetch_kokkos_source.sh (a private apt configuration
# built from this machine's own Debian sources; the system's apt state is left untouched).
# Skipped when the install prefix is already complete.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=${KELK_DEPS_DIR:-$repo/.deps}
prefix=$deps/install
stamp=$prefix/.kelk-kokkos-openmp-3.4.1-blas
jobs=$(nproc)
log() { printf '[kelk kokkos] %s\n' "$*"; }

if [ -f "$stamp" ]; then
  log "Kokkos+OpenMP already built in $prefix"
  exit 0
fi

# --- Kokkos and Kokkos Kernels sources (Debian's trilinos source package) ---------
pkgs=$(KELK_DEPS_DIR=$deps bash "$repo/scripts/fetch_kokkos_source.sh")

# --- build -------------------------------------------------------------------------
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
log "building Kokkos (OpenMP + Serial) into $prefix"
cmake -S "$pkgs/kokkos" -B "$deps/build-kokkos" "${gen[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_CXX_STANDARD=17 -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON >"$deps/kokkos-configure.log" 2>&1
cmake --build "$deps/build-kokkos" -j "$jobs" >"$deps/kokkos-build.log"
cmake --install "$deps/build-kokkos" >/dev/null

log "building Kokkos Kernels (no pre-instantiated kernels; BLAS as TPL for host gemm)"
cmake -S "$pkgs/kokkos-kernels" -B "$deps/build-kokkos-kernels" "${gen[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DKokkosKernels_ADD_DEFAULT_ETI=OFF -DKokkosKernels_INST_DOUBLE=OFF -DKokkosKernels_INST_FLOAT=OFF \
  -DKokkosKernels_INST_LAYOUTLEFT=OFF -DKokkosKernels_INST_LAYOUTRIGHT=OFF \
  -DKokkosKernels_INST_OFFSET_INT=OFF -DKokkosKernels_INST_OFFSET_SIZE_T=OFF \
  -DKokkosKernels_INST_ORDINAL_INT=OFF -DKokkosKernels_ENABLE_TPL_BLAS=ON \
  >"$deps/kokkos-kernels-configure.log" 2>&1
cmake --build "$deps/build-kokkos-kernels" -j "$jobs" >"$deps/kokkos-kernels-build.log"
cmake --install "$deps/build-kokkos-kernels" >/dev/null

rm -rf "$deps/build-kokkos" "$deps/build-kokkos-kernels"
touch "$stamp"
log "done: $prefix"
