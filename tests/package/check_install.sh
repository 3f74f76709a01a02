#!/usr/bin/env bash
# Installs the kelk build tree into a scratch prefix and moves the prefix elsewhere, then
# configures, builds and runs the consumer project against the moved prefix with
# find_package(kelk).
#
#   check_install.sh BUILD_DIR CONSUMER_SRC WORK [DEPS_DIR]
#
# With DEPS_DIR (the source tree's .deps/, given when kelk installs the dependencies its set-up
# built there), the consumer's configuration and build commands must not name it: the installed
# kelk then stands on its own (scripts/check_install.sh also hides .deps/ and the build to
# prove it).
set -euo pipefail
build_dir=$1 src_dir=$2 work=$3 deps_dir=${4:-}
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build_dir" --prefix "$work/installed" >/dev/null
mv "$work/installed" "$work/prefix"
cmake -S "$src_dir" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/build"
if [ -n "$deps_dir" ]; then
  if grep -l "$deps_dir" "$work/build/CMakeCache.txt" "$work/build/build.ninja"; then
    echo "check_install: the consumer of the installed kelk still uses $deps_dir (above)" >&2
    grep -ho "[^ ;\"]*$deps_dir[^ ;\"]*" "$work/build/CMakeCache.txt" "$work/build/build.ninja" | sort -u | head >&2
    exit 1
  fi
  echo "check_install: nothing of $deps_dir is used by the consumer"
fi
OMP_PROC_BIND=false "$work/build/consumer"
