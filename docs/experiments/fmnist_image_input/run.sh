#!/bin/bash
# The image-fed connections on Fashion-MNIST (docs/results.md). First pretrain the encoder:
#   python apps/pretrain_mae.py --encoder mae-tiny-32 --epochs 2 --output presets/mae_tiny_fmnist
# then run this script from anywhere; it resumes where it stopped.
cd "$(dirname "$0")/../../.."
python apps/compare.py --backend jax --dataset fashion_mnist --seeds 1 2 3 --output comparisons/fmnist_image \
  --variant "chain-dense=--model baseline --blocks 3 --width 16 --head dense" \
  --variant "sleep-pretrained-image=--model sleepnet --blocks 3 --width 16 --encoder presets/mae_tiny_fmnist --head dense --encoder-input image" \
  --variant "sleep-random-image=--model sleepnet --blocks 3 --width 16 --encoder mae-tiny-32 --head dense --encoder-input image" \
  --variant "sleep-pretrained-imgfeat=--model sleepnet --blocks 3 --width 16 --encoder presets/mae_tiny_fmnist --head dense --encoder-input image+features" \
  --variant "sleep-random-imgfeat=--model sleepnet --blocks 3 --width 16 --encoder mae-tiny-32 --head dense --encoder-input image+features" \
  --variant "sleep-pretrained-image-pooled=--model sleepnet --blocks 3 --width 16 --encoder presets/mae_tiny_fmnist --head dense --encoder-input image --projection pooled" \
  --variant "sleep-random-image-pooled=--model sleepnet --blocks 3 --width 16 --encoder mae-tiny-32 --head dense --encoder-input image --projection pooled" \
  --variant "dream-pretrained-image=--model dreamnet --blocks 3 --width 16 --encoder presets/mae_tiny_fmnist --head dense --encoder-input image" \
  --variant "dream-random-image=--model dreamnet --blocks 3 --width 16 --encoder mae-tiny-32 --head dense --encoder-input image" \
  --variant "sleep-pretrained-image-pooled-unfrozen=--model sleepnet --blocks 3 --width 16 --encoder presets/mae_tiny_fmnist --head dense --encoder-input image --projection pooled --unfreeze" \
  --variant "sleep-random-image-pooled-unfrozen=--model sleepnet --blocks 3 --width 16 --encoder mae-tiny-32 --head dense --encoder-input image --projection pooled --unfreeze" \
  --variant "sleep-pretrained-image-pooled-m1=--model sleepnet --blocks 1 --width 16 --encoder presets/mae_tiny_fmnist --head dense --encoder-input image --projection pooled" \
  --variant "sleep-random-image-pooled-m1=--model sleepnet --blocks 1 --width 16 --encoder mae-tiny-32 --head dense --encoder-input image --projection pooled" \
  --common "--epochs 2 --train-subset 5000 --no-randaugment --mixup-alpha 0 --image-size 32 --verbose 2"
