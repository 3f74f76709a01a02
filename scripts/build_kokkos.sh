#!/usr/bin/env bash
# Builds Kokkos and Kokkos Kernels with the OpenMP (and Serial) backends into
# <repo>/.deps/install, from the Kokkos 3.4.1 sources inside Debian's `trilinos`
# source package. Debian's binary Kokkos package has the Serial backend only.
#
# The source package is fetched with a private apt configuration whose sources are
# this machine's own Debian sources turned into deb-src entries, so nothing here
# names a package server and the system's apt state is left untouched.
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

# --- fetch Debian's trilinos source package --------------------------------------
apt_dir=$deps/apt
src_dir=$deps/src
mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,sources.list.d,preferences.d} "$src_dir"
tarball=$(ls "$src_dir"/trilinos_*.orig.tar.* 2>/dev/null | head -n 1 || true)
if [ -z "$tarball" ]; then
  : >"$apt_dir/sources.list.d/deb-src.sources"
  found=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -e 's/^Types:.*/Types: deb-src/' "$f" >>"$apt_dir/sources.list.d/deb-src.sources"
    printf '\n' >>"$apt_dir/sources.list.d/deb-src.sources"
    found=1
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >"$apt_dir/sources.list.d/deb-src.list" || true
    [ -s "$apt_dir/sources.list.d/deb-src.list" ] && found=1
  fi
  if [ "$found" -eq 0 ]; then
    log "no apt sources found in /etc/apt"; exit 1
  fi
  cat >"$apt_dir/apt.conf" <<CONF
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$apt_dir/sources.list.d";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "$apt_dir/preferences.d";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
APT::Sandbox::User "root";
CONF
  log "fetching Debian's trilinos source package"
  APT_CONFIG=$apt_dir/apt.conf apt-get -q update >/dev/null
  (cd "$src_dir" && APT_CONFIG=$apt_dir/apt.conf apt-get -q source --download-only trilinos >/dev/null)
  tarball=$(ls "$src_dir"/trilinos_*.orig.tar.* | head -n 1)
fi

# --- unpack only Kokkos and Kokkos Kernels ----------------------------------------
pkgs=$(ls -d "$src_dir"/*/packages 2>/dev/null | head -n 1 || true)
if [ -z "$pkgs" ] || [ ! -f "$pkgs/kokkos-kernels/CMakeLists.txt" ]; then
  log "unpacking Kokkos and Kokkos Kernels from $(basename "$tarball")"
  tar -xzf "$tarball" -C "$src_dir" --wildcards '*/packages/kokkos/*' '*/packages/kokkos-kernels/*'
  pkgs=$(ls -d "$src_dir"/*/packages | head -n 1)
fi

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
