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
from dreamkeras.data.pipeline import ImageDataset
from dreamkeras.data.pipeline import from_arrays

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = [
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif")


def _require_dir(path, what, flag="--data-dir"):
    if path is None:
        raise DataUnavailableError(
            f"{what} needs a local copy: pass {flag} DIR."
        )
    if not os.path.isdir(path):
        raise DataUnavailableError(
            f"{what}: the data directory {path!r} does not exist. Pass "
            f"{flag} with an existing directory."
        )


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
        data_dir = os.path.expanduser(data_dir)
        _require_dir(data_dir, f"tfds dataset {name!r}")
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
    data_dir = data_dir or FASHION_MNIST_DIR
    _require_dir(data_dir, "Fashion-MNIST")
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


def _decode_file(channels):
    def decode(path, label):
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=channels, expand_animations=False
        )
        image.set_shape([None, None, channels])
        return image, label

    return decode


def _list_images(folder):
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_EXTENSIONS)
    )


def load_tiny_imagenet(data_dir):
    """Loads Tiny ImageNet from its usual folder layout.

    `data_dir/train/<wnid>/images/*.JPEG` for training and
    `data_dir/val/images/*.JPEG` with `data_dir/val/val_annotations.txt`
    (tab-separated: file name, wnid, box) for validation. The class order is
    `data_dir/wnids.txt` when present, else the sorted training folders.
    Grayscale JPEGs are decoded to 3 channels.

    Args:
        data_dir: str. The `tiny-imagenet-200` folder.

    Returns:
        An `ImageDataset` of 64x64x3 images (200 classes for the real data).

    Example:

    ```python
    data = dreamkeras.data.load_tiny_imagenet("~/data/tiny-imagenet-200")
    ```
    """
    data_dir = os.path.expanduser(data_dir) if data_dir else data_dir
    _require_dir(data_dir, "Tiny ImageNet")
    train_dir = os.path.join(data_dir, "train")
    val_dir = os.path.join(data_dir, "val")
    annotations = os.path.join(val_dir, "val_annotations.txt")
    for path in (train_dir, os.path.join(val_dir, "images"), annotations):
        if not os.path.exists(path):
            raise DataUnavailableError(
                f"Tiny ImageNet: {path!r} is missing. --data-dir must be the "
                f"tiny-imagenet-200 folder with train/<wnid>/images/*.JPEG, "
                f"val/images/*.JPEG and val/val_annotations.txt."
            )
    wnids_file = os.path.join(data_dir, "wnids.txt")
    if os.path.exists(wnids_file):
        with open(wnids_file) as f:
            wnids = [line.strip() for line in f if line.strip()]
    else:
        wnids = sorted(
            d for d in os.listdir(train_dir)
            if os.path.isdir(os.path.join(train_dir, d))
        )
    index = {wnid: i for i, wnid in enumerate(wnids)}
    train_paths, train_labels = [], []
    for wnid in wnids:
        folder = os.path.join(train_dir, wnid, "images")
        if not os.path.isdir(folder):
            raise DataError(f"Tiny ImageNet: class folder {folder!r} is missing.")
        files = _list_images(folder)
        train_paths += files
        train_labels += [index[wnid]] * len(files)
    val_paths, val_labels = [], []
    with open(annotations) as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2 or fields[1] not in index:
                raise DataError(
                    f"Tiny ImageNet: line {line_number} of {annotations!r} "
                    f"names an unknown class: {line.strip()!r}."
                )
            val_paths.append(os.path.join(val_dir, "images", fields[0]))
            val_labels.append(index[fields[1]])
    if not train_paths or not val_paths:
        raise DataUnavailableError(
            f"Tiny ImageNet: no images found under {data_dir!r}."
        )
    decode = _decode_file(3)
    return ImageDataset(
        name="tiny_imagenet",
        train=tf.data.Dataset.from_tensor_slices(
            (train_paths, np.asarray(train_labels, "int64"))
        ).map(decode, num_parallel_calls=tf.data.AUTOTUNE),
        eval=tf.data.Dataset.from_tensor_slices(
            (val_paths, np.asarray(val_labels, "int64"))
        ).map(decode, num_parallel_calls=tf.data.AUTOTUNE),
        num_classes=len(wnids),
        eval_split="validation",
        train_size=len(train_paths),
        eval_size=len(val_paths),
        class_names=wnids,
    )


def load_image_folder(data_dir, image_size, validation_split=0.2, seed=1337):
    """Loads a folder of images, one subfolder per class.

    With `data_dir/train/<class>/...` and `data_dir/val` (or `validation`,
    `test`) the two folders are the two splits; otherwise `validation_split`
    of `data_dir/<class>/...` is held out. Images are decoded and resized by
    `keras.utils.image_dataset_from_directory`.

    Args:
        data_dir: str. The folder.
        image_size: (int, int). Size images are resized to.
        validation_split: float. Held-out fraction without a split folder.
        seed: int. Seed of the split.

    Returns:
        An `ImageDataset`.

    Example:

    ```python
    data = dreamkeras.data.load_image_folder("~/flowers", image_size=(224, 224))
    ```
    """
    import keras

    data_dir = os.path.expanduser(data_dir) if data_dir else data_dir
    _require_dir(data_dir, "Image folder")
    options = dict(
        labels="inferred", label_mode="int", batch_size=None,
        image_size=tuple(image_size), verbose=False,
    )
    train_dir = os.path.join(data_dir, "train")
    eval_dir = next(
        (
            os.path.join(data_dir, name)
            for name in ("val", "validation", "test")
            if os.path.isdir(os.path.join(data_dir, name))
        ),
        None,
    )
    try:
        if os.path.isdir(train_dir) and eval_dir:
            train = keras.utils.image_dataset_from_directory(
                train_dir, shuffle=True, seed=seed, **options
            )
            class_names = train.class_names
            evaluation = keras.utils.image_dataset_from_directory(
                eval_dir, class_names=class_names, shuffle=False, **options
            )
            eval_split = os.path.basename(eval_dir)
        else:
            train, evaluation = keras.utils.image_dataset_from_directory(
                data_dir, validation_split=validation_split, subset="both",
                shuffle=True, seed=seed, **options,
            )
            class_names = train.class_names
            eval_split = "validation"
    except ValueError as error:
        raise DataError(
            f"Image folder {data_dir!r}: {error} Expected one subfolder per "
            f"class (optionally under train/ and val/)."
        ) from error
    if len(class_names) < 2:
        raise DataError(
            f"Image folder {data_dir!r} has {len(class_names)} class "
            f"folder(s); a classifier needs at least 2."
        )
    return ImageDataset(
        name="image_folder",
        train=train,
        eval=evaluation,
        num_classes=len(class_names),
        eval_split=eval_split,
        train_size=int(train.cardinality()) if train.cardinality() > 0 else None,
        eval_size=(
            int(evaluation.cardinality()) if evaluation.cardinality() > 0 else None
        ),
        class_names=list(class_names),
    )


def load_unlabelled_images(data_dir, image_size, validation_split=0.1, seed=1337):
    """Loads a folder of images without labels (self-supervised training).

    Every image file under `data_dir` counts, in subfolders too (class
    folders are allowed and ignored). With `data_dir/train` and `data_dir/val`
    (or `validation`, `test`) the two folders are the two splits; otherwise
    `validation_split` of the images is held out. Images are decoded to 3
    channels and resized by `keras.utils.image_dataset_from_directory`; every
    label is 0.

    Args:
        data_dir: str. The folder.
        image_size: (int, int). Size images are resized to.
        validation_split: float. Held-out fraction without a split folder.
        seed: int. Seed of the split.

    Returns:
        An `ImageDataset` with `num_classes=1`.

    Example:

    ```python
    data = dreamkeras.data.load_unlabelled_images("~/photos", (32, 32))
    ```
    """
    import keras

    data_dir = os.path.expanduser(data_dir) if data_dir else data_dir
    _require_dir(data_dir, "Image folder")
    options = dict(
        labels=None, batch_size=None, image_size=tuple(image_size),
        verbose=False,
    )
    eval_dir = next(
        (
            os.path.join(data_dir, name)
            for name in ("val", "validation", "test")
            if os.path.isdir(os.path.join(data_dir, name))
        ),
        None,
    )
    train_dir = os.path.join(data_dir, "train")
    try:
        if os.path.isdir(train_dir) and eval_dir:
            train = keras.utils.image_dataset_from_directory(
                train_dir, shuffle=True, seed=seed, **options
            )
            evaluation = keras.utils.image_dataset_from_directory(
                eval_dir, shuffle=False, **options
            )
            eval_split = os.path.basename(eval_dir)
        else:
            train, evaluation = keras.utils.image_dataset_from_directory(
                data_dir, validation_split=validation_split, subset="both",
                shuffle=True, seed=seed, **options,
            )
            eval_split = "validation"
    except ValueError as error:
        raise DataError(
            f"Image folder {data_dir!r}: {error} Expected image files "
            f"({', '.join(IMAGE_EXTENSIONS)}), at any depth."
        ) from error

    def size(ds):
        return int(ds.cardinality()) if ds.cardinality() > 0 else None

    if not size(train) or not size(evaluation):
        raise DataError(
            f"Image folder {data_dir!r}: {size(train) or 0} training and "
            f"{size(evaluation) or 0} held-out images; both splits need at "
            f"least one. Add images or change the split."
        )

    def with_label(image):
        return image, tf.constant(0, tf.int64)

    return ImageDataset(
        name="image_folder",
        train=train.map(with_label),
        eval=evaluation.map(with_label),
        num_classes=1,
        eval_split=eval_split,
        train_size=size(train),
        eval_size=size(evaluation),
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
