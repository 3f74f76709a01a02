#!/usr/bin/env bash
# Set everything up (scripts/setup.sh) and run the whole test suite with CTest.
# Extra arguments go to ctest (e.g. -R scan, -L long).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/setup.sh"
build_dir=${KELK_BUILD_DIR:-$repo/build}
exec ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@"
