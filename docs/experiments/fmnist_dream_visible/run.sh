#!/bin/bash
# DreamNet-3 with dreams that keep the input's visible patches (docs/results.md): the pixel-loss
# mae-small-32 pretrained by ../fmnist_small_encoder/run.sh against the same MAE with random
# weights, saved as a pixel-loss preset (--keep-visible refuses a normalised-pixel MAE).
# Run from anywhere; the comparison resumes where it stopped.
cd "$(dirname "$0")/../../.."
P=presets/mae_small_fmnist_px
R=presets/mae_small_random_px
python - <<PY
from dreamkeras.encoders import load_autoencoder
load_autoencoder("mae-small-32", norm_pix_loss=False, seed=1).save_to_preset("$R")
PY
V="--encoder-input image --mask-ratio 0.75 --inference-mask-ratio 0.75"
python apps/compare.py --backend jax --dataset fashion_mnist --seeds 1 2 3 \
  --output comparisons/fmnist_dream_visible --reference chain-dense \
  --variant "chain-dense=--model baseline --blocks 3 --width 16 --head dense" \
  --variant "small-dream-pretrained-visible=--model dreamnet --blocks 3 --width 16 --encoder $P --head dense $V --keep-visible" \
  --variant "small-dream-random-visible=--model dreamnet --blocks 3 --width 16 --encoder $R --head dense $V --keep-visible" \
  --variant "small-dream-pretrained-masked=--model dreamnet --blocks 3 --width 16 --encoder $P --head dense $V" \
  --common "--epochs 2 --train-subset 5000 --no-randaugment --mixup-alpha 0 --image-size 32 --verbose 2"
# How close each form's dreams are to the images:
python docs/experiments/fmnist_dream_visible/dream_error.py --pretrained "$P" --random "$R"
# The dreams of the first seed's pretrained model, six test images prepared as the app does:
python - <<PY
import sys, numpy as np
sys.path.insert(0, "docs/experiments/fmnist_probe")
from probe import arrays, prepare
from dreamkeras.data.sources import load_fashion_mnist
np.save("fmnist_test6.npy", prepare(arrays(load_fashion_mnist().eval)[0][:6]))
PY
python apps/dream.py --model comparisons/fmnist_dream_visible/runs/small-dream-pretrained-visible/seed1.keras \
  --images fmnist_test6.npy --num-images 6 --output docs/fmnist_visible_dreams.png
