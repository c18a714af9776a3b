"""Pictures of the dreams: a DreamNet's reconstructions next to its inputs.

`dream_grid` draws the paper's Fig. 3: one row per image, the original first,
then the reconstruction of each dream connection (1st, 2nd, ... Mth).
`DreamImagesCallback` writes the same grid to TensorBoard during training.
"""

import numpy as np

import keras

DREAM_LAYER_PREFIX = "dream_connection_"
# Layers that name each dream of a model whose connection is shared by all
# stages (the reference networks): `dream_1`, `dream_2`, ...
DREAM_OUTPUT_PREFIX = "dream_"


def _numbered(layers):
    return sorted(layers, key=lambda layer: int(layer.name.rsplit("_", 1)[-1]))


def dream_outputs(model):
    """The symbolic dreams of `model`, in connection order.

    The second output of every `dream_connection_{m}` layer, or, for a
    model whose one connection is called after every stage (its node
    outputs are ambiguous), the outputs of its layers named `dream_{m}`.

    Raises:
        ValueError: `model` has no dreams.
    """
    connections = [
        layer for layer in model.layers if layer.name.startswith(DREAM_LAYER_PREFIX)
    ]
    if connections and all(len(layer._inbound_nodes) == 1 for layer in connections):
        return [layer.output[1] for layer in _numbered(connections)]
    named = [
        layer for layer in model.layers
        if layer.name.startswith(DREAM_OUTPUT_PREFIX)
        and layer.name[len(DREAM_OUTPUT_PREFIX):].isdigit()
    ]
    if named:
        return [layer.output for layer in _numbered(named)]
    raise ValueError(
        "`model` has no dream connections (layers named "
        f"'{DREAM_LAYER_PREFIX}1', '{DREAM_LAYER_PREFIX}2', ...). Pass a "
        f"`dreamkeras.models.DreamNet`. Received: {type(model).__name__} "
        f"{model.name!r}."
    )


def dream_model(model):
    """Returns a `keras.Model` from `model`'s input to its M dreams.

    Args:
        model: a `dreamkeras.models.DreamNet` (any functional model with
            `dream_connection_{m}` layers that return `(features, dream)`).

    Returns:
        A `keras.Model` whose outputs are the list of reconstructions,
        `(batch, height, width, channels)` each, in connection order.

    Example:

    ```python
    dreams = dreamkeras.dreams.images.dream_model(model).predict(images)
    ```
    """
    return keras.Model(model.input, dream_outputs(model), name=f"{model.name}_dreams")


def _to_display(image):
    """Rescales one `(height, width, channels)` image to [0, 1] RGB."""
    image = np.asarray(image, dtype="float32")
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] not in (1, 3):
        raise ValueError(
            "Only images with 1 or 3 channels can be shown. Received an image "
            f"of shape {image.shape}."
        )
    low, high = float(image.min()), float(image.max())
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image


def _resize(image, size):
    if image.shape[:2] == tuple(size):
        return image
    from PIL import Image

    pil = Image.fromarray(np.round(image * 255).astype("uint8"))
    pil = pil.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(pil, dtype="float32") / 255.0


def grid_from_rows(rows, padding=2, background=1.0):
    """Lays out rows of display images (each in [0, 1]) as one RGB grid.

    Args:
        rows: list of rows; each row a list of `(height, width, 3)` arrays
            of the same size.
        padding: int. Pixels between tiles and around the grid.
        background: float in [0, 1]. Colour of the padding.

    Returns:
        A `uint8` array `(rows * (h + padding) + padding, cols * (w +
        padding) + padding, 3)`.
    """
    tile_h, tile_w = rows[0][0].shape[:2]
    num_rows, num_cols = len(rows), max(len(row) for row in rows)
    grid = np.full(
        (
            num_rows * (tile_h + padding) + padding,
            num_cols * (tile_w + padding) + padding,
            3,
        ),
        background,
        dtype="float32",
    )
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            top = padding + r * (tile_h + padding)
            left = padding + c * (tile_w + padding)
            grid[top : top + tile_h, left : left + tile_w] = tile
    return np.round(grid * 255).astype("uint8")


def dream_grid(model, images, path=None, padding=2, batch_size=None, dreams_model=None):
    """Draws the originals and each connection's reconstruction as a grid.

    As in the paper's Fig. 3: one row per image, the original first, then the
    1st ... Mth reconstruction. Every tile is rescaled to [0, 1] on its own
    (min to black, max to white), since reconstructions are in the
    autoencoder's output space (per-patch normalised pixels for a MAE trained
    with `norm_pix_loss`). Reconstructions at another size than the input are
    resized to the input's size. The model runs in inference mode (no
    masking).

    Args:
        model: a `dreamkeras.models.DreamNet`.
        images: `(batch, height, width, channels)` array, preprocessed as the
            model expects (1 or 3 channels).
        path: optional str. Where to save the grid as a PNG.
        padding: int. White pixels between tiles.
        batch_size: optional int, for `predict`.
        dreams_model: optional `dream_model(model)`, to reuse across calls.

    Returns:
        The grid, a `uint8` array `(height, width, 3)`.

    Example:

    ```python
    grid = dreamkeras.dreams.images.dream_grid(model, x_test[:4], "dreams.png")
    ```
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            "`images` must be a batch `(batch, height, width, channels)`. "
            f"Received shape {images.shape}."
        )
    expected = tuple(model.input.shape[1:])
    if tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"`images` have shape {images.shape[1:]} but the model takes "
            f"{expected}. Resize them first."
        )
    dreams_model = dreams_model or dream_model(model)
    dreams = dreams_model.predict(images, batch_size=batch_size, verbose=0)
    if not isinstance(dreams, (list, tuple)):
        dreams = [dreams]
    size = images.shape[1:3]
    rows = []
    for i, image in enumerate(images):
        row = [_to_display(image)]
        row += [_resize(_to_display(dream[i]), size) for dream in dreams]
        rows.append(row)
    grid = grid_from_rows(rows, padding=padding)
    if path is not None:
        from PIL import Image

        Image.fromarray(grid).save(path, format="PNG")
    return grid


def write_image_summary(name, image, step):
    """Writes one `uint8` `(height, width, 3)` image to the default TF writer.

    Uses `tf.summary.image` when the `tensorboard` package is installed. TF
    2.21 no longer installs it, and `tf.summary.image` then raises; the same
    record (PNG bytes with width and height, under the "images" plugin) is
    then written with the core `tf.summary.write`, which TensorBoard reads
    identically.
    """
    import tensorflow as tf

    try:
        import tensorboard.summary.v2  # noqa: F401
    except ImportError:
        from tensorflow.core.framework import summary_pb2

        height, width = image.shape[:2]
        tensor = tf.stack(
            [
                tf.as_string(width),
                tf.as_string(height),
                tf.image.encode_png(tf.convert_to_tensor(image, tf.uint8)),
            ]
        )
        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "images"
        metadata.summary_description = "Originals and dreams of a DreamNet."
        return tf.summary.write(name, tensor, step=step, metadata=metadata)
    return tf.summary.image(name, image[None], step=step)


class DreamImagesCallback(keras.callbacks.Callback):
    """Writes the dream grid of fixed images to TensorBoard while training.

    Every `every_n_epochs` epochs, draws `dream_grid(model, images)` and
    writes it as an image summary named `"dreams"` (step = epoch) to
    `log_dir/dreams`, next to what `keras.callbacks.TensorBoard` writes.
    Uses `tf.summary` (see `write_image_summary`), so TensorFlow must be
    installed (it is a dreamkeras dependency); the model itself may run on
    any backend.

    Args:
        images: `(batch, height, width, channels)` array of a few images.
        log_dir: str. TensorBoard log folder (the summaries go to
            `log_dir/dreams`).
        every_n_epochs: int. Interval between grids.
        name: str. Summary name.

    Example:

    ```python
    model.fit(
        x_train, y_train, epochs=10,
        callbacks=[dreamkeras.dreams.images.DreamImagesCallback(x_test[:4], "logs")],
    )
    ```
    """

    def __init__(self, images, log_dir, every_n_epochs=1, name="dreams"):
        super().__init__()
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(
                "`every_n_epochs` must be a positive integer. "
                f"Received: {every_n_epochs!r}."
            )
        self.images = np.asarray(images)
        self.log_dir = log_dir
        self.every_n_epochs = every_n_epochs
        self.name = name
        self._writer = None
        self._dreams_model = None

    def _get_writer(self):
        if self._writer is None:
            import os

            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(
                os.path.join(self.log_dir, "dreams")
            )
        return self._writer

    def write(self, step):
        """Draws the grid now and writes it at `step`."""
        if self._dreams_model is None:
            self._dreams_model = dream_model(self.model)
        grid = dream_grid(self.model, self.images, dreams_model=self._dreams_model)
        with self._get_writer().as_default():
            write_image_summary(self.name, grid, step)
        self._writer.flush()
        return grid

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs == 0:
            self.write(epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
