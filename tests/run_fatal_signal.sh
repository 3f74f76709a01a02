#!/usr/bin/env bash
# kelk-run when the process dies of a fatal signal (issue 28, item 7): kelk's handler must print
# one line naming the signal and what was being done, remove a temporary output file, and end
# the process, so that the launcher ends every rank within seconds instead of hanging.
#   1. a GRU model.h5 with one byte changed (byte 2073 set to 133) makes libhdf5 1.10.8
#      segfault in H5HG_read while kelk reads the kelk_model attribute; skipped (with a
#      message) where a plain read of that file does not crash, e.g. with another libhdf5;
#   2. SIGBUS sent to the ranks while they write the output: the temporary file is removed and
#      the earlier output kept (independent of libhdf5).
#   run_fatal_signal.sh KELK_RUN KELK_GENERATE MPIEXEC WORK_DIR EXAMPLE_DIR
# Exit code 77 (CTest's SKIP_RETURN_CODE) when case 1 cannot be reproduced and case 2 passes.
set -uo pipefail
run=$1 gen=$2 mpiexec=$3 work=$4 example=$5
python=/usr/bin/python3  # Debian's, with h5py
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export OMP_NUM_THREADS=1 OMP_PROC_BIND=false

failures=0 skipped=0
cp "$example/deck.toml" "$example/inputs.h5" .
cp "$example/model.h5" bad_model.h5
printf '\x85' | dd of=bad_model.h5 bs=1 seek=2073 conv=notrunc status=none  # 133 = 0x85

# Does reading the damaged attribute crash this libhdf5 at all? (a process of its own: h5dump,
# or h5py where h5dump is missing)
if command -v h5dump >/dev/null; then
  prober=h5dump
  (timeout 30 h5dump -a kelk_model bad_model.h5) >probe.log 2>&1  # the shell's crash note too
else
  prober=h5py
  (timeout 30 "$python" -c "import h5py; h5py.File('bad_model.h5', 'r').attrs['kelk_model']") \
    >probe.log 2>&1
fi
probe=$?
if [ "$probe" -lt 128 ] || [ "$probe" -eq 124 ]; then
  echo "skip the libhdf5 crash: reading the damaged file does not crash here ($prober exit" \
    "$probe; the crash is libhdf5 1.10.8's)"
  skipped=1
else
  for np in 1 2; do
    rm -f out.h5
    start=$SECONDS
    timeout 60 "$mpiexec" -n "$np" "$run" deck.toml --quiet --model bad_model.h5 --output out.h5 \
      >crash.np$np.log 2>&1
    rc=$? took=$((SECONDS - start))
    problems=""
    [ "$rc" -eq 0 ] && problems+=" exit code 0;"
    [ "$rc" -eq 124 ] && problems+=" timed out (a rank hung);"
    [ "$took" -gt 20 ] && problems+=" took $took s;"
    # SIGSEGV in H5HG_read, or SIGABRT where glibc's malloc finds the heap libhdf5 damaged first
    # (seen with the same libhdf5 in another build of kelk)
    lines=$(grep -cE "kelk-run: fatal: SIG(SEGV|ABRT) while reading 'bad_model.h5'" crash.np$np.log)
    [ "$lines" -ge 1 ] || problems+=" no line 'kelk-run: fatal: SIGSEGV (or SIGABRT) while reading 'bad_model.h5'';"
    [ "$(grep -c 'kelk-run: fatal' crash.np$np.log)" -le "$np" ] || problems+=" more than one line per rank;"
    ls out.h5 out.h5.tmp* >/dev/null 2>&1 && problems+=" an output or temporary file was left;"
    if [ -n "$problems" ]; then
      echo "FAIL libhdf5 crash (np $np):$problems"
      sed 's/^/    /' crash.np$np.log
      failures=$((failures + 1))
    else
      echo "ok   libhdf5 crash (np $np, exit $rc, $took s): $(grep -m1 'kelk-run: fatal' crash.np$np.log)"
    fi
  done
fi

# SIGBUS while the output is written: the ranks (the launcher's children, nothing else) get it
"$gen" --kind gru --dim 8 --input-dim 1 --batch 1 --length 5000000 --model model_in1.h5 \
  --inputs inputs_big.h5 >/dev/null
for np in 1 2; do
  echo earlier >signal_out.h5
  rm -f signal_out.h5.tmp.*
  "$mpiexec" -n "$np" "$run" deck.toml --quiet --model model_in1.h5 --input inputs_big.h5 \
    --method sequential --output signal_out.h5 >bus.np$np.log 2>&1 &
  launcher=$!
  (sleep 60 && kill -KILL "$launcher" 2>/dev/null) &
  watchdog=$!
  for _ in $(seq 1 3000); do ls signal_out.h5.tmp.* >/dev/null 2>&1 && break; sleep 0.01; done
  seen=$(ls signal_out.h5.tmp.* 2>/dev/null)
  pkill -BUS -P "$launcher"
  wait "$launcher"
  rc=$?
  kill "$watchdog" 2>/dev/null
  [ "$rc" -eq 137 ] && rc=124  # the watchdog ended a hung run
  line=$(grep -m1 "kelk-run: fatal: SIGBUS while writing 'signal_out.h5'" bus.np$np.log)
  if [ -n "$seen" ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ -n "$line" ] &&
    ! ls signal_out.h5.tmp.* >/dev/null 2>&1 && [ "$(head -c 7 signal_out.h5 | tr -d '\0')" = earlier ]; then
    echo "ok   SIGBUS during the write (np $np, exit $rc): $line"
  else
    echo "FAIL SIGBUS during the write (np $np): exit $rc, temporary file seen: '$seen', left:" \
      "'$(ls signal_out.h5.tmp.* 2>/dev/null)'"
    sed 's/^/    /' bus.np$np.log
    failures=$((failures + 1))
  fi
done
rm -f inputs_big.h5

echo "$failures failure(s)"
[ "$failures" -eq 0 ] || exit 1
[ "$skipped" -eq 0 ] || exit 77
exit 0
