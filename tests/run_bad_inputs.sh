#!/usr/bin/env bash
# kelk-run on bad input: every case must end within a minute with a non-zero exit code from
# every rank, a clear message naming the problem, and no output file (an earlier output file
# stays as it was).
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
PY
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
cat > wrong_type.toml <<'TOML'
model = "model.h5"
input = "inputs.h5"
output = "out.h5"
[solver]
max_iter = "ten"
TOML

failures=0
# expect NAME DECK MESSAGE [kelk-run flags...]
expect() {
  local name=$1 deck=$2 message=$3
  shift 3
  rm -f out.h5 out.h5.tmp*
  local start=$SECONDS
  timeout 60 "$mpiexec" -n 2 "$run" "$deck" --quiet "$@" >"$name.log" 2>&1
  local rc=$?
  local problems=""
  [ "$rc" -eq 0 ] && problems+=" exit code 0;"
  [ "$rc" -eq 124 ] && problems+=" timed out (a rank hung?);"
  grep -qF -- "$message" "$name.log" || problems+=" no message '$message';"
  [ "$(grep -c 'kelk-run: error' "$name.log")" -eq 1 ] || problems+=" not exactly one error line (rank 0);"
  ls out.h5 out.h5.tmp* >/dev/null 2>&1 && problems+=" an output file was left behind;"
  if [ -n "$problems" ]; then
    echo "FAIL $name:$problems"
    sed 's/^/    /' "$name.log"
    failures=$((failures + 1))
  else
    echo "ok   $name ($((SECONDS - start)) s): $(grep 'kelk-run: error' "$name.log")"
  fi
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
expect unknown_method unknown_method.toml "unknown method 'newton'"
expect unknown_method_flag good.toml "unknown method 'newton'" --method newton
expect unknown_option unknown_option.toml "unknown option 'solver.tolerance'"
expect malformed_deck malformed.toml "cannot read the input deck"
expect wrong_type wrong_type.toml "option 'max_iter'"
expect missing_deck nonexistent.toml "cannot read the input deck"
expect unwritable_output good.toml "cannot write the output file" --output no_such_folder/out.h5
expect more_ranks_than_steps good.toml "more ranks along time (2) than time steps (1)" --input inputs_t1.h5
expect bad_batch_split good.toml "cannot be split into 4 batch groups" --batch-ranks 4
expect deck_int_max_iter max_iter_2e32.toml "option 'max_iter' = 4294967297 in the input deck"
expect deck_int_iterations iterations_2e32.toml "option 'iterations' = 4294967299"
expect deck_int_max_iter_3e9 max_iter_3e9.toml "option 'max_iter' = 3000000000"
expect deck_int_batch_ranks batch_ranks_2e32.toml "option 'batch_ranks' = -4294967296"
expect nan_weights good.toml "dataset 'W_hz' in 'model_nan.h5' holds NaN or Inf (entry 21)" --model model_nan.h5
expect fp32_overflow_weights good.toml "dataset 'b_in' in 'model_big.h5' holds 1e+300 (entry 4), beyond fp32's range" --model model_big.h5 --precision fp32
cp inputs.h5 keep_inputs.h5 && cp model.h5 keep_model.h5
expect output_is_input good.toml "the output file '../$(basename "$PWD")/inputs.h5' is the input file" --output "../$(basename "$PWD")/inputs.h5"
expect output_is_model good.toml "is the model file" --output ./model.h5
expect output_is_deck good.toml "is the deck file" --output good.toml
if cmp -s inputs.h5 keep_inputs.h5 && cmp -s model.h5 keep_model.h5; then
  echo "ok   the input and model files survived"
else
  echo "FAIL: an output path equal to the input or model changed it"
  failures=$((failures + 1))
fi
mkdir -p a_folder && mkfifo fifo.h5
expect output_is_folder good.toml "the output path 'a_folder' is a folder" --output a_folder
expect input_is_fifo good.toml "the input file 'fifo.h5' is not a regular file" --input fifo.h5
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

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
