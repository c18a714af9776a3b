"""The dream grid command: a saved DreamNet's inputs and reconstructions as a PNG.

`--images` is a folder of image files (resized to the model's input size)
or a `.npy` array `(N, height, width, channels)` already preprocessed as the
model expects. Pixels from files are scaled by `--rescale` (default 1/255,
the `[0, 1]` pixels the apps train on).
"""

import json
import os
import zipfile

from dreamkeras_cli.checks import check_writable
from dreamkeras_cli.config import TrainingSetupError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def check_model_file(path):
    """Checks that `path` is a whole `.keras` file holding a DreamNet, without Keras.

    A `.keras` file is a zip archive (`config.json`, `model.weights.h5`,
    `metadata.json`) whose index is at its end: a truncated file (an
    interrupted copy or save) is not a zip archive.

    Raises:
        TrainingSetupError: a missing, truncated or non-Keras file, or a
            model without dream connections.
    """
    if not os.path.isfile(path):
        raise TrainingSetupError(
            f"--model {path!r}: no such file; pass a .keras DreamNet saved by the apps."
        )
    if not zipfile.is_zipfile(path):
        raise TrainingSetupError(
            f"--model {path!r} is not a whole .keras file (a .keras file is a zip "
            f"archive; this one is truncated or of another kind). Save or copy the "
            f"model again."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            text = archive.read("config.json").decode("utf-8") if "config.json" in names else ""
        config = json.loads(text) if text else {}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise TrainingSetupError(
            f"--model {path!r} is damaged ({type(error).__name__}: {error}). Save or copy "
            f"the model again."
        ) from None
    if not config or "model.weights.h5" not in names:
        raise TrainingSetupError(
            f"--model {path!r} is a zip archive but not a Keras model (no config.json / "
            f"model.weights.h5). Pass a .keras DreamNet saved by the apps."
        )
    if "dreamkeras>DreamNet" not in text and '"dream_connection_' not in text:
        kind = config.get("class_name", "model") if isinstance(config, dict) else "model"
        raise TrainingSetupError(
            f"--model {path!r} is a {kind}, not a DreamNet: only a DreamNet dreams. Pass "
            f"a model trained with --model dreamnet."
        )


def check_args(args):
    """Checks the dream flags before anything is loaded.

    Raises:
        TrainingSetupError: a missing `--model` or `--images`, a model file
            that is not a whole DreamNet, or an `--output` that cannot be
            written.
    """
    if not args.model or not args.images:
        raise TrainingSetupError("--model FILE.keras and --images PATH are both required.")
    check_model_file(args.model)
    if not (os.path.isdir(args.images) or (os.path.isfile(args.images) and args.images.endswith(".npy"))):
        raise TrainingSetupError(
            f"--images {args.images!r} is neither a folder of images nor a .npy file."
        )
    if os.path.isdir(args.output):
        raise TrainingSetupError(
            f"--output {args.output!r} is a folder; pass the PNG file to write."
        )
    check_writable(args.output, "--output")


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

    from dreamkeras.dreams.images import dream_grid

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
    grid = dream_grid(model, images)
    from PIL import Image

    from dreamkeras.utils import atomic

    output = os.path.abspath(args.output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with atomic.replacing(output) as temporary:
        Image.fromarray(grid).save(temporary, format="PNG")
    print(
        f"Saved {os.path.abspath(args.output)}: {len(images)} rows (original, then each "
        f"dream), {grid.shape[1]}x{grid.shape[0]} pixels."
    )
    return grid
