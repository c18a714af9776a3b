"""How close a DreamConnection's dreams are to the image, in each dream form.

For a pretrained MAE and a random one of the same size, on 1,000 Fashion-MNIST
test images (prepared as in `../fmnist_probe/probe.py`): the mean squared error
between the dream and the image, over all pixels and over the hidden patches
only, for the reference's dream (nothing hidden at inference: the decoder's
output everywhere), a dream with 75% of the patches hidden at inference, and
the `keep_visible` dream (the input's visible patches, the reconstruction
where hidden). The pixels' own variance is printed as the yardstick: an
error at or above it carries nothing of the image.

    KERAS_BACKEND=jax python docs/experiments/fmnist_dream_visible/dream_error.py \
        --pretrained presets/mae_small_fmnist_px --random presets/mae_small_random_px
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

FORMS = {
    "reference (nothing hidden)": dict(),
    "75% hidden at inference": dict(inference_mask_ratio=0.75),
    "75% hidden, keep_visible": dict(
        mask_ratio=0.75, inference_mask_ratio=0.75, keep_visible=True
    ),
}


def hidden_pixels(connection, shape):
    """Boolean image-space map of the patches `connection` hides at inference."""
    grid_h, grid_w = connection.spec.grid_size
    keep = max(1, int(round(grid_h * grid_w * (1 - connection.inference_mask_ratio))))
    hidden = np.ones(grid_h * grid_w, bool)
    hidden[np.argsort(connection._inference_noise[0])[:keep]] = False
    patch = (shape[0] // grid_h, shape[1] // grid_w)
    return np.kron(hidden.reshape(grid_h, grid_w), np.ones(patch, bool)).astype(bool)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", required=True, help="Pixel-loss MAE preset.")
    parser.add_argument("--random", required=True, help="The same size, random weights.")
    args = parser.parse_args()
    images, _ = arrays(load_fashion_mnist().eval)
    images = prepare(images[:1000])
    print(f"pixel variance {images.var():.4f}")
    for name, source in (("pretrained", args.pretrained), ("random", args.random)):
        mae = dreamkeras.encoders.load_autoencoder(source)
        for form, options in FORMS.items():
            connection = dreamkeras.DreamConnection(
                mae, encoder_input="image", seed=0, **options
            )
            features = np.zeros((len(images), 4, 4, 8), "float32")
            _, dream = connection(features, images=images)
            error = (keras.ops.convert_to_numpy(dream) - images) ** 2
            line = f"{name}, {form}: MSE all pixels {error.mean():.4f}"
            if options:
                hidden = hidden_pixels(connection, images.shape[1:3])
                line += f", hidden patches {error[:, hidden].mean():.4f}"
            print(line)


if __name__ == "__main__":
    main()
