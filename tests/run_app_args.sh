#!/usr/bin/env bash
# Every app's command line by kelk-run's rules (issue 28, items 2, 5, 6; apps/common/cli.hpp):
# an unknown option, a stray argument, an empty value, a number that is NaN, Inf or out of range,
# and a misspelt Kokkos flag each exit 1 at once (the MPI apps at 1 and 2 ranks) with exactly
# one line "APP: error: ..." naming the option, and no long number in it.
#   run_app_args.sh MPIEXEC WORK_DIR APP=PATH...   (APP: kelk-4dvar, kelk-bench, kelk-demo,
#   kelk-generate, kelk-argru, kelk-autodiff-example; the apps not built are left out)
set -uo pipefail
mpiexec=$1 work=$2
shift 2
declare -A path
for a in "$@"; do path[${a%%=*}]=${a#*=}; done
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export OMP_NUM_THREADS=1 OMP_PROC_BIND=false

failures=0
# expect APP MESSAGE [arguments...]: the MPI apps (kelk-4dvar, kelk-bench) at 1 and 2 ranks
expect() {
  local app=$1 message=$2
  shift 2
  [ -n "${path[$app]:-}" ] || return 0
  local counts="0" np
  case $app in kelk-4dvar | kelk-bench) counts="1 2" ;; esac
  for np in $counts; do
    local log=$app.$np.log start=$SECONDS
    if [ "$np" = 0 ]; then
      timeout 60 "${path[$app]}" "$@" >"$log" 2>&1
    else
      timeout 60 "$mpiexec" -n "$np" "${path[$app]}" "$@" >"$log" 2>&1
    fi
    local rc=$? problems="" where="np $np"
    [ "$np" = 0 ] && where="no launcher"
    [ "$rc" -eq 1 ] || problems+=" exit $rc, not 1;"
    grep -qF -- "$message" "$log" || problems+=" no message '$message';"
    [ "$(grep -c "^$app: error" "$log")" -eq 1 ] || problems+=" not exactly one error line;"
    grep -qE '[0-9]{20}' "$log" && problems+=" a number of 20 digits or more;"
    grep -q "L-BFGS\|wrote \|^method " "$log" && problems+=" it ran;"
    if [ -n "$problems" ]; then
      echo "FAIL $app $* ($where):$problems"
      sed 's/^/    /' "$log"
      failures=$((failures + 1))
    else
      echo "ok   $app $* ($where, $((SECONDS - start)) s): $(grep "^$app: error" "$log")"
    fi
  done
}

# the rules every app shares
for app in kelk-4dvar kelk-bench kelk-demo kelk-generate kelk-argru kelk-autodiff-example; do
  expect $app "unknown option '--bogus'" --bogus
  expect $app "unexpected argument 'stray'" stray
  expect $app "unknown Kokkos option '--kokkos-thread'" --kokkos-thread=2
  expect $app "Kokkos option '--kokkos-threads' needs a positive integer" --kokkos-threads 2
  expect $app "Kokkos option '--kokkos-num-threads=0' needs a positive integer" --kokkos-num-threads=0
done

# kelk-4dvar (item 5)
expect kelk-4dvar "--seed: expects an integer >= 0, got '-1'" --seed -1
expect kelk-4dvar "--dt: expects a finite number, got 'nan'" --dt nan
expect kelk-4dvar "--F: expects a finite number, got 'nan'" --F nan
expect kelk-4dvar "--F: expects a finite number, got 'inf'" --F inf
expect kelk-4dvar "--obs-noise: expects a finite number, got 'nan'" --obs-noise nan
expect kelk-4dvar "--background-noise: must be > 0, got 0" --background-noise 0
expect kelk-4dvar "--D: must be between 4 and 100000, got 3" --D 3
expect kelk-4dvar "--D: must be between 4 and 100000, got 1e300" --D 1e300
expect kelk-4dvar "--T: must be > 0, got -5" --T -5
expect kelk-4dvar "--max-outer: expects a finite number, got 'inf'" --max-outer inf
expect kelk-4dvar "--method: must not be empty" --method ""
expect kelk-4dvar "--adjoint: must not be empty" --adjoint ""
expect kelk-4dvar "the Lorenz-96 trajectory became non-finite during the 1000-step spin-up with --dt 10 and --F 8" --dt 10

# kelk-bench
expect kelk-bench "--out: must not be empty" --out ""
expect kelk-bench "--history: must not be empty" --history ""
expect kelk-bench "--recurrent-norm: expects a finite number, got 'nan'" --recurrent-norm nan
expect kelk-bench "--T: must be > 0, got 0" --T 1000,0
expect kelk-bench "--maps: must not be empty" --maps ""

# kelk-demo
expect kelk-demo "--recurrent-norm: expects a finite number, got 'nan'" --recurrent-norm nan
expect kelk-demo "--seed: expects an integer >= 0, got '-1'" --seed -1
expect kelk-demo "--methods: must not be empty" --methods ""
expect kelk-demo "--precision: must not be empty" --precision ""
expect kelk-demo "--length: must be > 0, got 0" --length 0

# kelk-generate
expect kelk-generate "--dt: expects a finite number, got 'nan'" --dt nan
expect kelk-generate "--forcing: expects a finite number, got 'inf'" --forcing inf
expect kelk-generate "--s0-scale: expects a finite number, got 'nan'" --s0-scale nan
expect kelk-generate "--model: must not be empty" --model ""
expect kelk-generate "--inputs: must not be empty" --inputs ""
expect kelk-generate "--seed: expects an integer >= 0, got '-1'" --seed -1

# kelk-argru
expect kelk-argru "--history: must not be empty" --history ""
expect kelk-argru "--weights: must not be empty" --weights ""
expect kelk-argru "--sigma2-elk: expects a finite number, got 'nan'" --sigma2-elk nan
expect kelk-argru "--seed: expects an integer >= 0, got '-1'" --seed -1

# kelk-autodiff-example
expect kelk-autodiff-example "--length: must be > 0, got 0" --length 0
expect kelk-autodiff-example "--batch: must not be empty" --batch ""
expect kelk-autodiff-example "--length: expects a number, got 'ten'" --length ten

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
