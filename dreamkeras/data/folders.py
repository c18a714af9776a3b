"""Image folders: Tiny ImageNet's layout, class-per-subfolder and unlabelled images.

Each loader returns an `ImageDataset` of unbatched `(image, label)` pairs,
images with values in `[0, 255]`; a missing or malformed folder raises a
`DataError` naming `--data-dir`.
"""

import os

import numpy as np
import tensorflow as tf

from dreamkeras.data.errors import DataError
from dreamkeras.data.errors import DataUnavailableError
from dreamkeras.data.datasets import ImageDataset
from dreamkeras.data.pipeline import known_size
from dreamkeras.data.sources import IMAGE_EXTENSIONS
from dreamkeras.data.sources import require_dir

SPLIT_FOLDERS = ("val", "validation", "test")
# The end of a whole file of each format (None: no cheap check).
_PNG_END = b"IEND\xaeB`\x82"
_SHOWN_BAD_FILES = 3


def _looks_whole(path):
    """False when a cheap look at the first and last bytes finds `path` suspect.

    Reads 16 bytes at each end: an empty file, a truncated JPEG (no end
    marker), PNG (no IEND chunk), GIF (no trailer) or BMP (shorter than its
    header says), or an unknown format, is suspect. A suspect file is then
    decoded for certain (`_decode_error`); a whole one is not read further.
    """
    size = os.path.getsize(path)
    if size < 16:
        return False
    with open(path, "rb") as f:
        head = f.read(16)
        f.seek(-16, os.SEEK_END)
        tail = f.read(16)
    if head.startswith(b"\xff\xd8\xff"):
        return b"\xff\xd9" in tail
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return tail.endswith(_PNG_END)
    if head.startswith(b"GIF8"):
        return tail.endswith(b";")
    if head.startswith(b"BM"):
        return int.from_bytes(head[2:6], "little") <= size
    return False


def _decode_error(path):
    """TensorFlow's reason for not decoding `path` (as the pipeline would), or None."""
    # The decoders' C++ warnings go to the file descriptor: silenced here, as
    # the one-line error names the file instead.
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                tf.io.decode_image(
                    tf.io.read_file(path), channels=3, expand_animations=False
                )
            except (tf.errors.OpError, ValueError) as error:
                message = getattr(error, "message", None) or str(error)
                return message.strip().splitlines()[0].split("[Op:")[0].strip()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return None


def find_unreadable_images(paths):
    """The image files of `paths` that cannot be decoded, with the reason.

    Cheap for whole files (16 bytes read at each end); only suspect files
    are decoded. Run before training, so that a corrupt file (a truncated
    download, a web page saved as `.jpg`) is named at once instead of
    stopping the run in the middle of an epoch.

    Args:
        paths: iterable of str.

    Returns:
        list of `(path, reason)`.

    Example:

    ```python
    find_unreadable_images(["photos/cat/1.jpg", "photos/cat/2.jpg"])  # []
    ```
    """
    bad = []
    for path in paths:
        try:
            if _looks_whole(path):
                continue
        except OSError as error:
            bad.append((path, error.strerror or str(error)))
            continue
        reason = _decode_error(path)
        if reason is not None:
            bad.append((path, reason))
    return bad


def check_images(paths, data_dir, what="Image folder"):
    """Raises a one-line `DataError` naming the image files that cannot be decoded.

    Example:

    ```python
    check_images(train.file_paths, "~/photos")
    ```
    """
    paths = list(paths)
    bad = find_unreadable_images(paths)
    if not bad:
        return
    shown = "; ".join(
        f"{os.path.relpath(path, data_dir)} ({reason})" for path, reason in bad[:_SHOWN_BAD_FILES]
    )
    more = f"; and {len(bad) - _SHOWN_BAD_FILES} more" if len(bad) > _SHOWN_BAD_FILES else ""
    raise DataError(
        f"{what} {data_dir!r}: {len(bad)} of {len(paths)} image files cannot be decoded: "
        f"{shown}{more}. Remove or replace them (a truncated copy: copy it again), then "
        f"run the same command again."
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
    data_dir = require_dir(data_dir, "Tiny ImageNet")
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
    check_images(train_paths + val_paths, data_dir, "Tiny ImageNet")
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


def split_folders(data_dir, eval_names=SPLIT_FOLDERS):
    """`(train_dir, eval_dir)` when `data_dir` holds train/ and a held-out folder, else None.

    Example:

    ```python
    split_folders("~/photos")  # ("~/photos/train", "~/photos/val") or None
    ```
    """
    train_dir = os.path.join(data_dir, "train")
    eval_dir = next(
        (os.path.join(data_dir, n) for n in eval_names if os.path.isdir(os.path.join(data_dir, n))),
        None,
    )
    if os.path.isdir(train_dir) and eval_dir:
        return train_dir, eval_dir
    return None


def _read_folder(data_dir, validation_split, seed, what, **options):
    """Both splits of an image folder through `image_dataset_from_directory`.

    Returns:
        `(train, evaluation, eval_split)`.
    """
    import keras

    options = dict(batch_size=None, verbose=False, **options)
    split = split_folders(data_dir)
    try:
        if split:
            train = keras.utils.image_dataset_from_directory(
                split[0], shuffle=True, seed=seed, **options
            )
            if options.get("labels") == "inferred":
                options["class_names"] = train.class_names
            evaluation = keras.utils.image_dataset_from_directory(
                split[1], shuffle=False, **options
            )
            return train, evaluation, os.path.basename(split[1])
        train, evaluation = keras.utils.image_dataset_from_directory(
            data_dir, validation_split=validation_split, subset="both", shuffle=True,
            seed=seed, **options,
        )
        return train, evaluation, "validation"
    except ValueError as error:
        raise DataError(f"Image folder {data_dir!r}: {error} Expected {what}.") from error


def _file_paths(*datasets):
    """The files `image_dataset_from_directory` listed for its datasets."""
    return [path for dataset in datasets for path in getattr(dataset, "file_paths", [])]


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
    data_dir = require_dir(data_dir, "Image folder")
    train, evaluation, eval_split = _read_folder(
        data_dir, validation_split, seed,
        "one subfolder per class (optionally under train/ and val/)",
        labels="inferred", label_mode="int", image_size=tuple(image_size),
    )
    check_images(_file_paths(train, evaluation), data_dir)
    class_names = list(train.class_names)
    if len(class_names) < 2:
        raise DataError(
            f"Image folder {data_dir!r} has {len(class_names)} class folder(s); a "
            f"classifier needs at least 2."
        )
    return ImageDataset(
        name="image_folder", train=train, eval=evaluation, num_classes=len(class_names),
        eval_split=eval_split, train_size=known_size(train), eval_size=known_size(evaluation),
        class_names=class_names,
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
    data_dir = require_dir(data_dir, "Image folder")
    train, evaluation, eval_split = _read_folder(
        data_dir, validation_split, seed,
        f"image files ({', '.join(IMAGE_EXTENSIONS)}), at any depth",
        labels=None, image_size=tuple(image_size),
    )
    if not known_size(train) or not known_size(evaluation):
        raise DataError(
            f"Image folder {data_dir!r}: {known_size(train) or 0} training and "
            f"{known_size(evaluation) or 0} held-out images; both splits need at least "
            f"one. Add images or change the split."
        )
    check_images(_file_paths(train, evaluation), data_dir)

    def with_label(image):
        return image, tf.constant(0, tf.int64)

    return ImageDataset(
        name="image_folder", train=train.map(with_label), eval=evaluation.map(with_label),
        num_classes=1, eval_split=eval_split, train_size=known_size(train),
        eval_size=known_size(evaluation),
    )
