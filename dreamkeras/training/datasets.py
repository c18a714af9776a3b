"""The loaders of the apps' datasets (what `--data-dir` and friends load).

The command-line side of each dataset (its help, its `--data-dir` default)
is `dreamkeras_cli.datasets.DATASETS`; this module maps the same names to
loaders.
"""

import os

from dreamkeras.data import DataError
from dreamkeras.data import DataUnavailableError


def _imagenet(data, image_size, seed):
    from dreamkeras.data import load_tfds

    if not data.data_dir:
        raise DataUnavailableError(
            "ImageNet (tfds imagenet2012) cannot be downloaded automatically: "
            "download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from "
            "image-net.org and pass their folder with --data-dir."
        )
    return load_tfds(
        "imagenet2012", data_dir=data.data_dir, eval_split="validation",
        manual_dir=data.data_dir, cache=False,
    )


def _image_loaders():
    from dreamkeras import data as dk_data

    return {
        "cifar100": lambda data, size, seed: dk_data.load_tfds("cifar100", data_dir=data.data_dir),
        "tiny_imagenet": lambda data, size, seed: dk_data.load_tiny_imagenet(data.data_dir),
        "imagenet": _imagenet,
        "image_folder": lambda data, size, seed: dk_data.load_image_folder(
            data.data_dir, size, seed=seed
        ),
        "fashion_mnist": lambda data, size, seed: dk_data.load_fashion_mnist(data.data_dir),
    }


def load_dataset(data, image_size, seed=1337):
    """Loads the image dataset a run's `Data` names.

    Args:
        data: `dreamkeras_cli.config.Data`.
        image_size: (int, int). The model's input size (image folders are
            decoded at it).
        seed: int. Seed of a held-out split drawn from one folder.

    Returns:
        A `dreamkeras.data.ImageDataset`.

    Example:

    ```python
    data = load_dataset(config.data, (32, 32))
    ```
    """
    loaders = _image_loaders()
    if data.dataset not in loaders:
        raise DataError(f"Unknown image dataset {data.dataset!r}; known: {sorted(loaders)}.")
    return loaders[data.dataset](data, image_size, seed)


def _yelp(data, seed):
    from dreamkeras.text import load_text_csv
    from dreamkeras.text import load_text_folder
    from dreamkeras.text import load_tfds_text

    if data.yelp5 is None:
        return load_tfds_text("yelp_polarity_reviews", ("text",), data.data_dir, cache=False)
    folder = os.path.expanduser(data.yelp5)
    if os.path.exists(os.path.join(folder, "train.csv")):
        texts = load_text_csv(folder, num_classes=5, first_label=1, name="yelp_full")
    else:
        texts = load_text_folder(folder, seed=seed)
        texts.name = "yelp_full"
        if texts.num_classes != 5:
            raise DataError(
                f"--yelp5 {folder!r} has {texts.num_classes} class folders "
                f"({texts.class_names}); Yelp-5 needs 5 (one per star rating)."
            )
    texts.cache = False
    return texts


def load_text_dataset(data, seed=1337):
    """Loads the text dataset a run's `Data` names.

    Args:
        data: `dreamkeras_cli.config.Data`.
        seed: int. Seed of a held-out split drawn from one folder.

    Returns:
        A `dreamkeras.text.TextDataset`.

    Example:

    ```python
    texts = load_text_dataset(config.data)
    ```
    """
    from dreamkeras.text import load_text_folder
    from dreamkeras.text import load_tfds_text

    if data.dataset == "ag_news":
        return load_tfds_text("ag_news_subset", ("title", "description"), data.data_dir)
    if data.dataset == "imdb":
        return load_tfds_text("imdb_reviews", ("text",), data.data_dir)
    if data.dataset == "yelp":
        return _yelp(data, seed)
    if data.dataset == "text_folder":
        return load_text_folder(data.data_dir, seed=seed)
    raise DataError(
        f"Unknown text dataset {data.dataset!r}; known: ag_news, imdb, yelp, text_folder."
    )
