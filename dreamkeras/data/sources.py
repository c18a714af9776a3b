"""Loaders for the datasets of the training apps.

Each returns an `ImageDataset` of unbatched `(image, label)` pairs, images
with values in `[0, 255]`. None of them downloads anything silently or falls
back to other data: a missing dataset raises `DataUnavailableError` naming
the flag (`--data-dir`) that points at a local copy.
"""

import gzip
import os
import struct

import numpy as np
import tensorflow as tf

from dreamkeras.data.errors import DataError
from dreamkeras.data.errors import DataUnavailableError
from dreamkeras.data.datasets import ImageDataset
from dreamkeras.data.pipeline import from_arrays

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = [
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif")


def require_dir(path, what, flag="--data-dir"):
    """`path` with `~` expanded; raises `DataUnavailableError` unless it is a folder.

    Example:

    ```python
    data_dir = require_dir("~/data/tiny-imagenet-200", "Tiny ImageNet")
    ```
    """
    path = os.path.expanduser(path) if path else None
    if path is None:
        raise DataUnavailableError(f"{what} needs a local copy: pass {flag} DIR.")
    if os.path.isfile(path):
        raise DataUnavailableError(
            f"{what}: {path!r} is a file, not a folder. Pass {flag} with the folder "
            f"that holds the data."
        )
    if not os.path.isdir(path):
        raise DataUnavailableError(
            f"{what}: the data directory {path!r} does not exist. Pass {flag} with "
            f"an existing directory."
        )
    return path


def _split_size(info, split):
    try:
        return int(info.splits[split].num_examples) or None
    except (KeyError, ValueError, TypeError):
        return None


def load_tfds(
    name,
    data_dir=None,
    train_split="train",
    eval_split="test",
    manual_dir=None,
    cache=True,
    features=None,
):
    """Loads a TensorFlow Datasets image (or text) classification dataset.

    Args:
        name: str. The tfds name, e.g. `"cifar100"`, `"imagenet2012"`.
        data_dir: str or None. tfds data directory (prepared data is read from
            and written to it). `None` uses tfds' default (`~/tensorflow_datasets`).
        train_split: str. Split used for training.
        eval_split: str. Held-out split.
        manual_dir: str or None. Directory with manually downloaded archives
            (ImageNet).
        cache: bool. Whether the decoded dataset fits in memory.
        features: tuple of str or None. Text datasets: the string features
            joined with a space into the input (e.g. `("title",
            "description")` for `ag_news_subset`). Default: the dataset's
            supervised `(input, label)` pair.

    Returns:
        An `ImageDataset` of `(input, label)` pairs.

    Example:

    ```python
    data = dreamkeras.data.load_tfds("cifar100", data_dir="~/tensorflow_datasets")
    ```
    """
    import tensorflow_datasets as tfds

    if data_dir is not None:
        data_dir = require_dir(data_dir, f"tfds dataset {name!r}")
    kwargs = {}
    if manual_dir is not None:
        kwargs["download_and_prepare_kwargs"] = {
            "download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)
        }
    try:
        (train, evaluation), info = tfds.load(
            name,
            split=[train_split, eval_split],
            data_dir=data_dir,
            as_supervised=features is None,
            with_info=True,
            shuffle_files=True,
            **kwargs,
        )
    except Exception as error:  # tfds raises many kinds; all mean "no data".
        where = data_dir or "tfds' default data directory"
        if manual_dir is not None:
            hint = (
                f"Put the manually downloaded archives in a directory and pass "
                f"it with --data-dir (used as tfds' data_dir and manual_dir)."
            )
        else:
            hint = (
                f"With no network, prepare it on a machine that has one "
                f"(`tfds build {name}` or `tfds.load({name!r})`), copy the "
                f"tensorflow_datasets folder here and pass it with --data-dir."
            )
        raise DataUnavailableError(
            f"Could not load the tfds dataset {name!r} from {where} "
            f"({type(error).__name__}: {str(error).splitlines()[0][:300]}). "
            f"{hint}"
        ) from error
    if features is not None:
        features = tuple(features)

        def join(example):
            text = tf.strings.join([example[key] for key in features], separator=" ")
            return text, example["label"]

        train = train.map(join, num_parallel_calls=tf.data.AUTOTUNE)
        evaluation = evaluation.map(join, num_parallel_calls=tf.data.AUTOTUNE)
    label = info.features["label"]
    return ImageDataset(
        name=name,
        train=train,
        eval=evaluation,
        num_classes=int(label.num_classes),
        eval_split=eval_split,
        train_size=_split_size(info, train_split),
        eval_size=_split_size(info, eval_split),
        class_names=list(label.names),
        cache=cache,
    )


def read_idx(path):
    """Reads an IDX file (the MNIST format), gzip-compressed or not.

    Args:
        path: str. Path of a `*-idx{1,3}-ubyte[.gz]` file.

    Returns:
        A `uint8` numpy array of the file's shape.

    Example:

    ```python
    labels = dreamkeras.data.read_idx("train-labels-idx1-ubyte.gz")
    ```
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path!r} is not an IDX file (bad magic number).")
    if data[2] != 0x08:
        raise DataError(
            f"{path!r}: only unsigned-byte IDX files are supported, got type "
            f"code {data[2]:#x}."
        )
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(
            f"{path!r}: header says shape {shape} ({int(np.prod(shape))} "
            f"values) but the file holds {body.size}."
        )
    return body.reshape(shape)


def load_fashion_mnist(data_dir=None):
    """Loads Fashion-MNIST from its original gzip IDX files.

    Reads `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
    `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz` (the files
    `keras.datasets.fashion_mnist` downloads; Debian's `dataset-fashion-mnist`
    package installs them in `/usr/share/datasets/fashion-mnist`).

    Args:
        data_dir: str or None. Folder of the four files. Defaults to
            `/usr/share/datasets/fashion-mnist`.

    Returns:
        An `ImageDataset` of 28x28x1 images, 10 classes.

    Example:

    ```python
    data = dreamkeras.data.load_fashion_mnist()
    ```
    """
    data_dir = require_dir(data_dir or FASHION_MNIST_DIR, "Fashion-MNIST")
    arrays = {}
    for key, stem in (
        ("x_train", "train-images-idx3-ubyte"),
        ("y_train", "train-labels-idx1-ubyte"),
        ("x_test", "t10k-images-idx3-ubyte"),
        ("y_test", "t10k-labels-idx1-ubyte"),
    ):
        for candidate in (stem + ".gz", stem):
            path = os.path.join(data_dir, candidate)
            if os.path.exists(path):
                arrays[key] = read_idx(path)
                break
        else:
            raise DataUnavailableError(
                f"Fashion-MNIST: {stem}.gz not found in {data_dir!r}. Install "
                f"it (`apt-get install dataset-fashion-mnist`) or pass "
                f"--data-dir with the folder of the four gz files."
            )
    return from_arrays(
        "fashion_mnist", arrays["x_train"], arrays["y_train"], arrays["x_test"],
        arrays["y_test"], num_classes=10, class_names=FASHION_MNIST_CLASSES,
    )


def synthetic_dataset(
    name, num_classes, image_shape, train_examples=32, eval_examples=16, seed=0
):
    """Generated random images and labels, for smoke runs only.

    Args:
        name: str. Name of the dataset it stands in for.
        num_classes: int. Number of classes.
        image_shape: (int, int, int). Shape of each generated image.
        train_examples: int. Number of training examples.
        eval_examples: int. Number of evaluation examples.
        seed: int. Seed of the generator.

    Returns:
        An `ImageDataset` with `synthetic=True`.

    Example:

    ```python
    data = dreamkeras.data.synthetic_dataset("cifar100", 100, (32, 32, 3))
    ```
    """
    rng = np.random.default_rng(seed)
    shape = tuple(image_shape)

    def make(n):
        images = rng.integers(0, 256, size=(n,) + shape, dtype=np.uint8)
        labels = rng.integers(0, num_classes, size=(n,))
        return images, labels

    data = from_arrays(
        f"{name} (synthetic)", *make(train_examples), *make(eval_examples),
        num_classes=num_classes,
    )
    data.synthetic = True
    return data
