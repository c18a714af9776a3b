"""The tf.data input pipeline of the training apps.

Images enter as unbatched `(image, label)` pairs with pixel values in
`[0, 255]` and integer labels. The pipeline checks labels and channels,
caches the decoded images once, shuffles, applies `keras.layers.RandAugment`
per image, resizes to the model's input size, batches, one-hot encodes the
labels, applies `keras.layers.MixUp` per batch, scales pixels to `[0, 1]`
and prefetches.

The Keras preprocessing layers run inside `Dataset.map` on the TensorFlow
side whatever the Keras backend (jax, tensorflow or torch): they switch to
TensorFlow ops when called in a tf.data graph.
"""


import keras
import numpy as np
import tensorflow as tf

from dreamkeras.data.augment import RandAugment
from dreamkeras.data.datasets import ImageDataset
from dreamkeras.data.errors import DataError

LABEL_ERROR_MARKER = "dreamkeras-label-out-of-range"


def known_size(dataset):
    """The number of elements of a `tf.data.Dataset` when known, else None.

    Example:

    ```python
    known_size(tf.data.Dataset.range(5))  # 5
    ```
    """
    size = int(dataset.cardinality())
    return size if size > 0 else None


def validate_labels(labels, num_classes, where="labels"):
    """Raises a `DataError` unless every label is an integer in range.

    Args:
        labels: array-like of class indices.
        num_classes: int. Number of classes.
        where: str. Names the labels in the message.

    Returns:
        The labels as an `int64` numpy array.

    Example:

    ```python
    dreamkeras.data.validate_labels([0, 3, 9], num_classes=10)
    ```
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(
            f"{where} must be a 1-D array of integer class indices. Received "
            f"shape {labels.shape}. Pass class indices, not one-hot vectors."
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise DataError(
                f"{where} must be integer class indices. Received dtype "
                f"{labels.dtype} with non-integer values."
            )
    labels = labels.astype("int64")
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            bad = labels[(labels < 0) | (labels >= num_classes)]
            raise DataError(
                f"{where} must be in [0, {num_classes}) for {num_classes} "
                f"classes. Found {bad.size} label(s) out of range (min {low}, "
                f"max {high}), e.g. {bad[:5].tolist()}. Check the number of "
                f"classes or the label files."
            )
    return labels


def _check_channels(channels, target_channels):
    if channels is None or channels == target_channels:
        return
    if channels == 1 and target_channels == 3:
        return
    raise DataError(
        f"Images have {channels} channel(s) but the model takes "
        f"{target_channels}. Supported: {target_channels} channels, or 1 "
        f"(grayscale, repeated to 3 channels). Convert the images (e.g. drop "
        f"the alpha channel of RGBA images) before training."
    )


def from_arrays(
    name,
    train_images,
    train_labels,
    eval_images,
    eval_labels,
    num_classes,
    eval_split="test",
    class_names=None,
):
    """Builds an `ImageDataset` from in-memory numpy arrays.

    Labels are checked here, once, before any training starts.

    Args:
        name: str. Name of the dataset.
        train_images: array `(n, height, width)` or `(n, height, width,
            channels)`, values in `[0, 255]`.
        train_labels: array `(n,)` of class indices.
        eval_images: held-out images, same layout.
        eval_labels: held-out labels.
        num_classes: int. Number of classes.
        eval_split: str. Name of the held-out split.
        class_names: list of str or None.

    Returns:
        An `ImageDataset`.

    Example:

    ```python
    data = dreamkeras.data.from_arrays(
        "toy", x_train, y_train, x_test, y_test, num_classes=10
    )
    ```
    """
    splits = []
    for split, images, labels in (
        ("train", train_images, train_labels),
        (eval_split, eval_images, eval_labels),
    ):
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4:
            raise DataError(
                f"{split} images must have shape (n, height, width) or (n, "
                f"height, width, channels). Received shape {images.shape}."
            )
        labels = validate_labels(labels, num_classes, where=f"{split} labels")
        if len(labels) != len(images):
            raise DataError(
                f"{split}: {len(images)} images but {len(labels)} labels."
            )
        splits.append((images, labels))
    (x_train, y_train), (x_eval, y_eval) = splits
    return ImageDataset(
        name=name,
        train=tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        eval=tf.data.Dataset.from_tensor_slices((x_eval, y_eval)),
        num_classes=num_classes,
        eval_split=eval_split,
        train_size=len(y_train),
        eval_size=len(y_eval),
        class_names=class_names,
    )


def checked_label(label, num_classes):
    """Returns `label` as int64, asserting in the graph that it is in range.

    The assertion's message carries `LABEL_ERROR_MARKER`, so the training
    apps turn it into a `DataError`.
    """
    label = tf.cast(label, tf.int64)
    in_range = tf.logical_and(label >= 0, label < num_classes)
    assert_op = tf.debugging.Assert(
        in_range,
        [
            f"{LABEL_ERROR_MARKER}: labels must be in [0, {num_classes}) "
            f"for {num_classes} classes; found label",
            label,
        ],
    )
    with tf.control_dependencies([assert_op]):
        return tf.identity(label)


def _checked_example(num_classes, target_channels):
    """Returns a map function: label check, dtype and channel conversion."""

    def check(image, label):
        label = checked_label(label, num_classes)
        image = tf.cast(image, tf.float32)
        if image.shape.rank == 2:
            image = image[..., None]
        if image.shape[-1] == 1 and target_channels == 3:
            image = tf.image.grayscale_to_rgb(image)
        return image, label

    return check


def label_error_from(exception):
    """Returns a `DataError` if `exception` is the pipeline's label check."""
    message = str(exception)
    if LABEL_ERROR_MARKER not in message:
        return None
    detail = message[message.index(LABEL_ERROR_MARKER) + len(LABEL_ERROR_MARKER):]
    detail = detail.split("\n")[0].strip(": ")
    return DataError(
        f"Out-of-range label in the input data: {detail}. Check the number of "
        f"classes or the label files."
    )


def shard_examples(dataset, shard, batch_size):
    """One process's blocks of a multi-process run's example stream.

    Process `index` of `count` keeps, of every `count * batch_size`
    consecutive examples, the `index`-th block of `batch_size`: batched by
    `batch_size`, the processes' batches laid side by side in process order
    (as `jax.make_array_from_process_local_data` assembles them) are the
    single-process run's batches, example for example.

    Args:
        dataset: `tf.data.Dataset` of unbatched examples.
        shard: `(count, index)` or `(count, index, batches)`, or None
            (the dataset unchanged).
        batch_size: int. This process's batch size.

    Returns:
        A `tf.data.Dataset`.

    Example:

    ```python
    part = shard_examples(tf.data.Dataset.range(16), (2, 1), 4)  # 4..7, 12..15
    ```
    """
    if shard is None:
        return dataset
    count, index = int(shard[0]), int(shard[1])
    return dataset.enumerate().filter(
        lambda position, example: (position // batch_size) % count == index
    ).map(lambda position, example: example)


def build_pipeline(
    dataset,
    num_classes,
    image_size,
    batch_size,
    training,
    channels=3,
    randaugment=True,
    randaugment_factor=0.5,
    mixup_alpha=0.2,
    cache=True,
    shuffle_buffer=10000,
    repeat=False,
    drop_remainder=None,
    seed=None,
    shard=None,
):
    """Turns unbatched `(image, label)` pairs into model-ready batches.

    Training: check labels and channels -> cache -> shuffle -> (repeat) ->
    `RandAugment` (per image, values in `[0, 255]`) -> resize -> batch ->
    one-hot labels -> `MixUp` (per batch) -> scale to `[0, 1]` -> prefetch.
    Evaluation: the same without shuffling and augmentation.

    Out-of-range labels stop the iteration with a `tf.errors` error whose
    message `label_error_from` recognises; arrays checked with
    `validate_labels` fail earlier.

    Args:
        dataset: `tf.data.Dataset` of unbatched `(image, label)`, pixel
            values in `[0, 255]` (uint8 or float).
        num_classes: int. Number of classes (labels are one-hot encoded).
        image_size: (int, int). Height and width the model takes.
        batch_size: int. Batch size.
        training: bool. Shuffle and augment.
        channels: int. Channels the model takes; 1-channel images are
            repeated to 3.
        randaugment: bool. Apply `keras.layers.RandAugment` (training only).
        randaugment_factor: float in `[0, 1]`. RandAugment's strength
            (magnitude) of each operation.
        mixup_alpha: float. `keras.layers.MixUp` strength; 0 disables it
            (training only).
        cache: bool. Cache the decoded images in memory (before resizing).
        shuffle_buffer: int. Shuffle buffer size.
        repeat: bool. Repeat forever (for a fixed number of steps per epoch).
        drop_remainder: bool or None. Drop the last partial batch; defaults
            to `training`.
        seed: int or None. Seed of the shuffle and the augmentations.
        shard: `(count, index)` or `(count, index, batches)`, or None. One
            process's part of a multi-process run: after the shuffle (same
            seed on every process), keep the `index`-th block of
            `batch_size` examples of every `count * batch_size`
            (`shard_examples`), so that the processes' batches side by side
            are the single-process run's batches of `count * batch_size`;
            without `repeat`, stop after `batches` batches (every process
            runs as many steps).

    Returns:
        A `tf.data.Dataset` of `(images float32 (batch, h, w, channels) in
        [0, 1], labels float32 (batch, num_classes))`.

    Example:

    ```python
    train = dreamkeras.data.build_pipeline(
        data.train, data.num_classes, (32, 32), batch_size=64, training=True
    )
    ```
    """
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise DataError(
            "The dataset must yield `(image, label)` pairs. Received element "
            f"spec {spec}."
        )
    image_spec = spec[0]
    if image_spec.shape.rank not in (2, 3):
        raise DataError(
            "Images must be unbatched `(height, width, channels)` tensors. "
            f"Received shape {image_spec.shape}; unbatch the dataset first."
        )
    if image_spec.shape.rank == 3:
        _check_channels(image_spec.shape[-1], channels)
    else:
        _check_channels(1, channels)
    image_size = tuple(int(s) for s in image_size)
    if drop_remainder is None:
        drop_remainder = training
    autotune = tf.data.AUTOTUNE

    ds = dataset.map(_checked_example(num_classes, channels), num_parallel_calls=autotune)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = shard_examples(ds, shard, batch_size)
    if training and randaugment:
        # float32 whatever the global dtype policy (mixed precision is for the model).
        rand_augment = RandAugment(
            value_range=(0, 255), factor=randaugment_factor, seed=seed,
            dtype="float32",
        )
        ds = ds.map(
            lambda image, label: (rand_augment(image), label),
            num_parallel_calls=autotune,
        )

    static_size = tuple(image_spec.shape[:2])

    def resize(image, label):
        if static_size != image_size:
            image = tf.image.resize(image, image_size, antialias=True)
            image = tf.ensure_shape(image, image_size + (channels,))
        return image, label

    ds = ds.map(resize, num_parallel_calls=autotune)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if shard is not None and len(shard) > 2 and shard[2] is not None and not repeat:
        ds = ds.take(shard[2])
    ds = ds.map(
        lambda images, labels: (images, tf.one_hot(labels, num_classes)),
        num_parallel_calls=autotune,
    )
    if training and mixup_alpha and mixup_alpha > 0:
        mix_up = keras.layers.MixUp(alpha=mixup_alpha, seed=seed, dtype="float32")

        def mix(images, labels):
            mixed = mix_up({"images": images, "labels": labels})
            return mixed["images"], mixed["labels"]

        ds = ds.map(mix, num_parallel_calls=autotune)
    ds = ds.map(
        lambda images, labels: (
            tf.clip_by_value(images / 255.0, 0.0, 1.0),
            tf.cast(labels, tf.float32),
        ),
        num_parallel_calls=autotune,
    )
    return ds.prefetch(autotune)
