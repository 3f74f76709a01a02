#!/usr/bin/env bash
# Fetches the Kokkos 3.4.1 and Kokkos Kernels 3.4.1 sources from Debian's `trilinos` source
# package into <root>/src (root: $KELK_SRC_DIR, else $KELK_DEPS_DIR, else <repo>/.deps; .ci/run
# sets KELK_SRC_DIR to its cache so that it is fetched once for every build), unpacks only
# packages/kokkos, packages/kokkos-kernels and packages/sacado (Sacado 13.2, the same Trilinos
# release as that Kokkos: header-only forward-mode AD, see scripts/build_sacado.sh), and prints
# the unpacked `packages` directory on stdout (progress goes to stderr). Used by
# scripts/build_kokkos.sh, scripts/build_sacado.sh and scripts/check_hip.sh.
#
# The source package is fetched with a private apt configuration whose sources are
# this machine's own Debian sources turned into deb-src entries, so nothing here
# names a package server and the system's apt state is left untouched.
# Each step is skipped when its result is already there.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=${KELK_SRC_DIR:-${KELK_DEPS_DIR:-$repo/.deps}}
log() { printf '[kelk kokkos] %s\n' "$*" >&2; }

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
# --- and Sacado (an older unpacked tree may lack it) -------------------------------
if [ ! -f "$pkgs/sacado/src/Sacado.hpp" ]; then
  log "unpacking Sacado from $(basename "$tarball")"
  tar -xzf "$tarball" -C "$src_dir" --wildcards '*/packages/sacado/*'
fi

printf '%s\n' "$pkgs"
