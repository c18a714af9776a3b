"""The dream grid command: a saved DreamNet's inputs and reconstructions as a PNG.

`--images` is a folder of image files (resized to the model's input size)
or a `.npy` array `(N, height, width, channels)` already preprocessed as the
model expects. Pixels from files are scaled by `--rescale` (default 1/255,
the `[0, 1]` pixels the apps train on).
"""

import os

from dreamkeras_cli.config import TrainingSetupError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def check_args(args):
    """Checks the dream flags before anything is loaded.

    Raises:
        TrainingSetupError: a missing `--model` or `--images`.
    """
    if not args.model or not args.images:
        raise TrainingSetupError("--model FILE.keras and --images PATH are both required.")
    if not os.path.isfile(args.model):
        raise TrainingSetupError(
            f"--model {args.model!r}: no such file; pass a .keras DreamNet saved by the apps."
        )
    if not (os.path.isdir(args.images) or (os.path.isfile(args.images) and args.images.endswith(".npy"))):
        raise TrainingSetupError(
            f"--images {args.images!r} is neither a folder of images nor a .npy file."
        )
    folder = os.path.dirname(os.path.abspath(args.output)) or "."
    if not os.path.isdir(folder) and os.path.exists(folder):
        raise TrainingSetupError(f"--output {args.output!r}: {folder!r} is not a folder.")


def load_images(path, num_images, image_shape, rescale=1 / 255):
    """Reads up to `num_images` images from a folder or a `.npy` file.

    Args:
        path: str. A folder of image files or a `.npy` file.
        num_images: int. How many to read (the first ones, in name order).
        image_shape: (int, int, int). The model's input shape; files are
            resized and converted to its channels.
        rescale: float. Factor for the pixels of image files.

    Returns:
        A float32 array `(n, height, width, channels)`.

    Example:

    ```python
    images = load_images("photos/", 4, (32, 32, 3))
    ```
    """
    import numpy as np

    if os.path.isfile(path) and path.endswith(".npy"):
        images = np.load(path)[:num_images].astype("float32")
        if images.ndim == 3 and image_shape[-1] == 1:
            images = images[..., None]
        if images.shape[1:] != tuple(image_shape):
            raise TrainingSetupError(
                f"{path!r} holds images of shape {images.shape[1:]}; the model takes "
                f"{tuple(image_shape)}. Resize them or pass a folder of image files "
                f"(resized automatically)."
            )
        return images
    from PIL import Image

    names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS))
    names = names[:num_images]
    if not names:
        raise TrainingSetupError(f"No image files ({', '.join(IMAGE_EXTENSIONS)}) in {path!r}.")
    height, width, channels = image_shape
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise TrainingSetupError(f"The model takes {channels} channels; only 1 or 3 work here.")
    images = []
    for name in names:
        try:
            with Image.open(os.path.join(path, name)) as image:
                image = image.convert(mode).resize((width, height), Image.BILINEAR)
                array = np.asarray(image, dtype="float32").reshape(height, width, channels)
        except OSError as error:
            raise TrainingSetupError(
                f"Cannot read the image {os.path.join(path, name)!r} ({error}); remove "
                f"or replace it."
            ) from None
        images.append(array * rescale)
    return np.stack(images)


def draw(args):
    """Loads the model, reads the images and saves the grid; returns it."""
    import keras

    from dreamkeras.visualization import dream_grid

    try:
        model = keras.saving.load_model(args.model, compile=False)
    except Exception as error:  # Truncated file, another model, ...
        raise TrainingSetupError(
            f"Cannot load --model {args.model!r} as a Keras model ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})."
        ) from None
    if not any(layer.name.startswith("dream_connection_") for layer in model.layers):
        raise TrainingSetupError(
            f"--model {args.model!r} is a {type(model).__name__}, not a DreamNet: only a "
            f"DreamNet dreams."
        )
    images = load_images(args.images, args.num_images, tuple(model.input.shape[1:]), args.rescale)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    grid = dream_grid(model, images, path=args.output)
    print(
        f"Saved {os.path.abspath(args.output)}: {len(images)} rows (original, then each "
        f"dream), {grid.shape[1]}x{grid.shape[0]} pixels."
    )
    return grid
