#!/usr/bin/env bash
# An installed kelk stands on its own: installs the build folder (KELK_BUILD_DIR, default
# <repo>/build) into a scratch prefix with the Kokkos, Kokkos Kernels and Sacado that the set-up
# built (KELK_INSTALL_DEPENDENCIES), moves the prefix, hides the clone's .deps/ and build folder
# (renamed, and renamed back on exit, whatever happens), then configures, builds and runs the
# consumer project tests/package against the moved prefix; where the set-up made the Python
# virtual environment (.venv/), also `pip install` of the clone (scikit-build-core driving kelk's
# CMake) into a scratch environment against the moved prefix's Kokkos, and pytest on that copy.
# Run it when nothing else uses the build (.ci/run runs it last).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${KELK_BUILD_DIR:-$repo/build}
work=$(mktemp -d "${TMPDIR:-/tmp}/kelk-install.XXXXXX")
label="kelk install"
# shellcheck source=common.sh
source "$repo/scripts/common.sh"

hidden=()
restore() {
  local d
  for d in "${hidden[@]}"; do mv "$d.hidden-by-check-install" "$d"; done
  rm -rf "$work"
  print_timings
}
trap restore EXIT

cmake --install "$build_dir" --prefix "$work/installed" >"$work/install.log"
mv "$work/installed" "$work/prefix"
for d in "$repo/.deps" "$build_dir"; do
  if [ -e "$d" ]; then
    mv "$d" "$d.hidden-by-check-install"
    hidden+=("$d")
  fi
done
log "installed into a prefix moved to $work/prefix; hidden: ${hidden[*]}"
run_logged "$work/consumer.log" cmake -S "$repo/tests/package" -B "$work/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release
run_logged "$work/consumer-build.log" cmake --build "$work/build"
OMP_PROC_BIND=false "$work/build/consumer"
# the C API and the Fortran module from a plain Makefile, with pkg-config (kelk.pc,
# kelk-fortran.pc) and MPI's compiler wrappers; each example run at 2 ranks
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
run_logged "$work/makefile.log" env PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" \
  make -f "$repo/tests/package/Makefile" SRC="$repo" OUT="$work"
run_logged "$work/c.log" env OMP_NUM_THREADS=1 OMP_PROC_BIND=false \
  mpirun -np 2 "$work/fitzhugh_nagumo" 500
run_logged "$work/fortran.log" env OMP_NUM_THREADS=1 OMP_PROC_BIND=false \
  mpirun -np 2 "$work/lorenz96_fortran" 200
log "OK: the consumer builds and runs against the moved prefix without the clone's .deps/ and build;"
log "    the C and Fortran examples build from a Makefile with pkg-config and pass at 2 ranks"
if [ -x "$repo/.venv/bin/python" ]; then
  # --no-build-isolation: nanobind and scikit-build-core from the scratch environment itself
  run_logged "$work/venv.log" /usr/bin/python3 -m venv --system-site-packages "$work/venv"
  run_logged "$work/pip-tools.log" "$work/venv/bin/python" -m pip install "nanobind>=2.0" \
    "scikit-build-core>=0.10"
  launcher_define=()
  command -v ccache >/dev/null && [ "${KELK_CCACHE:-1}" != 0 ] &&
    launcher_define=(--config-settings=cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache)
  run_logged "$work/pip-install.log" env Kokkos_ROOT="$work/prefix" \
    "$work/venv/bin/python" -m pip install --no-build-isolation "$repo" \
    --config-settings=build-dir="$work/pip-build" "${launcher_define[@]}"
  # from outside the clone: `import kelk` is the installed copy
  (cd "$work" && run_logged "$work/pytest.log" env OMP_PROC_BIND=false OMP_NUM_THREADS=2 \
    "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/tests/python")
  tail -n 1 "$work/pytest.log"
  log "OK: pip install of the clone against the moved prefix's Kokkos; pytest passes on it"
fi
