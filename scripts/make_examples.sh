#!/usr/bin/env bash
# Regenerates the example model and input files in input/examples/ with kelk-generate (the
# decks there are written by hand). Run after building: scripts/make_examples.sh [build dir]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gen=${1:-$repo/build}/apps/kelk-generate
ex=$repo/input/examples
mkdir -p "$ex"/{gru,lstm,elman,lorenz96,argru}
"$gen" --kind gru --dim 8 --input-dim 3 --batch 2 --length 2000 --recurrent-norm 0.5 --seed 11 \
  --model "$ex/gru/model.h5" --inputs "$ex/gru/inputs.h5"
"$gen" --kind lstm --dim 8 --input-dim 3 --batch 2 --length 2000 --recurrent-norm 0.5 --seed 14 \
  --model "$ex/lstm/model.h5" --inputs "$ex/lstm/inputs.h5"
"$gen" --kind elman --dim 8 --input-dim 3 --batch 2 --length 2000 --recurrent-norm 0.8 --seed 12 \
  --model "$ex/elman/model.h5" --inputs "$ex/elman/inputs.h5"
"$gen" --kind lorenz96 --dim 5 --forcing 8 --dt 0.01 --batch 2 --length 1000 --s0-scale 3 \
  --seed 13 --model "$ex/lorenz96/model.h5" --inputs "$ex/lorenz96/inputs.h5"
"$gen" --kind argru --batch 1 --length 10000 --s0-scale 0 --seed 1 --inputs "$ex/argru/inputs.h5"
