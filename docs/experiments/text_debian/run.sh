#!/bin/bash
# The text comparison of docs/results.md, from a checkout's root:
#   bash docs/experiments/text_debian/run.sh OUT
# Resumable: run it again to finish an interrupted comparison.
set -e
OUT=${1:?usage: run.sh OUT}
HERE=$(dirname "$0")
[ -d "$OUT/data" ] || python "$HERE/make_data.py" --out "$OUT/data"
P=$OUT/presets/mlm_debian
R=$OUT/presets/mlm_debian_random
[ -d "$P" ] || python apps/pretrain_mlm.py --backend jax --corpus "$OUT/data/corpus" \
  --output "$P" --logdir "$OUT/runs/pretrain_mlm" --hidden-dim 64 --num-layers 2 \
  --num-heads 2 --max-length 32 --max-sequence-length 64 --words 800 --epochs 2 \
  --warmup-epochs 0.2 --lr 2e-3 --train-subset 16000 --eval-subset 2000 --batch-size 64
[ -d "$R" ] || python "$HERE/make_control.py" "$P" "$R"
python apps/compare.py --backend jax --dataset text_folder \
  --output "$OUT/cmp" --seeds 1 2 3 --reference sleep-random \
  --common "--data-dir $OUT/data/labelled --encoder $P --max-length 24 --epochs 2 --batch-size 32 --blocks 1 --width 64 --verbose 2" \
  --variant "lstm=--model lstm" \
  --variant "textcnn=--model textcnn" \
  --variant "sleep-pretrained=--model sleepnet" \
  --variant "sleep-random=--model sleepnet --encoder $R" \
  --variant "dream-pretrained=--model dreamnet" \
  --variant "dream-random=--model dreamnet --encoder $R" \
  --variant "lstm-lr1e-3=--model lstm --lr 0.001" \
  --variant "lstm-noaug=--model lstm --no-augment"
