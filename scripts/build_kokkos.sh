#!/usr/bin/env bash
# Builds Kokkos and Kokkos Kernels with the OpenMP (and Serial) backends into
# <repo>/.deps/install, from the Kokkos 3.4.1 sources inside Debian's `trilinos`
# source package. Debian's binary Kokkos package has the Serial backend only.
#
# The sources come from scripts/fetch_kokkos_source.sh (a private apt configuration
# built from this machine's own Debian sources; the system's apt state is left untouched).
# Skipped when the install prefix is already complete for the same architecture.
#
# Architecture: Kokkos is configured for the CPU this script runs on (the option
# scripts/host_kokkos_arch.sh detects), so that its target Kokkos::kokkos carries the
# vector-ISA flags (e.g. -march=core-avx2) into every kelk kernel; kelk adds no -march itself.
#   KELK_KOKKOS_ARCH=<name>   use Kokkos' option Kokkos_ARCH_<name> instead (SKX, ZEN3, HSW,
#                             BDW, ...): e.g. on a login node, for the cluster's compute nodes
#   KELK_KOKKOS_ARCH=none     no architecture flags (portable x86-64 code, SSE2 only)
# Changing it rebuilds Kokkos (then kelk's build reconfigures by itself).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=${KELK_DEPS_DIR:-$repo/.deps}
mkdir -p "$deps"
prefix=$deps/install
jobs=$(nproc)
log() { printf '[kelk kokkos] %s\n' "$*"; }

arch=${KELK_KOKKOS_ARCH:-$(bash "$repo/scripts/host_kokkos_arch.sh")}
arch=$(printf '%s' "$arch" | tr '[:lower:]' '[:upper:]')
if ! [[ $arch =~ ^[A-Z0-9_]+$ ]]; then
  log "ERROR: KELK_KOKKOS_ARCH='$arch' is not a Kokkos architecture name (e.g. SKX, ZEN3, HSW, none)"
  exit 1
fi
arch_args=()
[ "$arch" = NONE ] || arch_args=(-DKokkos_ARCH_"$arch"=ON)
stamp=$prefix/.kelk-kokkos-openmp-3.4.1-blas-arch-$arch

if [ -f "$stamp" ]; then
  log "Kokkos+OpenMP already built in $prefix (architecture: $arch)"
  exit 0
fi
rm -f "$prefix"/.kelk-kokkos-openmp-3.4.1-blas*  # a build for another architecture

# --- Kokkos and Kokkos Kernels sources (Debian's trilinos source package) ---------
pkgs=$(KELK_DEPS_DIR=$deps bash "$repo/scripts/fetch_kokkos_source.sh")

if [ "$arch" != NONE ] && ! grep -q "KOKKOS_ARCH_OPTION($arch " "$pkgs/kokkos/cmake/kokkos_arch.cmake"; then
  known=$(sed -n 's/^KOKKOS_ARCH_OPTION(\([A-Z0-9_]*\) *HOST.*/\1/p' "$pkgs/kokkos/cmake/kokkos_arch.cmake" | tr '\n' ' ')
  log "ERROR: KELK_KOKKOS_ARCH=$arch is not a host architecture of Kokkos 3.4; known: ${known}none"
  exit 1
fi

# --- build -------------------------------------------------------------------------
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
log "building Kokkos (OpenMP + Serial, architecture: $arch) into $prefix"
rm -rf "$deps/build-kokkos" "$deps/build-kokkos-kernels"
if ! cmake -S "$pkgs/kokkos" -B "$deps/build-kokkos" "${gen[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_CXX_STANDARD=17 -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON "${arch_args[@]}" \
  >"$deps/kokkos-configure.log" 2>&1; then
  log "ERROR: configuring Kokkos failed (architecture: $arch); see $deps/kokkos-configure.log"
  tail -n 20 "$deps/kokkos-configure.log" >&2
  exit 1
fi
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
