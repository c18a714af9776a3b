"""Text classification datasets for the text apps, and their tf.data pipeline.

Loaders return a `TextDataset` of unbatched `(text, label)` pairs (scalar
`tf.string`, integer label). None of them downloads silently or falls back to
other data: a missing dataset raises `dreamkeras.data.DataUnavailableError`
naming the flag that points at a local copy.
"""

import csv
import dataclasses
import os

import tensorflow as tf

from dreamkeras.data.errors import DataError
from dreamkeras.data.errors import DataUnavailableError
from dreamkeras.data.pipeline import checked_label
from dreamkeras.data.datasets import LabelledDataset
from dreamkeras.data.pipeline import known_size
from dreamkeras.data.pipeline import shard_examples
from dreamkeras.data.folders import split_folders
from dreamkeras.data.sources import require_dir

SPLIT_FOLDERS = ("test", "val", "validation")


@dataclasses.dataclass
class TextDataset(LabelledDataset):
    """A `dreamkeras.data.LabelledDataset` of texts.

    `train` and `eval` hold `(text, label)` pairs: unbatched scalar
    `tf.string` texts and integer class ids.

    Example:

    ```python
    data = dreamkeras.text.load_text_folder("~/data/reviews")
    data.num_classes, data.class_names
    ```
    """


def as_text_dataset(data):
    """Wraps a `LabelledDataset` of `(text, label)` pairs as a `TextDataset`."""
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(LabelledDataset)}
    return TextDataset(**fields)


def load_tfds_text(name, features, data_dir=None, cache=True):
    """Loads a tfds text classification dataset (`ag_news_subset`, `imdb_reviews`...).

    Args:
        name: str. tfds name.
        features: tuple of str. String features joined (with a space) into
            the text, e.g. `("title", "description")`.
        data_dir: str or None. tfds data directory with the prepared dataset.
        cache: bool. Whether the texts fit in memory.

    Returns:
        A `TextDataset` (train split, and the test split held out).

    Example:

    ```python
    data = dreamkeras.text.load_tfds_text("imdb_reviews", ("text",))
    ```
    """
    from dreamkeras.data.sources import load_tfds

    return as_text_dataset(
        load_tfds(name, data_dir=data_dir, cache=cache, features=features)
    )


def load_text_folder(data_dir, validation_split=0.2, seed=1337):
    """Loads a folder of `.txt` files, one subfolder per class.

    With `train/` and `test/` (or `val/`, `validation/`) folders of class
    subfolders, those are the splits; otherwise `validation_split` of the
    files is held out (with `seed`). Reads with
    `keras.utils.text_dataset_from_directory`; labels are the class
    subfolders in alphabetical order.

    Args:
        data_dir: str. The folder.
        validation_split: float. Held-out share without split folders.
        seed: int. Seed of the split and the file order.

    Returns:
        A `TextDataset`.

    Example:

    ```python
    data = dreamkeras.text.load_text_folder("~/data/reviews")
    ```
    """
    import keras

    data_dir = require_dir(data_dir, "A text folder")
    options = dict(batch_size=None, seed=seed, follow_links=True)
    split = split_folders(data_dir, SPLIT_FOLDERS)
    try:
        if split:
            train = keras.utils.text_dataset_from_directory(split[0], shuffle=True, **options)
            evaluation = keras.utils.text_dataset_from_directory(
                split[1], shuffle=False, **options
            )
            eval_split = os.path.basename(split[1])
            if evaluation.class_names != train.class_names:
                raise DataError(
                    f"The class folders of {split[0]} ({train.class_names}) and "
                    f"{split[1]} ({evaluation.class_names}) differ; give both the "
                    f"same class subfolders."
                )
        else:
            train, evaluation = keras.utils.text_dataset_from_directory(
                data_dir, validation_split=validation_split, subset="both",
                shuffle=True, **options,
            )
            eval_split = f"held-out {validation_split:.0%}"
    except ValueError as error:  # No files, one class...
        raise DataError(
            f"Could not read the text folder {data_dir!r}: {error} It must hold "
            f"one subfolder of .txt files per class (at least 2 classes), or "
            f"train/ and test/ folders of such subfolders."
        ) from error
    class_names = list(train.class_names)
    if len(class_names) < 2:
        raise DataError(
            f"The text folder {data_dir!r} has {len(class_names)} class "
            f"subfolder(s) ({class_names}); a classifier needs at least 2."
        )
    return TextDataset(
        name=os.path.basename(os.path.normpath(data_dir)) or "text_folder",
        train=train,
        eval=evaluation,
        num_classes=len(class_names),
        eval_split=eval_split,
        train_size=known_size(train),
        eval_size=known_size(evaluation),
        class_names=class_names,
    )


def _csv_columns(path):
    with open(path, newline="", encoding="utf-8") as f:
        row = next(csv.reader(f), None)
    if not row or len(row) < 2:
        raise DataError(
            f"{path} must be a CSV file whose rows are `label,text[,text...]` "
            f"(the format of yelp_review_full_csv). First row: {row!r}."
        )
    return len(row)


def load_text_csv(data_dir, num_classes, first_label=1, name="text_csv"):
    """Loads `train.csv` and `test.csv` in the Zhang et al. (2015) format.

    Each row is `label,text[,text...]` with no header (the files of
    `yelp_review_full_csv`, `ag_news_csv`...); the text columns are joined
    with a space and labels `first_label .. first_label + num_classes - 1`
    become `0 .. num_classes - 1`. A label outside that range stops training
    with a `DataError` naming it.

    Args:
        data_dir: str. Folder with `train.csv` and `test.csv`.
        num_classes: int.
        first_label: int. The label of the first class in the files.
        name: str. Dataset name.

    Returns:
        A `TextDataset`.

    Example:

    ```python
    data = dreamkeras.text.load_text_csv("~/data/yelp_review_full_csv", 5)
    ```
    """
    data_dir = require_dir(data_dir, f"The {name} CSV files")
    splits = []
    for split in ("train", "test"):
        path = os.path.join(data_dir, f"{split}.csv")
        if not os.path.exists(path):
            raise DataUnavailableError(
                f"{name}: {path} is missing; the folder needs train.csv and "
                f"test.csv (rows `label,text`)."
            )
        columns = _csv_columns(path)
        ds = tf.data.experimental.CsvDataset(
            path, [tf.int64] + [tf.string] * (columns - 1)
        )
        ds = ds.map(
            lambda label, *texts: (
                tf.strings.join(list(texts), separator=" "),
                label - first_label,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        splits.append(ds)
    return TextDataset(
        name=name, train=splits[0], eval=splits[1], num_classes=num_classes,
        eval_split="test",
    )


def check_text_labels(num_classes):
    """A `map` function that stops on a label outside `[0, num_classes)`.

    The error message carries `dreamkeras.data.pipeline.LABEL_ERROR_MARKER`,
    so the training apps turn it into a `DataError`.
    """

    def check(text, label):
        return text, checked_label(label, num_classes)

    return check


def build_text_pipeline(
    dataset,
    preprocessor,
    num_classes,
    batch_size,
    training,
    augment=False,
    augment_rate=0.1,
    vocabulary=None,
    cache=True,
    shuffle_buffer=10000,
    repeat=False,
    drop_remainder=None,
    seed=None,
    shard=None,
):
    """Turns unbatched `(text, label)` pairs into model-ready batches.

    Training: check labels -> cache -> (augmented copy: twice the texts) ->
    shuffle -> (repeat) -> batch -> the encoder preset's preprocessor
    (tokenise, add special tokens, truncate / pad to its sequence length)
    -> prefetch. Evaluation: the same without augmentation and shuffling.

    Empty texts become just the special tokens (`<s></s>` for RoBERTa);
    texts longer than the sequence length are truncated.

    Args:
        dataset: `tf.data.Dataset` of unbatched `(text, label)`.
        preprocessor: a KerasHub `TextClassifierPreprocessor`.
        num_classes: int. Labels must be in `[0, num_classes)`.
        batch_size: int.
        training: bool. Shuffle (and augment).
        augment: bool. Add an edited copy of every text
            (`dreamkeras.text.double_dataset`, new edits every epoch).
        augment_rate: float. Share of words edited.
        vocabulary: optional list of str. Words to insert / substitute.
        cache: bool. Cache the raw texts in memory.
        shuffle_buffer: int.
        repeat: bool. Repeat forever.
        drop_remainder: bool or None. Defaults to `training`.
        seed: int or None.
        shard: `(count, index)` or `(count, index, batches)`, or None. One
            process's part of a multi-process run, as in
            `dreamkeras.data.build_pipeline`: after the (augmented copy and)
            shuffle, the same on every process, keep the `index`-th block of
            `batch_size` texts of every `count * batch_size`, so that the
            processes' batches side by side are the single-process run's
            batches of `count * batch_size`; without `repeat`, stop after `batches`
            batches (every process runs as many steps).

    Returns:
        A `tf.data.Dataset` of `({"token_ids", "padding_mask"}, labels)`.

    Example:

    ```python
    train_ds = build_text_pipeline(data.train, preprocessor, 4, 32, training=True)
    ```
    """
    from dreamkeras.text.augment import double_dataset

    ds = dataset.map(check_text_labels(num_classes), num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if training:
        if augment:
            ds = double_dataset(ds, rate=augment_rate, vocabulary=vocabulary, seed=seed)
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = shard_examples(ds, shard, batch_size)
    if drop_remainder is None:
        drop_remainder = training
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if shard is not None and len(shard) > 2 and shard[2] is not None and not repeat:
        ds = ds.take(shard[2])
    ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
