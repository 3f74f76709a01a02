# Helpers shared by the check scripts (check_kokkos4.sh, check_cuda.sh, check_hip.sh,
# gpu_check.sh). Source it after setting `label` (the log prefix) and `repo`:
#   label="kelk cuda"; repo=...; source "$repo/scripts/common.sh"
# shellcheck shell=bash

log() { printf '[%s] %s\n' "$label" "$*"; }
duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# run_logged LOG CMD...: runs CMD with its output in LOG; on failure prints LOG's tail and exits.
run_logged() {
  local logfile=$1
  shift
  if ! "$@" >"$logfile" 2>&1; then
    log "FAILED: $*"
    log "last lines of $logfile:"
    tail -n 60 "$logfile"
    exit 1
  fi
}

# Stage timings, printed when the script exits: stage_done NAME START_SECONDS.
t_start=$SECONDS
timings=()
stage_done() { timings+=("$(printf '%-26s %s' "$1" "$(duration $((SECONDS - $2)))")"); }
print_timings() {
  local line
  for line in "${timings[@]}"; do log "  $line"; done
  log "total time: $(duration $((SECONDS - t_start)))"
}
trap print_timings EXIT

# compiler_launcher_args: CMake arguments that put ccache in front of the compilers when it is
# installed (KELK_CCACHE=0 turns it off). Its cache is ccache's own (CCACHE_DIR; .ci/run keeps
# one under its cache folder).
compiler_launcher_args() {
  if [ "${KELK_CCACHE:-1}" != 0 ] && command -v ccache >/dev/null; then
    printf '%s\n' -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache
  fi
}

# cmake_install NAME SOURCE WORK PREFIX CMAKE_ARGS...: configures SOURCE in WORK/build-NAME
# (Ninja, Release), builds it and installs it into PREFIX, logs in WORK/NAME-*.log; the build
# folder is removed afterwards. Used for Kokkos and Kokkos Kernels by the check scripts.
cmake_install() {
  local name=$1 src=$2 work=$3 prefix=$4
  shift 4
  run_logged "$work/$name-configure.log" cmake -S "$src" -B "$work/build-$name" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" "$@"
  run_logged "$work/$name-build.log" cmake --build "$work/build-$name" -j "$(nproc)"
  run_logged "$work/$name-install.log" cmake --install "$work/build-$name"
  rm -rf "$work/build-$name"
}

# Upstream Kokkos 4 sources (../shared/deps/, see its README): versions, and the check of their
# checksums. kokkos4_sources_present returns 1 (after a message) where they are absent.
kokkos4=kokkos-4.6.01
kernels4=kokkos-kernels-4.6.02
shared_deps=${KELK_SHARED_DEPS:-$repo/../shared/deps}
kokkos4_sources_present() {
  if [ ! -f "$shared_deps/$kokkos4.tar.xz" ] || [ ! -f "$shared_deps/$kernels4.tar.xz" ]; then
    log "skipped: no $shared_deps/$kokkos4.tar.xz and $kernels4.tar.xz (the upstream Kokkos 4 sources)"
    return 1
  fi
}
# unpack_kokkos4 DEST: verifies SHA256SUMS and unpacks both trees into DEST.
unpack_kokkos4() {
  (cd "$shared_deps" && sha256sum --quiet -c SHA256SUMS) || {
    log "ERROR: the tarballs in $shared_deps do not match their SHA256SUMS"
    exit 1
  }
  mkdir -p "$1"
  local t
  for t in $kokkos4 $kernels4; do tar -xJf "$shared_deps/$t.tar.xz" -C "$1"; done
}

# summarize_compile_errors BUILD_LOG DEPS: each distinct compiler error once, after the
# outermost and innermost kelk lines of its instantiation chain when it is reported inside a
# dependency (paths relative to the repository).
summarize_compile_errors() {
  log "failed steps:"
  grep -E '^FAILED: ' "$1" | sort -u || true
  log "errors ([outermost kelk location -> innermost ->] error):"
  awk -v repo="$repo/" -v deps="$2/" '
    function rel(s) { return index(s, repo) == 1 ? substr(s, length(repo) + 1) : s }
    function flush() {
      if (err != "") {
        line = rel(err)
        if (first != "") line = rel(first) " -> " line
        if (last != "" && last != first) line = rel(last) " -> " line
        print substr(line, 1, 500)
      }
      err = ""; first = ""; last = ""
    }
    / (fatal )?error[: ]/ { flush(); err = $0; next }
    /^(FAILED: |\[[0-9]+\/[0-9]+\] |[0-9]+ errors? (generated|detected))/ { flush(); next }
    err != "" && index($0, repo) == 1 && index($0, deps) != 1 && / (note|here|required from)/ {
      sub(/: note:.*/, ""); if (first == "") first = $0; last = $0
    }
    END { flush() }
  ' "$1" | sort | uniq -c | head -n 100 || true
  log "last lines of $1:"
  tail -n 60 "$1"
}
