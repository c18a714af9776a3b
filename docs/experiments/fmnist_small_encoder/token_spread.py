"""How much a frozen encoder's patch tokens change from one image to the next.

For a pretrained MAE and the same architecture with random weights: the overall
standard deviation of the tokens (both leave a final LayerNorm, so about 1) and
their standard deviation across images, averaged over token positions and
channels (how much of the output depends on the image at all). 1,000
Fashion-MNIST test images, prepared as in `../fmnist_probe/probe.py`.

    KERAS_BACKEND=jax python docs/experiments/fmnist_small_encoder/token_spread.py \
        --pretrained presets/mae_small_fmnist_px --random mae-small-32
"""

import argparse
import os
import sys

import keras
import numpy as np

import dreamkeras
from dreamkeras.data.sources import load_fashion_mnist

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fmnist_probe"))
from probe import arrays  # noqa: E402
from probe import prepare  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", required=True, help="MAE preset folder.")
    parser.add_argument("--random", default="mae-small-32", help="The same size, random weights.")
    args = parser.parse_args()
    images, _ = arrays(load_fashion_mnist().eval)
    images = prepare(images[:1000])
    for name, source in (("pretrained", args.pretrained), ("random", args.random)):
        keras.utils.set_random_seed(1)
        encoder = dreamkeras.encoders.load_encoder(source)
        tokens = keras.ops.convert_to_numpy(encoder(images, training=False))[:, 1:]
        print(
            f"{name}: token std {tokens.std():.3f}, "
            f"std across images {tokens.std(axis=0).mean():.3f}"
        )


if __name__ == "__main__":
    main()
