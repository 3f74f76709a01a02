#!/usr/bin/env bash
# The 4D-Var example: kelk-4dvar exits 0 and its estimate's rms error is below half the first
# guess's (the assimilation extracted the observations' information).
#   run_4dvar.sh MPIEXEC NP KELK_4DVAR [ARGS...]
set -uo pipefail
mpiexec=$1 np=$2 exe=$3
shift 3
out=$(timeout 240 "$mpiexec" -n "$np" "$exe" "$@" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: kelk-4dvar exited with $rc"; exit 1; }
line=$(grep -o 'rms error of the estimate [0-9.]* (background [0-9.]*)' <<<"$out") ||
  { echo "FAIL: no final error line"; exit 1; }
read -r estimate background < <(sed 's/.*estimate \([0-9.]*\) (background \([0-9.]*\))/\1 \2/' <<<"$line")
if awk -v e="$estimate" -v b="$background" 'BEGIN { exit !(2 * e < b) }'; then
  echo "PASS: rms error $estimate against the first guess's $background"
else
  echo "FAIL: the estimate's error $estimate is not below half the first guess's $background"
  exit 1
fi
