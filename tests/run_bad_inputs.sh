#!/usr/bin/env bash
# kelk-run on bad input and faults: every case must end within a minute with a non-zero exit
# code from every rank, a clear message naming the problem, and no output or temporary file (an
# earlier output file stays as it was). Each case runs at 1 and 2 ranks unless it says otherwise
# (NP="..."); faults are injected on one rank (a memory limit) or in the file system (a full
# tmpfs, planted links, signals during the write).
#   run_bad_inputs.sh KELK_RUN KELK_GENERATE MPIEXEC WORK_DIR
set -uo pipefail
run=$1 gen=$2 mpiexec=$3 work=$4
python=/usr/bin/python3  # Debian's, with h5py
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export OMP_NUM_THREADS=1 OMP_PROC_BIND=false

"$gen" --kind gru --dim 8 --input-dim 3 --batch 2 --length 50 --model model.h5 --inputs inputs.h5 >/dev/null
"$gen" --kind gru --dim 6 --input-dim 3 --batch 2 --length 50 --inputs inputs_d6.h5 >/dev/null
"$gen" --kind gru --dim 8 --input-dim 2 --batch 2 --length 50 --inputs inputs_din2.h5 >/dev/null
"$gen" --kind gru --dim 8 --input-dim 3 --batch 2 --length 1 --inputs inputs_t1.h5 >/dev/null
"$python" - <<'PY'
import h5py, numpy as np, shutil
def variant(name, edit):
    shutil.copy("inputs.h5", name)
    with h5py.File(name, "r+") as f:
        edit(f)
def drop_s0(f): del f["s0"]
def s0_rank3(f):
    s0 = f["s0"][...]; del f["s0"]; f["s0"] = s0[:, :, None]
def inputs_int(f):
    u = f["inputs"][...]; del f["inputs"]; f["inputs"] = u.astype(np.int64)
def s0_nan(f): f["s0"][1, 3] = np.nan
def inputs_inf(f): f["inputs"][0, 40, 2] = np.inf
for name, edit in [("no_s0.h5", drop_s0), ("s0_rank3.h5", s0_rank3), ("int_inputs.h5", inputs_int),
                   ("s0_nan.h5", s0_nan), ("inputs_inf.h5", inputs_inf)]:
    variant(name, edit)
shutil.copy("model.h5", "model_nan.h5")
with h5py.File("model_nan.h5", "r+") as f:
    f["W_hz"][2, 5] = np.nan
shutil.copy("model.h5", "model_big.h5")
with h5py.File("model_big.h5", "r+") as f:
    f["b_in"][4] = 1e300
shutil.copy("inputs.h5", "inputs_1e300.h5")
with h5py.File("inputs_1e300.h5", "r+") as f:
    f["inputs"][1, 30, 2] = 1e300
# T = 2^32 + 5: chunked and never written, so the file is small
with h5py.File("inputs_huge_t.h5", "w") as f:
    f["s0"] = np.zeros((2, 8))
    f.create_dataset("inputs", shape=(2, 2**32 + 5, 3), dtype="f8", chunks=(1, 1024, 3))
# an input whose slab is larger than a rank's memory limit below (800 MB of fill values)
with h5py.File("inputs_sparse.h5", "w") as f:
    f["s0"] = np.zeros((1, 16))
    f.create_dataset("inputs", shape=(1, 100_000_000, 1), dtype="f8", chunks=(1, 1 << 20, 1))
PY
"$gen" --kind lorenz96 --dim 8 --batch 2 --length 50 --model lorenz.h5 --inputs lorenz_in.h5 >/dev/null
"$python" -c "import h5py; f = h5py.File('lorenz.h5', 'r+'); f.attrs['D'] = 2**32 + 8"
"$gen" --kind gru --dim 16 --input-dim 1 --batch 1 --length 3000000 --model model16.h5 --inputs inputs16.h5 >/dev/null
cat > good.toml <<'TOML'
model = "model.h5"
input = "inputs.h5"
output = "out.h5"
[solver]
method = "deer"
TOML
cat > unknown_method.toml <<'TOML'
model = "model.h5"
input = "inputs.h5"
output = "out.h5"
[solver]
method = "newton"
TOML
cat > unknown_option.toml <<'TOML'
model = "model.h5"
input = "inputs.h5"
output = "out.h5"
[solver]
tolerance = 1e-3
TOML
printf 'model = "model.h5"\ninput = [unclosed\n' > malformed.toml
# int_deck FILE TABLE LINE: a deck whose [TABLE] holds LINE (integers beyond int's range)
int_deck() {
  printf 'model = "model.h5"\ninput = "inputs.h5"\noutput = "out.h5"\n[%s]\n%s\n' "$2" "$3" >"$1"
}
int_deck max_iter_2e32.toml solver "max_iter = 4294967297"
int_deck iterations_2e32.toml solver "iterations = 4294967299"
int_deck max_iter_3e9.toml solver "max_iter = 3000000000"
int_deck batch_ranks_2e32.toml parallel "batch_ranks = -4294967296"
printf 'model = "model.h5"\ninput = "inputs.h5"\noutput = "out.h5"\n[solver]\nmethod = "elk"\nsigma2 = "fast"\n' >sigma2_word.toml
printf 'model = "model.h5"\ninput = "inputs.h5"\noutput = "out.h5"\nparallel = 5\n' >parallel5.toml
printf 'model = "model.h5"\ninput = "inputs.h5"\noutput = "out.h5"\nsolver = "deer"\n' >solver_str.toml
printf 'model = "lorenz.h5"\ninput = "lorenz_in.h5"\noutput = "out.h5"\n' >lorenz.toml
printf 'model = "model16.h5"\ninput = "inputs16.h5"\noutput = "out.h5"\n[solver]\nmethod = "deer"\nmax_iter = 2\n' >big.toml
printf 'model = "model16.h5"\ninput = "inputs_sparse.h5"\noutput = "out.h5"\n' >sparse.toml
# limit_rank.sh COMMAND...: runs COMMAND with its address space limited (default 1.5 GB) on rank
# $LIMIT_RANK (ulimit -v; $LIMIT_KB KiB), as on a node with less free memory than the others.
# (The limit stays above ~0.5 GB: OpenBLAS spins forever when its own buffer cannot be had.)
cat >limit_rank.sh <<'SH'
#!/usr/bin/env bash
if [ "${OMPI_COMM_WORLD_RANK:-0}" = "${LIMIT_RANK:-1}" ]; then ulimit -v "${LIMIT_KB:-1500000}"; fi
exec "$@"
SH
chmod +x limit_rank.sh
cat > wrong_type.toml <<'TOML'
model = "model.h5"
input = "inputs.h5"
output = "out.h5"
[solver]
max_iter = "ten"
TOML

failures=0
# expect NAME DECK MESSAGE [kelk-run flags...]: at each rank count of $NP (default 1 2), through
# $WRAP (a command prefix, default none), with the output file $OUT (default out.h5); $ALSO:
# a second message to find
expect() {
  local name=$1 deck=$2 message=$3
  shift 3
  local np out=${OUT:-out.h5}
  for np in ${NP:-1 2}; do
    # an $OUT given names an existing file (or none) that must survive: only out.h5 is removed
    [ -z "${OUT:-}" ] && rm -f "$out"
    rm -f "$out".tmp* "$out".probe*
    local start=$SECONDS log=$name.np$np.log
    # shellcheck disable=SC2086
    timeout 60 "$mpiexec" -n "$np" ${WRAP:-} "$run" "$deck" --quiet --output "$out" "$@" >"$log" 2>&1
    local rc=$?
    local problems=""
    [ "$rc" -eq 0 ] && problems+=" exit code 0;"
    [ "$rc" -eq 124 ] && problems+=" timed out (a rank hung?);"
    grep -qF -- "$message" "$log" || problems+=" no message '$message';"
    [ -n "${ALSO:-}" ] && ! grep -qF -- "$ALSO" "$log" && problems+=" no message '$ALSO';"
    [ "$(grep -c 'kelk-run: error' "$log")" -eq 1 ] || problems+=" not exactly one error line (rank 0);"
    [ -z "${OUT:-}" ] && [ -e "$out" ] && problems+=" an output file was left behind;"
    ls "$out".tmp* "$out".probe* >/dev/null 2>&1 && problems+=" a temporary file was left behind;"
    if [ -n "$problems" ]; then
      echo "FAIL $name (np $np):$problems"
      sed 's/^/    /' "$log"
      failures=$((failures + 1))
    else
      echo "ok   $name (np $np, $((SECONDS - start)) s): $(grep 'kelk-run: error' "$log")"
    fi
  done
}

expect missing_model good.toml "cannot open 'missing.h5'" --model missing.h5
expect missing_input good.toml "cannot open 'missing.h5'" --input missing.h5
expect missing_dataset good.toml "has no dataset 's0'" --input no_s0.h5
expect wrong_rank good.toml "'s0' has shape (2, 8, 1); expected (B, D)" --input s0_rank3.h5
expect wrong_dtype good.toml "must hold floating-point values" --input int_inputs.h5
expect d_mismatch good.toml "has D = 6, Din = 3 but the model" --input inputs_d6.h5
expect din_mismatch good.toml "has D = 8, Din = 2 but the model" --input inputs_din2.h5
expect nan_s0 good.toml "s0 contains NaN or Inf" --input s0_nan.h5
expect inf_inputs good.toml "inputs contain NaN or Inf" --input inputs_inf.h5
# the predictability probe (--probe, method = auto) refuses the same data with the same words
expect probe_nan_s0 good.toml "kelk::probe: s0 contains NaN or Inf" --input s0_nan.h5 --probe
# (one rank: the probe reads rank 0's block only, and at 2 ranks this Inf is on rank 1, where
# the solve finds it: the inf_inputs case)
NP=1 expect auto_inf_inputs good.toml "kelk::probe: inputs contain NaN or Inf" --input inputs_inf.h5 --method auto
expect unknown_method unknown_method.toml "unknown method 'newton'"
expect unknown_method_flag good.toml "unknown method 'newton'" --method newton
expect unknown_option unknown_option.toml "unknown option 'solver.tolerance'"
expect malformed_deck malformed.toml "cannot read the input deck"
expect wrong_type wrong_type.toml "option 'solver.max_iter' in the input deck 'wrong_type.toml' has the wrong type"
expect sigma2_word sigma2_word.toml "option 'sigma2' in the input deck 'sigma2_word.toml' must be a number or \"auto\", got \"fast\""
expect sigma2_flag good.toml "--sigma2 must be a number or auto, got 'fast'" --method elk --sigma2 fast
expect missing_deck nonexistent.toml "cannot read the input deck"
OUT=no_such_folder/out.h5 expect unwritable_output good.toml "cannot write the output file"
NP=2 expect more_ranks_than_steps good.toml "more ranks along time (2) than time steps (1)" --input inputs_t1.h5
expect bad_batch_split good.toml "cannot be split into 4 batch groups" --batch-ranks 4
expect deck_int_max_iter max_iter_2e32.toml "option 'max_iter' = 4294967297 in the input deck"
expect deck_int_iterations iterations_2e32.toml "option 'iterations' = 4294967299"
expect deck_int_max_iter_3e9 max_iter_3e9.toml "option 'max_iter' = 3000000000"
expect deck_int_batch_ranks batch_ranks_2e32.toml "option 'batch_ranks' = -4294967296"
expect nan_weights good.toml "dataset 'W_hz' in 'model_nan.h5' holds NaN or Inf (entry 21)" --model model_nan.h5
expect fp32_overflow_weights good.toml "dataset 'b_in' in 'model_big.h5' holds 1e+300 (entry 4), beyond fp32's range" --model model_big.h5 --precision fp32
cp inputs.h5 keep_inputs.h5 && cp model.h5 keep_model.h5
OUT="../$(basename "$PWD")/inputs.h5" expect output_is_input good.toml "the output file '../$(basename "$PWD")/inputs.h5' is the input file"
OUT=./model.h5 expect output_is_model good.toml "is the model file"
OUT=good.toml expect output_is_deck good.toml "is the deck file"
if cmp -s inputs.h5 keep_inputs.h5 && cmp -s model.h5 keep_model.h5; then
  echo "ok   the input and model files survived"
else
  echo "FAIL: an output path equal to the input or model changed it"
  failures=$((failures + 1))
fi
mkdir -p a_folder && mkfifo fifo.h5
OUT=a_folder expect output_is_folder good.toml "the output path 'a_folder' is a folder"
expect input_is_fifo good.toml "the input file 'fifo.h5' is not a regular file" --input fifo.h5
# a checkpoint or restart path that is the output path: refused before solving, whatever the
# spelling (../, a link), and an existing output stays byte-identical
"$mpiexec" -n 1 "$run" good.toml --quiet --output result.h5 --checkpoint ck.h5 --checkpoint-every 1 --iterations 1 >/dev/null 2>&1
cp result.h5 keep_result.h5 && ln -sf result.h5 result_link.h5
OUT=result.h5 expect checkpoint_is_output good.toml "the checkpoint file 'result.h5' is the output file 'result.h5': every checkpoint would replace the result" --checkpoint result.h5
OUT=result.h5 expect checkpoint_is_output_dotdot good.toml "is the output file 'result.h5'" --checkpoint "../$(basename "$PWD")/result.h5"
OUT=result.h5 expect checkpoint_is_output_link good.toml "the checkpoint file 'result_link.h5' is the output file" --checkpoint result_link.h5
OUT=new_result.h5 expect checkpoint_is_new_output good.toml "the checkpoint file './new_result.h5' is the output file 'new_result.h5'" --checkpoint ./new_result.h5
mkdir -p o && printf 'model = "../model.h5"\ninput = "../inputs.h5"\noutput = "out.h5"\n[checkpoint]\nfile = "out.h5"\nevery = 1\n' >o/deck_ck.toml
cp result.h5 o/out.h5
OUT=o/out.h5 expect deck_checkpoint_is_output o/deck_ck.toml "the checkpoint file 'o/out.h5' is the output file 'o/out.h5'"
OUT=ck.h5 expect restart_is_output good.toml "the output file 'ck.h5' is the restart file 'ck.h5': the final write would destroy the checkpoint" --restart ck.h5
printf 'model = "model.h5"\ninput = "inputs.h5"\noutput = "out.h5"\n[checkpoint]\nfile = ""\n' >ck_empty.toml
expect deck_checkpoint_empty ck_empty.toml "option 'checkpoint.file' in the input deck 'ck_empty.toml' is empty"
printf 'model = "model.h5"\ninput = ""\noutput = "out.h5"\n' >input_empty.toml
expect deck_input_empty input_empty.toml "option 'input' in the input deck 'input_empty.toml' is empty"
if cmp -s result.h5 keep_result.h5 && cmp -s o/out.h5 keep_result.h5 && [ ! -e new_result.h5 ]; then
  echo "ok   the outputs named as checkpoints survived byte-identical"
else
  echo "FAIL: an output named as the checkpoint was changed or created"
  failures=$((failures + 1))
fi
# sigma2 given to a method without a trust region: a warning, the run goes on (exit 0)
for value in auto 0.5; do
  rm -f out.h5
  timeout 60 "$mpiexec" -n 2 "$run" good.toml --quiet --method deer --sigma2 "$value" >sigma2_deer.log 2>&1
  rc=$?
  if [ "$rc" -eq 0 ] && [ "$(grep -c "kelk-run: warning: sigma2 = $value is ignored: only elk and quasi_elk use it, this run uses deer" sigma2_deer.log)" -eq 1 ]; then
    echo "ok   sigma2 = $value with deer: one warning, exit 0"
  else
    echo "FAIL sigma2 = $value with deer: exit $rc"; sed 's/^/    /' sigma2_deer.log
    failures=$((failures + 1))
  fi
done
expect sigma2_zero_deer good.toml "sigma2 must be finite and > 0, got 0" --method deer --sigma2 0
# a command-line parse error exits 1, as the README says (one process, no launcher in between)
timeout 60 "$mpiexec" -n 1 "$run" good.toml --max-iter ten >parse_error.log 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q "max-iter" parse_error.log; then
  echo "ok   a parse error exits 1 naming the option"
else
  echo "FAIL parse_error: exit $rc"; sed 's/^/    /' parse_error.log
  failures=$((failures + 1))
fi
expect unknown_flag good.toml "unknown option '--methd'" --methd jacobi
expect negative_atol good.toml "atol must be finite and >= 0, got -1e-07" --atol -1e-7
expect negative_blocks good.toml "blocks must be >= 0" --method block_jacobi --blocks -1
expect too_many_blocks good.toml "time steps to split (per rank when distributed)" --method block_jacobi --blocks 100000

# issue 12, item 3: dimensions beyond int are refused, not truncated
expect huge_t good.toml "has T = 4294967301, beyond kelk's limit 2147483647 (2^31 - 1)" --input inputs_huge_t.h5
expect huge_lorenz_d lorenz.toml "has D = 4294967304, beyond kelk's limit 2147483647"
# item 11: fp32 overflow in the data, tables given as values, Kokkos' own flags
expect fp32_overflow_data good.toml "dataset 'inputs' in 'inputs_1e300.h5' holds 1e+300 at (1, 30, 2), beyond fp32's range" --input inputs_1e300.h5 --precision fp32
expect parallel_not_table parallel5.toml "[parallel] in 'parallel5.toml' must be a table"
expect solver_not_table solver_str.toml "[solver] in 'solver_str.toml' must be a table"
expect kokkos_threads_0 good.toml "Kokkos option '--kokkos-threads=0' needs a positive integer" --kokkos-threads=0
expect kokkos_threads_abc good.toml "Kokkos option '--kokkos-num-threads=abc' needs a positive integer" --kokkos-num-threads=abc
# item 1: an allocation that fails on one rank only (memory limit on rank 1, or on the only
# rank) is reported by rank 0 and ends every rank; no rank waits forever
# (Kokkos 3: 'Kokkos failed to allocate memory for label "L"'; Kokkos 4: '... failed to allocate
# 2.861 GiB (label="L")': the label is what both name)
NP=2 WRAP=./limit_rank.sh ALSO="(on rank 1 of 2)" expect alloc_workspace_rank1 big.toml 'kelk::solve::jacobians"'
LIMIT_RANK=0 NP=1 WRAP=./limit_rank.sh expect alloc_workspace big.toml 'kelk::solve::jacobians"'
LIMIT_KB=600000 NP=2 WRAP=./limit_rank.sh ALSO="(on rank 1 of 2)" expect alloc_input_rank1 sparse.toml "cannot allocate 400000000 bytes to read (1, 50000000, 1) of dataset 'inputs'"
LIMIT_KB=600000 LIMIT_RANK=0 NP=1 WRAP=./limit_rank.sh expect alloc_input sparse.toml "cannot allocate 800000000 bytes to read (1, 100000000, 1) of dataset 'inputs'"

# item 11: ranks started with different options (an MPMD launch) agree to stop
timeout 60 "$mpiexec" -n 1 "$run" good.toml --quiet --method deer : -n 1 "$run" good.toml --quiet \
  --method jacobi >mpmd.log 2>&1
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "rank 1 was started with other arguments than rank 0" mpmd.log; then
  echo "ok   ranks with different options: $(grep 'kelk-run: error' mpmd.log)"
else
  echo "FAIL ranks with different options: exit $rc"; sed 's/^/    /' mpmd.log
  failures=$((failures + 1))
fi

# item 11: --iterations N runs exactly N, even past an exact fixed point (DEER on T = 50 is
# exact after at most 50 iterations and stops moving long before 60)
for np in 1 2; do
  rm -f out.h5
  timeout 60 "$mpiexec" -n "$np" "$run" good.toml --quiet --iterations 60 >iterations.log 2>&1
  got=$("$python" -c "import h5py; f = h5py.File('out.h5'); print(f.attrs['iterations'], len(f['history/iteration']))" 2>&1)
  if [ "$got" = "60 60" ]; then
    echo "ok   --iterations 60 ran 60 iterations (np $np)"
  else
    echo "FAIL --iterations 60 (np $np): iterations, history length = $got"; sed 's/^/    /' iterations.log
    failures=$((failures + 1))
  fi
done

# item 9: the output path a link to another file: the link is replaced, its target untouched
echo precious >victim.txt && ln -sf victim.txt linked.h5
timeout 60 "$mpiexec" -n 2 "$run" good.toml --quiet --output linked.h5 >linked.log 2>&1
if [ -f linked.h5 ] && [ ! -L linked.h5 ] && [ "$(cat victim.txt)" = precious ]; then
  echo "ok   an output path that is a link: replaced by the new file, its target untouched"
else
  echo "FAIL an output path that is a link"; ls -la linked.h5 victim.txt; failures=$((failures + 1))
fi

# item 2: a full disk (a 2 MB tmpfs as the output folder), at 1, 2 and 3 ranks: refused
# before writing, or when its blocks cannot be reserved; nothing left in the folder
mkdir -p small_fs
if mount -t tmpfs -o size=2m tmpfs small_fs 2>/dev/null; then
  "$gen" --kind gru --dim 8 --input-dim 3 --batch 2 --length 25000 --inputs inputs_3mb.h5 >/dev/null
  "$gen" --kind gru --dim 8 --input-dim 3 --batch 1 --length 32700 --inputs inputs_2mb.h5 >/dev/null
  NP="1 2 3" OUT=small_fs/out.h5 expect disk_full good.toml "No space left on device for 'small_fs/out.h5': it needs at least 3200000 bytes" --input inputs_3mb.h5 --method sequential
  NP="1 2 3" OUT=small_fs/out.h5 expect disk_nearly_full good.toml "cannot reserve 3141376 bytes for 'small_fs/out.h5': No space left on device" --input inputs_2mb.h5 --method sequential
  left=$(ls -A small_fs)
  [ -z "$left" ] || { echo "FAIL: files left in the full file system: $left"; failures=$((failures + 1)); }
  umount small_fs
else
  echo "skip the full-disk cases: cannot mount a tmpfs here (needs root)"
fi

# item 10: SIGTERM (what SLURM sends) or SIGINT (Ctrl-C, which reaches the whole foreground
# process group) to the ranks while the output is being written: the temporary file is
# removed, the earlier output stays
"$gen" --kind gru --dim 8 --input-dim 1 --batch 1 --length 5000000 --model model_in1.h5 --inputs inputs_big.h5 >/dev/null
for how in TERM INT; do
  echo earlier >signal_out.h5
  # a background job of a script starts with SIGINT ignored: give the ranks the default back
  env --default-signal=INT "$mpiexec" -n 2 "$run" good.toml --quiet --model model_in1.h5 \
    --input inputs_big.h5 --method sequential --output signal_out.h5 >signal.log 2>&1 &
  launcher=$!
  (sleep 60 && kill -KILL "$launcher" 2>/dev/null) &
  watchdog=$!
  for _ in $(seq 1 3000); do ls signal_out.h5.tmp.* >/dev/null 2>&1 && break; sleep 0.01; done
  seen=$(ls signal_out.h5.tmp.* 2>/dev/null)
  pkill "-$how" -f "^$run good.toml --quiet --model model_in1.h5"
  wait "$launcher"
  rc=$?
  kill "$watchdog" 2>/dev/null
  [ "$rc" -eq 137 ] && rc=124  # the watchdog ended a hung run
  if [ -n "$seen" ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ! ls signal_out.h5.tmp.* >/dev/null 2>&1 && [ "$(head -c 7 signal_out.h5 | tr -d '\0')" = earlier ]; then
    echo "ok   SIG$how during the write: exit $rc, $seen removed, the earlier output kept"
  else
    echo "FAIL SIG$how during the write: exit $rc, temporary file seen: '$seen', left: '$(ls signal_out.h5.tmp.* 2>/dev/null)'"
    sed 's/^/    /' signal.log
    failures=$((failures + 1))
  fi
done
rm -f inputs_big.h5 signal_out.h5.tmp.*

# an earlier output survives a failed run untouched
"$mpiexec" -n 2 "$run" good.toml --quiet >/dev/null 2>&1 || { echo "FAIL: the good deck failed"; failures=$((failures + 1)); }
before=$(md5sum out.h5 | cut -d' ' -f1)
timeout 60 "$mpiexec" -n 2 "$run" good.toml --quiet --input s0_nan.h5 >/dev/null 2>&1
after=$(md5sum out.h5 2>/dev/null | cut -d' ' -f1)
if [ "$before" = "$after" ] && ! ls out.h5.tmp* >/dev/null 2>&1; then
  echo "ok   a failed run leaves the earlier output untouched"
else
  echo "FAIL: a failed run changed or removed the earlier output"
  failures=$((failures + 1))
fi

# issue 28, items 2 and 6: an empty value of any option, a number that is not finite, a stray
# argument and a misspelt Kokkos flag are refused before anything runs (apps/common/cli.hpp);
# an existing output named by the deck stays as it was after `-o ""`
cp out.h5 keep_out.h5
printf 'model = "model.h5"\ninput = "inputs.h5"\noutput = "keep_out.h5"\n' >keep_out.toml
OUT=keep_out.h5 expect empty_output keep_out.toml "--output: must not be empty" -o ""
if cmp -s out.h5 keep_out.h5; then
  echo "ok   -o \"\" left the deck's output as it was"
else
  echo "FAIL: -o \"\" changed the deck's output"; failures=$((failures + 1))
fi
expect empty_checkpoint_every good.toml "--checkpoint-every: must not be empty" --checkpoint ck.h5 --checkpoint-every ""
expect empty_checkpoint_signal good.toml "--checkpoint-signal: must not be empty" --checkpoint ck.h5 --checkpoint-signal ""
expect empty_checkpoint good.toml "--checkpoint: must not be empty" --checkpoint ""
expect empty_method good.toml "--method: must not be empty" --method ""
expect empty_sigma2 good.toml "--sigma2: must not be empty" --method elk --sigma2 ""
expect empty_deck "" "deck: must not be empty"
expect nan_atol good.toml "--atol: expects a finite number, got 'nan'" --atol nan
expect inf_rtol good.toml "--rtol: expects a finite number, got 'inf'" --rtol inf
expect nan_checkpoint_seconds good.toml "--checkpoint-seconds: expects a finite number, got 'nan'" --checkpoint ck.h5 --checkpoint-seconds nan
expect stray_argument good.toml "unexpected argument 'other.toml'" other.toml
expect kokkos_flag_typo good.toml "unknown Kokkos option '--kokkos-thread' (Kokkos" --kokkos-thread=2
expect kokkos_flag_no_value good.toml "Kokkos option '--kokkos-threads' needs a positive integer" --kokkos-threads 2
# the flags Kokkos knows still pass through
for np in 1 2; do
  rm -f out.h5
  timeout 60 "$mpiexec" -n "$np" "$run" good.toml --quiet --kokkos-threads=1 --kokkos-disable-warnings \
    >kokkos_flags.log 2>&1
  rc=$?
  if [ "$rc" -eq 0 ] && [ -f out.h5 ]; then
    echo "ok   --kokkos-threads=1 --kokkos-disable-warnings pass through (np $np)"
  else
    echo "FAIL Kokkos flags (np $np): exit $rc"; sed 's/^/    /' kokkos_flags.log
    failures=$((failures + 1))
  fi
done

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
