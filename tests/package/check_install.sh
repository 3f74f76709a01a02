#!/usr/bin/env bash
# Installs the kelk build tree into a scratch prefix, then configures, builds and runs the
# consumer project against it with find_package(kelk).
set -euo pipefail
build_dir=$1 src_dir=$2 work=$3
rm -rf "$work"
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$src_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/build"
OMP_PROC_BIND=false "$work/build/consumer"
