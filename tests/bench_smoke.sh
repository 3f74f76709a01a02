#!/usr/bin/env bash
# kelk-bench smoke test: a tiny sweep over every method and built-in map at NP ranks, checked
# by tests/check_bench.py against the sequential baseline; then the report scripts on it.
#   bench_smoke.sh KELK_BENCH MPIEXEC NP WORKDIR SCRIPTS_DIR
set -euo pipefail
bench=$1 mpiexec=$2 np=$3 work=$4 scripts=$5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3
rm -rf "$work" && mkdir -p "$work"
"$mpiexec" -np "$np" "$bench" --maps gru,elman --precision fp64,fp32 --T 300 --D 6 \
  --methods sequential,jacobi,deer,quasi_deer,elk,quasi_elk,block_jacobi --blocks 3 --repeats 2 --warmup 1 \
  --out "$work/strong_r${np}_t1.csv" --history "$work/history.csv"
# Lorenz-96 is chaotic: the damped methods need more than T iterations over long horizons
"$mpiexec" -np "$np" "$bench" --maps lorenz96 --precision fp64 --T 100 --D 6 \
  --methods sequential,deer,quasi_deer --repeats 1 --warmup 0 \
  --out "$work/strong_r${np}_t1.csv" --history "$work/history.csv"
"$mpiexec" -np "$np" "$bench" --maps gru --T 200 --D 4 --methods quasi_deer --repeats 1 \
  --format json --out "$work/results.json"
"$py" "$here/check_bench.py" "$work/strong_r${np}_t1.csv" "$work/results.json" "$work/history.csv" "$np"
"$py" "$scripts/collect_bench.py" -o "$work/all.csv" --markdown "$work/table.md" "$work/strong_r${np}_t1.csv"
# the model is fitted from one-rank rows
if [ "$np" = 1 ]; then "$py" "$scripts/perf_model.py" "$work/all.csv" --markdown "$work/model.md" >/dev/null; fi
"$py" "$scripts/plot_bench.py" --results "$work/all.csv" --history "$work/history.csv" --outdir "$work/figures"
ls "$work/figures"/convergence.png >/dev/null
