"""Checks and preprocessing for text classification data."""

import numpy as np


def check_labels(labels, num_classes):
    """Raises a clear `ValueError` if some labels are not in `[0, num_classes)`.

    Sparse categorical cross-entropy does not check its labels on every
    backend (JAX silently returns a meaningless loss), so check them before
    training.

    Args:
        labels: array-like of ints.
        num_classes: int.

    Returns:
        The labels as an int64 numpy array.

    Example:

    ```python
    check_labels([0, 3, 1], num_classes=4)
    ```
    """
    labels = np.asarray(labels)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(
                f"Labels must be integer class ids. Received dtype {labels.dtype}."
            )
    labels = labels.astype("int64")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise ValueError(
            f"{bad.size} label(s) outside the class range [0, {num_classes}): "
            f"e.g. label {labels.flat[bad[0]]} at index {bad[0]}. Check "
            f"`num_classes` or remap the labels (some datasets count from 1)."
        )
    return labels


def check_label_dataset(dataset, num_classes):
    """Adds a range check on the labels of a `(text, label, ...)` dataset.

    Iterating the result raises `tf.errors.InvalidArgumentError` naming the
    bad label as soon as one is outside `[0, num_classes)`.

    Args:
        dataset: `tf.data.Dataset` of `(x, label)` or `(x, label, weight)`.
        num_classes: int.

    Returns:
        `tf.data.Dataset` with the same elements.

    Example:

    ```python
    train = check_label_dataset(train, num_classes=4)
    ```
    """
    import tensorflow as tf

    def check(x, y, *rest):
        y = tf.convert_to_tensor(y)
        message = f"label outside the class range [0, {num_classes})"
        with tf.control_dependencies(
            [
                tf.debugging.assert_greater_equal(
                    y, tf.cast(0, y.dtype), message=message
                ),
                tf.debugging.assert_less(
                    y, tf.cast(num_classes, y.dtype), message=message
                ),
            ]
        ):
            y = tf.identity(y)
        return (x, y) + tuple(rest)

    return dataset.map(check)


def make_preprocessor(tokenizer, sequence_length=128, backbone=None):
    """The KerasHub text classifier preprocessor that matches a tokenizer.

    Finds the `keras_hub.models.TextClassifierPreprocessor` subclass made for
    the tokenizer's class (e.g. `RobertaTextClassifierPreprocessor` for a
    `RobertaTokenizer`); it tokenizes, adds the special tokens, truncates
    long texts and pads to `sequence_length`. With `backbone`, also checks
    that the vocabularies match and that `sequence_length` fits the encoder.

    Args:
        tokenizer: a KerasHub tokenizer.
        sequence_length: int. Length of the packed inputs.
        backbone: optional KerasHub text backbone to check against.

    Returns:
        A `TextClassifierPreprocessor`.

    Example:

    ```python
    tokenizer = keras_hub.tokenizers.RobertaTokenizer.from_preset("roberta_base_en")
    preprocessor = make_preprocessor(tokenizer, 128, backbone)
    ```
    """
    import keras_hub

    from dreamkeras.models.text_classifiers import check_tokenizer

    if backbone is not None:
        check_tokenizer(tokenizer, backbone)
        max_length = getattr(backbone, "max_sequence_length", None)
        if max_length is not None and sequence_length > max_length:
            raise ValueError(
                f"`sequence_length={sequence_length}` is longer than the "
                f"backbone's `max_sequence_length={max_length}`."
            )

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    base = keras_hub.models.TextClassifierPreprocessor
    for cls in subclasses(base):
        if getattr(cls, "tokenizer_cls", None) is type(tokenizer):
            return cls(tokenizer, sequence_length=sequence_length)
    raise ValueError(
        f"No KerasHub text classifier preprocessor is made for a "
        f"{type(tokenizer).__name__}. Build one with "
        f"`TextClassifierPreprocessor.from_preset(...)`."
    )
