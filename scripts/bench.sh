#!/usr/bin/env bash
# The benchmark series behind docs/PERFORMANCE.md, on one machine: kelk-bench over threads
# and ranks, then the merged table, the performance model and the plots.
#
#   scripts/bench.sh                 # all series below (about 30 minutes on 2 cores)
#   scripts/bench.sh default         # only the default sweep (a few minutes)
#   scripts/bench.sh targets         # only the targets (GRU D=64 T=1e6) at 1/2 threads, 2 ranks
#   scripts/bench.sh scaling         # only the strong/weak series (1..KELK_MAX_RANKS ranks)
#   scripts/bench.sh block_jacobi    # only block_jacobi's targets F1-F2 (1, 2 threads; 2, 4 ranks)
#   scripts/bench.sh sequential      # only kelk's sequential against the hand-written loop and the
#                                    # dgemm rate (GRU, Elman; one thread)
#   scripts/bench.sh report          # only re-make table, model and plots from the CSVs
#
# Environment: KELK_BUILD_DIR (default build), KELK_BENCH_OUT (default bench-results/local),
# KELK_MAX_RANKS (default 4; ranks beyond the cores are oversubscribed and show the cost of
# the cross-rank scan), KELK_REPEATS (default 3).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KELK_BUILD_DIR:-$repo/build}
out=${KELK_BENCH_OUT:-$repo/bench-results/local}
max_ranks=${KELK_MAX_RANKS:-4}
repeats=${KELK_REPEATS:-3}
bench=$build/apps/kelk-bench
py=/usr/bin/python3
what=${1:-all}
mkdir -p "$out"
export OMP_PLACES=threads
# oversubscription and root runs are fine for a benchmark on one machine
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores=$(nproc)

run() {  # run RANKS THREADS FILE ARGS...: one kelk-bench job, appending to FILE
  local ranks=$1 threads=$2 file=$3
  shift 3
  echo "== $ranks rank(s) x $threads thread(s): $*"
  # Pinning: each rank gets its own cores (OpenMP then spreads its threads inside them); with
  # more ranks x threads than cores nothing is pinned, or every rank would pin to core 0.
  local pin=(--bind-to core --map-by "slot:PE=$threads") bind=spread
  if ((ranks * threads > cores)); then pin=(--bind-to none); bind=false; fi
  OMP_PROC_BIND=$bind mpirun -np "$ranks" "${pin[@]}" "$bench" --repeats "${reps:-$repeats}" \
    --out "$out/$file" "$@" --kokkos-num-threads="$threads"
}

if [ "$what" = all ] || [ "$what" = default ]; then
  rm -f "$out"/default_*.csv "$out"/history.csv
  run 1 "$cores" "default_r1_t${cores}.csv" --sweep default --history "$out/history.csv"
fi
if [ "$what" = all ] || [ "$what" = targets ]; then
  rm -f "$out"/targets_*.csv
  # T = 1e6: two timed runs per case
  reps=2 run 1 1 targets_r1_t1.csv --sweep targets
  reps=2 run 1 "$cores" "targets_r1_t${cores}.csv" --sweep targets
  reps=2 run "$cores" 1 "targets_r${cores}_t1.csv" --sweep targets
fi
if [ "$what" = all ] || [ "$what" = sequential ]; then
  rm -f "$out"/sequential_*.csv
  run 1 1 sequential_r1_t1.csv --sweep sequential
fi
if [ "$what" = all ] || [ "$what" = block_jacobi ]; then
  rm -f "$out"/block_jacobi_*.csv
  # the argru map reads the shipped weights relative to the repository
  cd "$repo"
  reps=2 run 1 1 block_jacobi_r1_t1.csv --sweep block_jacobi
  reps=2 run 1 "$cores" "block_jacobi_r1_t${cores}.csv" --sweep block_jacobi
  reps=2 run "$cores" 1 "block_jacobi_r${cores}_t1.csv" --sweep block_jacobi
  # oversubscribed ranks: the cost of the exchanges
  reps=2 run 4 1 block_jacobi_r4_t1.csv --sweep block_jacobi
fi
if [ "$what" = all ] || [ "$what" = scaling ]; then
  rm -f "$out"/strong_*.csv "$out"/weak_*.csv
  for ((r = 1; r <= max_ranks; r *= 2)); do
    run "$r" 1 "strong_r${r}_t1.csv" --methods quasi_deer,deer --T 200000 --D 32
    run "$r" 1 "weak_r${r}_t1.csv" --methods quasi_deer,deer --T $((100000 * r)) --D 32
  done
fi
# the report: block_jacobi's model (F4), merged table, model, plots
if compgen -G "$out/block_jacobi_*.csv" >/dev/null; then
  "$py" "$repo/scripts/block_jacobi_model.py" "$out"/block_jacobi_*.csv \
    --markdown "$out/block_jacobi_model.md" --figure "$repo/docs/figures/block_jacobi_model.png" \
    --deer-family "$repo/docs/PERFORMANCE.md"
fi
results=("$out"/*_r*_t*.csv)  # the kelk-bench result files (not history.csv, not all.csv)
"$py" "$repo/scripts/collect_bench.py" -o "$out/all.csv" --markdown "$out/table.md" "${results[@]}"
"$py" "$repo/scripts/perf_model.py" "$out/all.csv" --markdown "$out/model.md" --json "$out/model.json" \
  --predict-ranks 1,2,4,...,4096
history=()  # the convergence figure needs the default series' history
[ -f "$out/history.csv" ] && history=(--history "$out/history.csv")
"$py" "$repo/scripts/plot_bench.py" --results "$out/all.csv" "${history[@]}" \
  --outdir "$repo/docs/figures"
