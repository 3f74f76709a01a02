#!/usr/bin/env bash
# Compile-only check of kelk on Kokkos's HIP (AMD GPU) backend, on a machine without a GPU.
#
#   scripts/check_hip.sh
#
# 1. installs Debian's HIP compiler and runtime (hipcc, libamdhip64-dev, rocm-device-libs)
#    and kelk's build prerequisites, when missing;
# 2. builds Kokkos 3.4.1 (HIP for gfx908 / MI100 + Serial) and Kokkos Kernels 3.4.1 (no
#    pre-instantiated kernels, no TPLs) from Debian's trilinos source package into
#    <deps>/hip/install (deps: $KELK_DEPS_DIR, default <repo>/.deps);
# 3. installs Sacado's headers (scripts/build_sacado.sh) into the same prefix;
# 4. configures and builds all of kelk (library, apps, tests; MPI, HDF5 and Sacado on) with hipcc in
#    <repo>/build-hip ($KELK_HIP_BUILD_DIR), and fails on any compile error.
# Nothing is run: without an AMD GPU anything that initialises Kokkos aborts (hipErrorNoDevice).
# Safe to rerun: Kokkos and Kokkos Kernels are rebuilt only when their stamp files are missing,
# and kelk's build is incremental. Logs: <deps>/hip/*.log.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
label="kelk hip"
# shellcheck source=common.sh
source "$repo/scripts/common.sh"
deps=${KELK_DEPS_DIR:-$repo/.deps}
hip=$deps/hip
prefix=$hip/install
build_dir=${KELK_HIP_BUILD_DIR:-$repo/build-hip}
jobs=$(nproc)
kokkos_arch=VEGA908
amdgpu_target=gfx908
kokkos_stamp=$prefix/.kelk-kokkos-hip-3.4.1-$amdgpu_target
kernels_stamp=$prefix/.kelk-kokkos-kernels-hip-3.4.1-$amdgpu_target
# hipcc asks rocm_agent_enumerator for the GPU when it is given no target; without a GPU that
# prints a (harmless) Python traceback. Name the target instead.
export HCC_AMDGPU_TARGET=$amdgpu_target

mkdir -p "$hip"

# --- 1. Debian packages -------------------------------------------------------
t=$SECONDS
packages=(
  hipcc libamdhip64-dev rocm-device-libs
  build-essential cmake ninja-build ccache
  catch2 libcli11-dev libtoml11-dev nlohmann-json3-dev libopenmpi-dev libhdf5-openmpi-dev
)
bash "$repo/scripts/install_packages.sh" "kelk hip" "${packages[@]}"
hipcc_bin=$(command -v hipcc)
mapfile -t launcher < <(compiler_launcher_args)
stage_done "packages" "$t"

# --- 2. Kokkos and Kokkos Kernels with HIP ------------------------------------
gen=(-G Ninja)
if [ ! -f "$kokkos_stamp" ] || [ ! -f "$kernels_stamp" ]; then
  pkgs=$(KELK_DEPS_DIR=$deps bash "$repo/scripts/fetch_kokkos_source.sh")
fi

# build_and_install PACKAGE CMAKE_ARGS...: <pkgs>/PACKAGE built with hipcc into the prefix
build_and_install() {
  local name=$1
  shift
  cmake_install "$name" "$pkgs/$name" "$hip" "$prefix" -DCMAKE_CXX_COMPILER="$hipcc_bin" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON "$@"
}

t=$SECONDS
if [ -f "$kokkos_stamp" ]; then
  log "Kokkos (HIP $amdgpu_target + Serial) already built in $prefix"
else
  rm -f "$kernels_stamp"  # Kokkos Kernels must be rebuilt against a new Kokkos
  log "building Kokkos (HIP $amdgpu_target + Serial) into $prefix (log: $hip/kokkos-build.log)"
  build_and_install kokkos -DCMAKE_CXX_STANDARD=17 \
    -DKokkos_ENABLE_HIP=ON -DKokkos_ARCH_"$kokkos_arch"=ON -DKokkos_ENABLE_SERIAL=ON
  touch "$kokkos_stamp"
fi
stage_done "Kokkos (HIP)" "$t"

t=$SECONDS
if [ -f "$kernels_stamp" ]; then
  log "Kokkos Kernels (HIP) already built in $prefix"
else
  log "building Kokkos Kernels (HIP; no pre-instantiated kernels) into $prefix (log: $hip/kokkos-kernels-build.log)"
  build_and_install kokkos-kernels -DCMAKE_PREFIX_PATH="$prefix" -DKokkos_ROOT="$prefix" \
    -DKokkosKernels_ADD_DEFAULT_ETI=OFF -DKokkosKernels_INST_DOUBLE=OFF -DKokkosKernels_INST_FLOAT=OFF \
    -DKokkosKernels_INST_LAYOUTLEFT=OFF -DKokkosKernels_INST_LAYOUTRIGHT=OFF \
    -DKokkosKernels_INST_OFFSET_INT=OFF -DKokkosKernels_INST_OFFSET_SIZE_T=OFF \
    -DKokkosKernels_INST_ORDINAL_INT=OFF
  touch "$kernels_stamp"
fi
stage_done "Kokkos Kernels (HIP)" "$t"

# Sacado's headers (kelk_autodiff.hpp) into the HIP prefix, so that the AD code is compiled for
# HIP too; they hold no Kokkos headers, and Sacado_config.h is the same for every backend.
t=$SECONDS
run_logged "$hip/sacado-install.log" env KELK_DEPS_DIR="$deps" bash "$repo/scripts/build_sacado.sh" "$prefix"
stage_done "Sacado headers" "$t"

# --- 3. kelk ------------------------------------------------------------------
# KELK_DEPS_PREFIX=/nonexistent: never pick up the OpenMP build of scripts/build_kokkos.sh.
# Test discovery defaults to "parse" for a device backend: the device test binary is never run.
t=$SECONDS
log "configuring kelk in $build_dir (log: $hip/kelk-configure.log)"
run_logged "$hip/kelk-configure.log" \
  cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER="$hipcc_bin" \
  -DKokkos_ROOT="$prefix" -DKELK_DEPS_PREFIX=/nonexistent -DSacado_ROOT="$prefix" -DKELK_ENABLE_SACADO=ON "${launcher[@]}"
grep -E 'kelk: (Kokkos (backends|[0-9])|Sacado)' "$hip/kelk-configure.log" || true
log "building kelk with hipcc (log: $hip/kelk-build.log)"
# -k 0: compile everything that can be compiled, so that one run reports every error.
if ! cmake --build "$build_dir" -j "$jobs" -- -k 0 >"$hip/kelk-build.log" 2>&1; then
  log "FAILED: kelk does not build with Kokkos's HIP backend"
  summarize_compile_errors "$hip/kelk-build.log" "$deps"
  stage_done "kelk (hipcc), FAILED" "$t"
  exit 1
fi
stage_done "kelk (hipcc)" "$t"

log "OK: kelk builds with Kokkos's HIP backend ($amdgpu_target), in $build_dir"
