"""Draws a trained DreamNet's dreams: originals and reconstructions as a PNG.

Usage:

    python -m apps.dream --model dreamnet.keras --images photos/ \\
        --output dreams.png --num-images 4

`--images` is a folder of image files (PNG, JPEG, ...; resized to the model's
input size) or a `.npy` array `(N, height, width, channels)` already
preprocessed as the model expects. Pixels from files are in [0, 255]; use
`--rescale` to match the model's training (e.g. `--rescale 0.00392156862745098`
for [0, 1]).
"""

import argparse
import os
import sys

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Save a grid of a DreamNet's inputs and reconstructions."
    )
    parser.add_argument("--model", required=True, help="A saved `.keras` DreamNet.")
    parser.add_argument(
        "--images",
        required=True,
        help="A folder of image files or a `.npy` array of images.",
    )
    parser.add_argument("--output", default="dreams.png", help="PNG file to write.")
    parser.add_argument(
        "--num-images", type=int, default=4, help="Rows of the grid (images used)."
    )
    parser.add_argument(
        "--rescale",
        type=float,
        default=1.0,
        help="Factor applied to the pixels of image files (default 1: [0, 255]).",
    )
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error(f"--num-images must be at least 1. Received: {args.num_images}.")
    return args


def load_images(path, num_images, image_shape, rescale=1.0):
    """Reads up to `num_images` images from a folder or a `.npy` file.

    Args:
        path: str. A folder of image files or a `.npy` file.
        num_images: int. How many to read (the first ones, in name order).
        image_shape: (int, int, int). The model's input shape; files are
            resized and converted to its channels.
        rescale: float. Factor for the pixels of image files.

    Returns:
        A float32 array `(n, height, width, channels)`.
    """
    if os.path.isfile(path) and path.endswith(".npy"):
        images = np.load(path)[:num_images].astype("float32")
        if images.ndim == 3 and image_shape[-1] == 1:
            images = images[..., None]
        if images.shape[1:] != tuple(image_shape):
            raise ValueError(
                f"{path!r} holds images of shape {images.shape[1:]}; the model "
                f"takes {tuple(image_shape)}. Resize them or pass a folder of "
                "image files (resized automatically)."
            )
        return images
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"--images {path!r} is neither a folder nor a `.npy` file."
        )
    from PIL import Image

    names = sorted(
        name for name in os.listdir(path) if name.lower().endswith(IMAGE_EXTENSIONS)
    )[:num_images]
    if not names:
        raise FileNotFoundError(
            f"No image files ({', '.join(IMAGE_EXTENSIONS)}) in {path!r}."
        )
    height, width, channels = image_shape
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise ValueError(f"The model takes {channels} channels; only 1 or 3 work here.")
    images = []
    for name in names:
        with Image.open(os.path.join(path, name)) as image:
            image = image.convert(mode).resize((width, height), Image.BILINEAR)
            array = np.asarray(image, dtype="float32").reshape(height, width, channels)
        images.append(array * rescale)
    return np.stack(images)


def main(argv=None):
    args = parse_args(argv)
    import keras

    import dreamkeras  # noqa: F401  Registers the classes of the saved model.
    from dreamkeras.visualization import dream_grid

    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"--model {args.model!r} does not exist.")
    model = keras.saving.load_model(args.model, compile=False)
    images = load_images(
        args.images, args.num_images, tuple(model.input.shape[1:]), args.rescale
    )
    output_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(output_dir, exist_ok=True)
    grid = dream_grid(model, images, path=args.output)
    print(
        f"Saved {args.output}: {len(images)} rows (original, then each dream), "
        f"{grid.shape[1]}x{grid.shape[0]} pixels."
    )
    return grid


if __name__ == "__main__":
    main(sys.argv[1:])
