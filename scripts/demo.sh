#!/usr/bin/env bash
# The main job: set everything up (scripts/setup.sh, building only the library and kelk-demo;
# scripts/test.sh builds the rest) and run the demo, a built-in GRU (B = 1, D = 32, T = 100000,
# fp64) evaluated with every method against the sequential loop.
# Extra arguments go to kelk-demo (see `build/apps/kelk-demo --help`).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# (the Python package is not needed for the demo: its packages are installed by test.sh)
KELK_PYTHON=${KELK_PYTHON:-0} "$repo/scripts/setup.sh" kelk-demo
build_dir=${KELK_BUILD_DIR:-$repo/build}
export OMP_PROC_BIND=${OMP_PROC_BIND:-spread} OMP_PLACES=${OMP_PLACES:-threads}
exec "$build_dir/apps/kelk-demo" "$@"
