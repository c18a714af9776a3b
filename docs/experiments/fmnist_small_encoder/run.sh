#!/bin/bash
# The stronger encoder on Fashion-MNIST (docs/results.md): mae-small-32 pretrained with the
# pixel loss on all 60,000 training images for 3 epochs, against the same MAE with random
# weights. Run from anywhere; both steps resume where they stopped.
cd "$(dirname "$0")/../../.."
P=presets/mae_small_fmnist_px
python apps/pretrain_mae.py --backend jax --dataset fashion_mnist --encoder mae-small-32 \
  --epochs 3 --no-norm-pix-loss --output "$P" --logdir logs/mae_small_fmnist_px
python apps/compare.py --backend jax --dataset fashion_mnist --seeds 1 2 3 \
  --output comparisons/fmnist_small_encoder --reference chain-dense \
  --variant "chain-dense=--model baseline --blocks 3 --width 16 --head dense" \
  --variant "small-sleep-pretrained-features=--model sleepnet --blocks 3 --width 16 --encoder $P --head dense" \
  --variant "small-sleep-random-features=--model sleepnet --blocks 3 --width 16 --encoder mae-small-32 --head dense" \
  --variant "small-sleep-pretrained-image-pooled=--model sleepnet --blocks 3 --width 16 --encoder $P --head dense --encoder-input image --projection pooled" \
  --variant "small-sleep-random-image-pooled=--model sleepnet --blocks 3 --width 16 --encoder mae-small-32 --head dense --encoder-input image --projection pooled" \
  --variant "small-dream-pretrained-image=--model dreamnet --blocks 3 --width 16 --encoder $P --head dense --encoder-input image" \
  --variant "small-dream-random-image=--model dreamnet --blocks 3 --width 16 --encoder mae-small-32 --head dense --encoder-input image" \
  --common "--epochs 2 --train-subset 5000 --no-randaugment --mixup-alpha 0 --image-size 32 --verbose 2"
# M = 2 and 4 (the chain at the same depth as the reference of each), and the unfrozen encoder:
for M in 2 4; do
python apps/compare.py --backend jax --dataset fashion_mnist --seeds 1 2 3 \
  --output comparisons/fmnist_small_encoder --reference chain-dense \
  --variant "chain-dense=--model baseline --blocks 3 --width 16 --head dense" \
  --variant "chain-dense-b$M=--model baseline --blocks $M --width 16 --head dense" \
  --variant "small-sleep-pretrained-image-pooled-m$M=--model sleepnet --blocks $M --width 16 --encoder $P --head dense --encoder-input image --projection pooled" \
  --variant "small-sleep-random-image-pooled-m$M=--model sleepnet --blocks $M --width 16 --encoder mae-small-32 --head dense --encoder-input image --projection pooled" \
  --common "--epochs 2 --train-subset 5000 --no-randaugment --mixup-alpha 0 --image-size 32 --verbose 2"
done
python apps/compare.py --backend jax --dataset fashion_mnist --seeds 1 2 3 \
  --output comparisons/fmnist_small_encoder --reference chain-dense \
  --variant "chain-dense=--model baseline --blocks 3 --width 16 --head dense" \
  --variant "small-sleep-pretrained-image-pooled-unfrozen=--model sleepnet --blocks 3 --width 16 --encoder $P --head dense --encoder-input image --projection pooled --unfreeze" \
  --variant "small-sleep-random-image-pooled-unfrozen=--model sleepnet --blocks 3 --width 16 --encoder mae-small-32 --head dense --encoder-input image --projection pooled --unfreeze" \
  --common "--epochs 2 --train-subset 5000 --no-randaugment --mixup-alpha 0 --image-size 32 --verbose 2"
# Linear probes of the two encoders:
python docs/experiments/fmnist_probe/probe.py --pretrained "$P" --random mae-small-32 \
  --seeds 1 2 3 --output docs/experiments/fmnist_small_encoder/probe.json
