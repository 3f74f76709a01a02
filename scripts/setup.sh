#!/usr/bin/env bash
# Sets up everything kelk needs on a Debian machine and builds it; safe to rerun
# (each step is skipped when its result is already there).
#
#   scripts/setup.sh            install packages, build Kokkos (and install Sacado's headers)
#                               if needed, build kelk in build/
#   scripts/setup.sh TARGET...  the same, but build only these CMake targets (and what they
#                               need), e.g. kelk-demo: what scripts/demo.sh does
#
# Environment:
#   Kokkos_ROOT       use this Kokkos (e.g. a CUDA/HIP build on a cluster) instead of building one
#   Sacado_ROOT       use this Sacado (its include/ or include/sacado holds Sacado.hpp)
#   KELK_BUILD_DIR    build folder (default: <repo>/build)
#   KELK_BUILD_TYPE   CMAKE_BUILD_TYPE (default: Release)
#   KELK_CMAKE_ARGS   extra arguments for the kelk configure step
#   KELK_CCACHE       0: do not put ccache (installed here) in front of the compilers
#   KELK_KOKKOS       "openmp" (default): build Kokkos+OpenMP from Debian's trilinos source
#                     into .deps/; "system": use Debian's Serial-only Kokkos package
#   KELK_PYTHON       1 (default): build the Python package (and test it) with a virtual
#                     environment in .venv/; 0: no Python
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${KELK_BUILD_DIR:-$repo/build}
build_type=${KELK_BUILD_TYPE:-Release}
jobs=$(nproc)

label="kelk setup"
# shellcheck source=common.sh
source "$repo/scripts/common.sh"

# --- 1. Debian packages -------------------------------------------------------
packages=(
  build-essential cmake ninja-build pkg-config ccache patch
  libtrilinos-kokkos-dev libtrilinos-kokkos-kernels-dev libblas-dev liblapack-dev
  libopenblas-openmp-dev
  catch2 libcli11-dev libtoml11-dev nlohmann-json3-dev
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  gfortran  # the Fortran module (use kelk) and its examples
  python3-numpy python3-h5py python3-matplotlib
  liblbfgs-dev  # L-BFGS for the 4D-Var example (apps/kelk_4dvar.cpp)
  # SLURM and MUNGE (what Debian's slurm-wlm metapackage pulls in) for the one-node cluster
  # test of scripts/slurm/ (ctest -L slurm), which runs its own private daemons. Installing
  # them starts no SLURM daemon: their units and init scripts need /etc/slurm/slurm.conf,
  # which is not created. Under a running systemd the system munged is enabled and started
  # (harmless; the test uses its own); in a container without an init system none starts.
  slurmctld slurmd slurm-client munge
)
python=${KELK_PYTHON:-1}
# The Python package (src/python, tests/python) for Debian's Python 3.11: its torch (1.13, a
# 175 MB download, where the index's current wheel is ~3 GB with CUDA libraries), pytest and
# mpi4py (built against Debian's OpenMPI, which kelk uses); nanobind and scikit-build-core come
# from the package index into .venv/ (below), which sees these through --system-site-packages.
[ "$python" = 1 ] && packages+=(python3-dev python3-venv python3-pytest python3-torch python3-mpi4py)
bash "$repo/scripts/install_packages.sh" "kelk setup" "${packages[@]}"

# --- 2. Kokkos ----------------------------------------------------------------
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE="$build_type")
mapfile -t launcher < <(compiler_launcher_args)
cmake_args+=("${launcher[@]}")
if [ -n "${Kokkos_ROOT:-}" ]; then
  log "Kokkos: using Kokkos_ROOT=$Kokkos_ROOT"
elif [ "${KELK_KOKKOS:-openmp}" = system ]; then
  log "Kokkos: using Debian's Serial-only package (KELK_KOKKOS=system)"
  cmake_args+=(-DKELK_DEPS_PREFIX=/nonexistent)
elif "$repo/scripts/build_kokkos.sh"; then
  :
else
  # CI must see it: a fallback there would test the Serial-only Kokkos and pass
  [ "${CI:-}" = true ] && { log "ERROR: building Kokkos with OpenMP failed (CI)"; exit 1; }
  log "WARNING: building Kokkos with OpenMP failed; falling back to Debian's Serial-only Kokkos"
fi
# Sacado (optional, header-only: kelk_autodiff.hpp's automatic Jacobians), from the same
# trilinos source package, into <deps>/install/include/sacado (a folder of Sacado's headers
# only, so usable with any Kokkos, Debian's too: hence Sacado_ROOT).
if "$repo/scripts/build_sacado.sh"; then
  [ -n "${Sacado_ROOT:-}" ] || cmake_args+=(-DSacado_ROOT="${KELK_DEPS_DIR:-$repo/.deps}/install")
else
  [ "${CI:-}" = true ] && { log "ERROR: installing Sacado's headers failed (CI)"; exit 1; }
  log "WARNING: installing Sacado's headers failed; kelk builds without kelk_autodiff.hpp"
fi

# --- 3. Python ----------------------------------------------------------------
if [ "$python" = 1 ]; then
  venv=$repo/.venv
  if [ ! -x "$venv/bin/python" ]; then
    log "creating the virtual environment $venv (Debian's Python with its numpy and torch)"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
  fi
  if ! "$venv/bin/python" -c 'import nanobind, scikit_build_core' 2>/dev/null; then
    log "installing nanobind and scikit-build-core into $venv"
    "$venv/bin/python" -m pip install -q "nanobind>=2.0" "scikit-build-core>=0.10"
  fi
  cmake_args+=(-DKELK_ENABLE_PYTHON=ON -DPython_EXECUTABLE="$venv/bin/python")
  # a build folder configured without Python is configured again
  if [ -f "$build_dir/CMakeCache.txt" ] &&
    ! grep -q '^KELK_ENABLE_PYTHON:BOOL=ON' "$build_dir/CMakeCache.txt"; then
    rm -f "$build_dir/build.ninja"
  fi
fi

# --- 4. kelk ------------------------------------------------------------------
# shellcheck disable=SC2206
extra=(${KELK_CMAKE_ARGS:-})
if [ ! -f "$build_dir/build.ninja" ] || ((${#extra[@]})); then
  log "configuring kelk in $build_dir"
  cmake -S "$repo" -B "$build_dir" "${cmake_args[@]}" "${extra[@]}"
fi
targets=()
(($#)) && targets=(--target "$@")
log "building kelk${targets[*]:+ (${*})}"
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
