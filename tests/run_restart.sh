#!/usr/bin/env bash
# kelk-run's checkpoint and restart: a run interrupted at iteration k (by an iteration limit
# with --checkpoint-every, or by the checkpoint signal and then SIGTERM) and restarted from its
# checkpoint reaches the same states (bitwise) and the same total iteration count and history
# (updates and residuals) as an uninterrupted run; a checkpoint that does not match the run is
# refused, naming what differs.
#   run_restart.sh KELK_RUN KELK_GENERATE MPIEXEC WORK_DIR NP
set -uo pipefail
run=$1 gen=$2 mpiexec=$3 work=$4 np=$5
python=/usr/bin/python3  # Debian's, with h5py
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export OMP_NUM_THREADS=1 OMP_PROC_BIND=false
"$gen" --kind gru --dim 8 --input-dim 3 --batch 2 --length 3000 --model model.h5 --inputs inputs.h5 >/dev/null
"$gen" --kind gru --dim 8 --input-dim 3 --batch 2 --length 200000 --model model_long.h5 --inputs inputs_long.h5 >/dev/null
printf 'model = "model.h5"\ninput = "inputs.h5"\noutput = "full.h5"\n' >deck.toml
printf 'model = "model_long.h5"\ninput = "inputs_long.h5"\noutput = "full.h5"\n' >long.toml
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
kelk() { timeout 120 "$mpiexec" -n "$np" "$run" "$@"; }
# same STEM_A STEM_B: states, iteration count and history equal
same() {
  "$python" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(n, "r") for n in sys.argv[1:3])
ok = (np.array_equal(a["states"][...], b["states"][...]) and
      a.attrs["iterations"] == b.attrs["iterations"] and
      np.array_equal(a["history/iteration"][...], b["history/iteration"][...]) and
      np.array_equal(a["history/max_update"][...], b["history/max_update"][...]) and
      np.array_equal(a["history/max_residual"][...], b["history/max_residual"][...], equal_nan=True))
print(f"iterations {a.attrs['iterations']} and {b.attrs['iterations']}, "
      f"max |difference| {np.abs(a['states'][...] - b['states'][...]).max():.3e}")
sys.exit(0 if ok else 1)
PY
}

for method in jacobi quasi_deer deer; do
  rm -f full.h5 part.h5 ck.h5 resumed.h5
  kelk deck.toml -q --method "$method" >/dev/null || fail "$method: the uninterrupted run"
  kelk deck.toml -q --method "$method" --output part.h5 --checkpoint ck.h5 --checkpoint-every 2 \
    --iterations 3 >/dev/null
  k=$("$python" -c "import h5py; print(h5py.File('ck.h5').attrs['checkpoint_iteration'])")
  kelk deck.toml -q --method "$method" --output resumed.h5 --restart ck.h5 >/dev/null ||
    fail "$method: the restarted run"
  if out=$(same full.h5 resumed.h5); then
    echo "ok   $method (np $np): interrupted after 3, checkpoint at $k, restarted: $out"
  else
    fail "$method (np $np): the restarted run differs: $out"
  fi
done

# a checkpoint of the iterate that met the stopping rule restarts as converged: no further
# iteration, the same states bitwise, the same count and history
for method in deer quasi_deer jacobi elk; do
  rm -f full.h5 conv.h5 ck.h5 resumed.h5
  kelk deck.toml -q --method "$method" >/dev/null || fail "$method: the uninterrupted run"
  kelk deck.toml -q --method "$method" --output conv.h5 --checkpoint ck.h5 --checkpoint-every 1 >/dev/null ||
    fail "$method: the checkpointed run"
  read -r k met <<<"$("$python" -c "import h5py; a = h5py.File('ck.h5').attrs; print(a['checkpoint_iteration'], a['checkpoint_converged'])")"
  kelk deck.toml -q --method "$method" --output resumed.h5 --restart ck.h5 >converged.log ||
    fail "$method: the restart from the converged checkpoint"
  if [ "$met" = 1 ] && out=$(same full.h5 resumed.h5) && grep -q "restart: the iterate of iteration $k met the stopping rule" converged.log; then
    echo "ok   $method (np $np): restarted from the converged checkpoint (iteration $k): $out"
  else
    fail "$method (np $np): restart from the converged checkpoint (iteration $k, converged '$met'): $out"
    sed 's/^/    /' converged.log
  fi
done

# the checkpoint signal, then SIGTERM, as SLURM's --signal=USR1@... and the time limit do
rm -f full.h5 ck.h5 resumed.h5 part.h5
kelk long.toml -q --method jacobi >/dev/null || fail "long: the uninterrupted run"
"$mpiexec" -n "$np" "$run" long.toml --method jacobi --output part.h5 --checkpoint ck.h5 >signal.log 2>&1 &
launcher=$!
for _ in $(seq 1 3000); do grep -q '^ *3 ' signal.log && break; sleep 0.01; done
pkill -USR1 -f "^$run long.toml"
for _ in $(seq 1 3000); do grep -q 'checkpoint: iteration' signal.log && break; sleep 0.01; done
pkill -TERM -f "^$run long.toml"
wait "$launcher"
if ! grep -q 'checkpoint: iteration' signal.log || [ -e part.h5 ]; then
  fail "signal (np $np): no checkpoint before SIGTERM, or the run finished"; sed 's/^/    /' signal.log
else
  kelk long.toml -q --method jacobi --output resumed.h5 --restart ck.h5 >/dev/null
  if out=$(same full.h5 resumed.h5); then
    echo "ok   signal (np $np): $(grep -o 'checkpoint: iteration [0-9]*' signal.log), SIGTERM, restarted: $out"
  else
    fail "signal (np $np): the restarted run differs: $out"
  fi
fi

# refusals, each naming what differs
"$gen" --kind gru --dim 8 --input-dim 3 --batch 2 --length 3000 --seed 7 --inputs other_inputs.h5 >/dev/null
kelk deck.toml -q --method deer --output part.h5 --checkpoint ck.h5 --checkpoint-every 1 --iterations 1 >/dev/null
refuse() {  # refuse WHAT MESSAGE CHECKPOINT [flags...]
  local what=$1 message=$2 checkpoint=$3
  shift 3
  kelk deck.toml -q --output refused.h5 --restart "$checkpoint" "$@" >refuse.log 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF -- "$message" refuse.log && [ ! -e refused.h5 ]; then
    echo "ok   refused ($what): $(grep 'kelk-run: error' refuse.log)"
  else
    fail "refusal ($what): exit $rc"; sed 's/^/    /' refuse.log
  fi
}
refuse method "its method is 'deer', this run's 'quasi_deer'" ck.h5 --method quasi_deer
refuse precision "its precision is 'fp64', this run's 'fp32'" ck.h5 --method deer --precision fp32
refuse input "does not match this run: its input is" ck.h5 --method deer --input other_inputs.h5
refuse "not a checkpoint" "is not a kelk-run checkpoint" part.h5 --method deer
# damaged data: 4 KiB of zeros written inside the checkpoint's states are found by their
# fletcher32 checksum, and the restart is refused naming the dataset
cp ck.h5 damaged.h5
"$python" - <<'PY'
import h5py
with h5py.File("damaged.h5", "r") as f:
    ds = f["states"]
    assert ds.fletcher32, "the checkpoint's states carry no checksum"
    offset = ds.id.get_chunk_info(0).byte_offset
with open("damaged.h5", "r+b") as f:
    f.seek(offset + 128)
    f.write(bytes(4096))
PY
refuse "damaged states" "dataset 'states' in 'damaged.h5' is damaged: its data do not match their fletcher32 checksum" damaged.h5 --method deer
"$python" - <<'PY'
import h5py, shutil
shutil.copy("ck.h5", "unchecked.h5")
with h5py.File("unchecked.h5", "r+") as f:
    states = f["states"][...]
    del f["states"]
    f["states"] = states  # the same values, stored without the checksum
PY
refuse "no checksum" "the checkpoint 'unchecked.h5' carries no checksum of its states" unchecked.h5 --method deer
# ... and where only the last rank reads the damaged chunk (no rank waits for it)
kelk long.toml -q --method jacobi --output part.h5 --checkpoint damaged_end.h5 --checkpoint-every 1 --iterations 1 >/dev/null
"$python" - <<'PY'
import h5py
with h5py.File("damaged_end.h5", "r") as f:
    ds = f["states"]
    offset = ds.id.get_chunk_info(ds.id.get_num_chunks() - 1).byte_offset
with open("damaged_end.h5", "r+b") as f:
    f.seek(offset + 64)
    f.write(bytes(4096))
PY
refused_long() { kelk long.toml -q --method jacobi --output refused.h5 --restart damaged_end.h5; }
if refused_long >refuse.log 2>&1; then rc=0; else rc=$?; fi
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF "dataset 'states' in 'damaged_end.h5' is damaged" refuse.log && [ ! -e refused.h5 ]; then
  echo "ok   refused (damaged last chunk): $(grep 'kelk-run: error' refuse.log)"
else
  fail "refusal (damaged last chunk): exit $rc"; sed 's/^/    /' refuse.log
fi
if [ "$np" -gt 1 ]; then
  timeout 60 "$mpiexec" -n 1 "$run" deck.toml -q --method deer --output refused.h5 --restart ck.h5 >refuse.log 2>&1
  grep -qF "its ranks is '$np ranks, 1 over the batch', this run's '1 ranks" refuse.log &&
    echo "ok   refused (rank layout): $(grep 'kelk-run: error' refuse.log)" ||
    { fail "refusal (rank layout)"; sed 's/^/    /' refuse.log; }
fi
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
