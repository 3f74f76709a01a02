#!/usr/bin/env bash
# kelk-run's [adjoint] section on Lorenz-96: the misfit's gradients in the output file match
# central differences of the misfit kelk-run itself reports (dL/dF through the model file, dL/ds0
# through the input file), lambda_T = s_T - y_T, cotangents given as a file give the same
# gradients as the misfit, 2 ranks equal 1 rank (bitwise for block_sweeps and sequential), and a
# bad [adjoint] section is named.
#   run_adjoint.sh KELK_RUN KELK_GENERATE MPIEXEC WORK_DIR
set -uo pipefail
run=$1 gen=$2 mpiexec=$3 work=$4
python=/usr/bin/python3  # Debian's, with h5py
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export OMP_NUM_THREADS=1 OMP_PROC_BIND=false
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
kelk() { local np=$1; shift; timeout 120 "$mpiexec" -n "$np" "$run" "$@"; }

"$gen" --kind lorenz96 --dim 6 --batch 2 --length 300 --s0-scale 2 --model model.h5 \
  --inputs inputs.h5 >/dev/null || exit 1
printf 'model = "model.h5"\ninput = "inputs.h5"\noutput = "truth.h5"\n[solver]\nmethod = "sequential"\n' >truth.toml
kelk 1 truth.toml -q >/dev/null || { echo "FAIL the forward run"; exit 1; }
# observations: the trajectory plus noise; cotangents of the misfit for the cotangents mode
"$python" - <<'PY' || exit 1
import h5py, numpy as np
s = h5py.File("truth.h5")["states"][...]
y = s + 0.1 * np.random.default_rng(3).standard_normal(s.shape)
h5py.File("obs.h5", "w")["targets"] = y
h5py.File("cot.h5", "w")["cotangents"] = s - y
h5py.File("short.h5", "w")["targets"] = y[:, :-1]
PY
deck() {  # deck OUTPUT MODEL INPUT [adjoint lines...]
  local out=$1 model=$2 input=$3; shift 3
  printf 'model = "%s"\ninput = "%s"\noutput = "%s"\n[solver]\nmethod = "sequential"\n[adjoint]\n' \
    "$model" "$input" "$out"
  printf '%s\n' "$@"
}
deck one.h5 model.h5 inputs.h5 'target = "obs.h5"' >one.toml
deck two.h5 model.h5 inputs.h5 'target = "obs.h5"' >two.toml
deck seq.h5 model.h5 inputs.h5 'target = "obs.h5"' 'method = "sequential"' >seq.toml
deck scan.h5 model.h5 inputs.h5 'target = "obs.h5"' 'method = "scan"' >scan.toml
deck cot.h5 model.h5 inputs.h5 'cotangents = "cot.h5"' >cot.toml
kelk 1 one.toml -q >/dev/null || fail "the adjoint run at 1 rank"
kelk 2 two.toml -q >/dev/null || fail "the adjoint run at 2 ranks"
kelk 2 seq.toml -q >/dev/null || fail "the sequential adjoint at 2 ranks"
kelk 2 scan.toml -q >/dev/null || fail "the scan adjoint at 2 ranks"
kelk 1 cot.toml -q >/dev/null || fail "the adjoint from a cotangents file"

# central differences of the reported misfit: F +- h in the model file, s0[1, 2] +- h
h=1e-5
"$python" - "$h" <<'PY' || exit 1
import sys, shutil, h5py
h = float(sys.argv[1])
for sign, name in ((1, "plus"), (-1, "minus")):
    shutil.copy("model.h5", f"model_{name}.h5")
    with h5py.File(f"model_{name}.h5", "r+") as f:
        f.attrs["F"] = f.attrs["F"] + sign * h
    shutil.copy("inputs.h5", f"inputs_{name}.h5")
    with h5py.File(f"inputs_{name}.h5", "r+") as f:
        f["s0"][1, 2] += sign * h
PY
for name in plus minus; do
  deck "F_$name.h5" "model_$name.h5" inputs.h5 'target = "obs.h5"' >"F_$name.toml"
  deck "s0_$name.h5" model.h5 "inputs_$name.h5" 'target = "obs.h5"' >"s0_$name.toml"
  kelk 1 "F_$name.toml" -q >/dev/null || fail "F $name"
  kelk 1 "s0_$name.toml" -q >/dev/null || fail "s0 $name"
done

"$python" - "$h" <<'PY' || failures=$((failures + 1))
import sys, h5py, numpy as np
h = float(sys.argv[1])
f = {n: h5py.File(n + ".h5") for n in ("one", "two", "seq", "scan", "cot", "F_plus", "F_minus",
                                         "s0_plus", "s0_minus")}
y = h5py.File("obs.h5")["targets"][...]
one = f["one"]
s = one["states"][...]
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what)
    bad += 0 if ok else 1
def rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)
loss = 0.5 * ((s - y) ** 2).sum()
check(abs(one.attrs["adjoint_loss"] - loss) <= 1e-12 * loss,
      f"adjoint_loss {one.attrs['adjoint_loss']:.12e} = 1/2 sum |s - y|^2 {loss:.12e}")
check(np.array_equal(one["gradients/adjoint"][:, -1], s[:, -1] - y[:, -1]), "lambda_T = s_T - y_T")
dF = one["gradients/parameters/F"][0]
fdF = (f["F_plus"].attrs["adjoint_loss"] - f["F_minus"].attrs["adjoint_loss"]) / (2 * h)
check(abs(dF - fdF) <= 1e-6 * abs(fdF), f"dL/dF {dF:.10e} vs central difference {fdF:.10e}")
ds0 = one["gradients/s0"][1, 2]
fds0 = (f["s0_plus"].attrs["adjoint_loss"] - f["s0_minus"].attrs["adjoint_loss"]) / (2 * h)
check(abs(ds0 - fds0) <= 1e-6 * abs(fds0), f"dL/ds0[1, 2] {ds0:.10e} vs central difference {fds0:.10e}")
for name in ("two", "seq"):
    g = f[name]
    check(np.array_equal(g["gradients/adjoint"][...], one["gradients/adjoint"][...]) and
          np.array_equal(g["gradients/s0"][...], one["gradients/s0"][...]) and
          rel(g["gradients/parameters/F"][...], dF) <= 1e-12,
          f"{name} ({g.attrs['adjoint_method']}, {g.attrs['ranks']} ranks) equals 1 rank")
sc = f["scan"]
check(rel(sc["gradients/adjoint"][...], one["gradients/adjoint"][...]) <= 1e-12 and
      rel(sc["gradients/s0"][...], one["gradients/s0"][...]) <= 1e-12,
      f"scan at 2 ranks equals block_sweeps at 1 rank to 1e-12")
c = f["cot"]
check(np.array_equal(c["gradients/s0"][...], one["gradients/s0"][...]) and
      "adjoint_loss" not in c.attrs, "cotangents from a file give the misfit's gradients")
check(one["gradients/inputs"].shape == (2, 300, 0), "gradients/inputs (B, T, Din) with Din = 0")
sys.exit(1 if bad else 0)
PY

# bad [adjoint] sections: one message, no output
expect() {  # expect PATTERN DECK
  local msg
  msg=$(kelk 2 "$2" -q 2>&1 >/dev/null)
  if [ $? -eq 0 ] || ! grep -q -- "$1" <<<"$msg" || [ -e bad.h5 ]; then
    fail "expected '$1', got: $msg"
  else
    echo "ok   refused: $(grep -m1 -- "$1" <<<"$msg")"
  fi
}
deck bad.h5 model.h5 inputs.h5 'target = "obs.h5"' 'cotangents = "cot.h5"' >both.toml
expect "exactly one of" both.toml
deck bad.h5 model.h5 inputs.h5 'target = "short.h5"' >short.toml
expect "has shape (2, 299, 6); expected (2, 300, 6)" short.toml
deck bad.h5 model.h5 inputs.h5 'target = "obs.h5"' 'dataset = "y"' >missing.toml
expect "has no dataset 'y'" missing.toml
deck bad.h5 model.h5 inputs.h5 'target = "obs.h5"' 'method = "reverse"' >method.toml
expect "unknown adjoint method 'reverse'" method.toml
deck bad.h5 model.h5 inputs.h5 'target = "obs.h5"' 'step = 3' >key.toml
expect "unknown option 'adjoint.step'" key.toml

# the predictability probe and method = "auto" (issue 14): Lorenz-96 (F = 8, D = 40) is chaotic
# (the probe's 1000 steps of rank 0's 2000 resolve the exponent, ~0.015 per step, to +-0.002),
# a contracting GRU over 2 ranks is predictable and gets block_jacobi
"$gen" --kind lorenz96 --dim 40 --batch 1 --length 4000 --s0-scale 2 --model l96.h5 \
  --inputs l96_in.h5 >/dev/null
printf 'model = "l96.h5"\ninput = "l96_in.h5"\noutput = "probe.h5"\n' >l96.toml
out=$(kelk 2 l96.toml --probe --method auto -q 2>&1) || fail "probe run: $out"
grep -q "chaotic: evaluate sequentially" <<<"$out" && grep -q "auto: sequential" <<<"$out" &&
  "$python" -c "import h5py,sys; a=h5py.File('probe.h5').attrs; sys.exit(0 if a['probe_exponent'] > 0 and a['method'] == 'sequential' and 'method_auto' in a else 1)" &&
  echo "ok   Lorenz-96: $(grep -m1 'probe:' <<<"$out")" || fail "Lorenz-96 probe / auto: $out"
"$gen" --kind gru --dim 8 --input-dim 3 --batch 1 --length 20000 --recurrent-norm 0.5 \
  --model gru.h5 --inputs gru_in.h5 >/dev/null
printf 'model = "gru.h5"\ninput = "gru_in.h5"\noutput = "gru_out.h5"\n[solver]\nmethod = "auto"\n' >gru.toml
out=$(kelk 2 gru.toml -q 2>&1) || fail "GRU auto run: $out"
grep -q "auto: block_jacobi" <<<"$out" && grep -q "^converged" <<<"$out" &&
  echo "ok   contracting GRU at 2 ranks: $(grep -m1 'auto:' <<<"$out")" || fail "GRU auto: $out"

if [ "$failures" -eq 0 ]; then echo "PASS"; else echo "$failures failure(s)"; exit 1; fi
