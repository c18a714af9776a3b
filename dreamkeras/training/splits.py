"""The validation split: model selection on training data, never on the test split.

Every classifier run has three parts of its data:

- **train**: what the optimizer sees;
- **validation**: what picks the best epoch (`ModelCheckpoint`), stops a run
  early (`--patience`), is the tuner's objective and the per-epoch `val_*`
  logs. It is the dataset's own validation split where it has one (an image
  or text folder with `train/`, `val/` and `test/`), otherwise
  `--validation-split` (10% by default) of the training split;
- **test**: evaluated once, at the end, on the final and on the best model.

A carved validation example is chosen by a keyed hash of its *content*
(SipHash of the serialised image or text, keyed by `SPLIT_SEED`), not by its
position: the loaders shuffle their files (tfds `shuffle_files`,
`image_dataset_from_directory`) differently at every pass, so a split by
position would move examples between the two parts from one epoch to the
next. By content, an example is in the same part in every epoch, in every
run, on every machine, and duplicates of an image stay together. Where the
training split's size is known and at most `EXACT_COUNT_LIMIT` examples
(CIFAR-100, Fashion-MNIST, Tiny ImageNet), one pass over its hashes makes
the validation part exactly `round(fraction * size)` examples; above that
(ImageNet) the share is `fraction` in expectation and the sizes are
estimates, marked as such.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from dreamkeras.data import DataError

DEFAULT_VALIDATION_SHARE = 0.1
# The split's key: fixed, so that every run (whatever its --seed) and the
# tuner validate on the same examples.
SPLIT_SEED = 20240917
HASH_BUCKETS = 2**62
EXACT_COUNT_LIMIT = 200_000


def example_hash(example, seed=SPLIT_SEED):
    """The keyed hash of one example's content, an int64 in `[0, 2**62)`.

    Args:
        example: a tensor (an image, a text).
        seed: int. The hash key.

    Example:

    ```python
    example_hash(tf.zeros((32, 32, 3), tf.uint8))
    ```
    """
    serialized = tf.io.serialize_tensor(example)
    return tf.strings.to_hash_bucket_strong(
        serialized, HASH_BUCKETS, key=[int(seed), int(seed) ^ 0x5EED5EED]
    )


def _hashes(dataset, seed):
    hashed = dataset.map(
        lambda example, label: example_hash(example, seed),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    parts = [np.asarray(batch) for batch in hashed.batch(4096).as_numpy_iterator()]
    return np.concatenate(parts) if parts else np.zeros((0,), "int64")


def validation_threshold(dataset, fraction, size=None, seed=SPLIT_SEED):
    """The hash value at or below which an example is a validation example.

    Args:
        dataset: `tf.data.Dataset` of `(example, label)` pairs.
        fraction: float in `(0, 1)`. The validation share.
        size: int or None. The dataset's size, when known.
        seed: int. The hash key.

    Returns:
        `(threshold, validation_size, exact)`: `exact` says whether the
        sizes were counted (one pass over the data) or are estimates.
    """
    if size is not None and size <= EXACT_COUNT_LIMIT:
        hashes = np.sort(_hashes(dataset, seed))
        count = len(hashes)
        wanted = int(round(count * fraction))
        if wanted < 1 or wanted >= count:
            raise DataError(
                f"--validation-split {fraction} of {count} training examples leaves "
                f"{wanted} for validation and {count - wanted} for training; both need "
                f"at least one. Use more data or another --validation-split."
            )
        threshold = int(hashes[wanted - 1])
        # Identical examples hash alike and stay on the same side.
        return threshold, int(np.sum(hashes <= threshold)), True
    threshold = int(fraction * HASH_BUCKETS) - 1
    estimate = None if size is None else int(round(size * fraction))
    return threshold, estimate, False


def with_validation(data, fraction=DEFAULT_VALIDATION_SHARE, seed=SPLIT_SEED):
    """`data` with its validation split: its own, or carved from `train`.

    Args:
        data: a `dreamkeras.data.LabelledDataset` (`ImageDataset`,
            `TextDataset`). `eval` is its test split.
        fraction: float in `[0, 1)`. Share of the training split carved out
            when the dataset has no validation split of its own; `0`: no
            validation (no best-epoch model, no early stopping).
        seed: int. The key of the content hash.

    Returns:
        A copy whose `validation` (and `validation_size`,
        `validation_split`) is set and whose `train` no longer holds the
        validation examples.

    Raises:
        dreamkeras.data.DataError: the share leaves an empty part.

    Example:

    ```python
    data = with_validation(dreamkeras.data.load_fashion_mnist(), 0.1)
    data.train_size, data.validation_size  # 54000, 6000
    ```
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`fraction` must be in [0, 1). Received: fraction={fraction}.")
    if data.validation is not None:
        return data
    if fraction == 0:
        return dataclasses.replace(data, validation_split=None)
    threshold, validation_size, exact = validation_threshold(
        data.train, fraction, data.train_size, seed
    )

    def is_validation(example, label):
        return example_hash(example, seed) <= threshold

    def is_train(example, label):
        return example_hash(example, seed) > threshold

    train_size = data.train_size
    if train_size is not None and validation_size is not None:
        train_size -= validation_size
    how = "exactly" if exact else "about"
    train, validation = data.train.filter(is_train), data.train.filter(is_validation)
    if exact and train_size is not None:
        # Sizes Keras can see: otherwise every first epoch ends in its
        # "Your input ran out of data" warning.
        train = train.apply(tf.data.experimental.assert_cardinality(train_size))
        validation = validation.apply(tf.data.experimental.assert_cardinality(validation_size))
    return dataclasses.replace(
        data,
        train=train,
        validation=validation,
        train_size=train_size,
        validation_size=validation_size,
        validation_split=(
            f"{how} {fraction:.0%} of the training split (content hash, key {seed})"
        ),
    )
