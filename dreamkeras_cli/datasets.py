"""The datasets of the training apps, as the command line sees them.

What each dataset brings to its app's flags and run: its family (images or
texts), a line for `--help`, the meaning and default of `--data-dir`, and the
shape of the generated data of `--fast-dev-run`. The loaders themselves live
in `dreamkeras.training.datasets` (they need TensorFlow).
"""

import dataclasses

TFDS_HELP = (
    "tfds data directory holding a prepared {name} (default: tfds' own, "
    "~/tensorflow_datasets; it downloads when the network allows)."
)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What an app's dataset brings to the command line.

    Attributes:
        name: str. Dataset name (used in default output paths).
        family: str. `"vision"` or `"text"`.
        description: str. One line for `--help`.
        num_classes: int. Classes of the real dataset (and of the generated
            data of `--fast-dev-run`).
        data_dir_help: str. What `--data-dir` means for this dataset.
        default_data_dir: str or None.
        native_shape: (int, int, int) or None. Image shape of the real
            dataset (the generated images of `--fast-dev-run`).
        extra_flags: tuple of `(group title, flag keys)`: the dataset's own
            flags (e.g. `--yelp5`).

    Example:

    ```python
    info = DatasetInfo("toy", "vision", "Toy images.", 10, "-", native_shape=(8, 8, 3))
    ```
    """

    name: str
    family: str
    description: str
    num_classes: int
    data_dir_help: str
    default_data_dir: str = None
    native_shape: tuple = None
    extra_flags: tuple = ()


DATASETS = {
    info.name: info
    for info in (
        DatasetInfo(
            "cifar100", "vision", "CIFAR-100 (tfds cifar100, 100 classes, 32x32).",
            100, TFDS_HELP.format(name="cifar100"), native_shape=(32, 32, 3),
        ),
        DatasetInfo(
            "tiny_imagenet", "vision", "Tiny ImageNet (200 classes, 64x64).", 200,
            "The tiny-imagenet-200 folder: train/<wnid>/images/*.JPEG, "
            "val/images/*.JPEG and val/val_annotations.txt (required).",
            native_shape=(64, 64, 3),
        ),
        DatasetInfo(
            "imagenet", "vision", "ImageNet-1k (tfds imagenet2012, 1000 classes).",
            1000, "Folder with the manually downloaded "
            "ILSVRC2012_img_{train,val}.tar, also used as tfds data_dir (required).",
            native_shape=(64, 64, 3),
        ),
        DatasetInfo(
            "image_folder", "vision", "Your own images, one subfolder per class "
            "(keras.utils.image_dataset_from_directory).", 3,
            "Folder of class subfolders, or with train/ and val/ (or "
            "validation/, test/) folders of class subfolders (required). "
            "Without split folders 20%% is held out.",
            native_shape=(32, 32, 3),
        ),
        DatasetInfo(
            "fashion_mnist", "vision", "Fashion-MNIST (10 classes, 28x28 grayscale, "
            "repeated to 3 channels).", 10,
            "Folder of the four original gz files (apt-get install "
            "dataset-fashion-mnist puts them in the default).",
            default_data_dir="/usr/share/datasets/fashion-mnist",
            native_shape=(28, 28, 1),
        ),
        DatasetInfo(
            "ag_news", "text", "AG News (tfds ag_news_subset, 4 topics; title and "
            "description joined).", 4, TFDS_HELP.format(name="ag_news_subset"),
        ),
        DatasetInfo(
            "imdb", "text", "IMDB movie reviews (tfds imdb_reviews, 2 classes).", 2,
            TFDS_HELP.format(name="imdb_reviews"),
        ),
        DatasetInfo(
            "yelp", "text", "Yelp reviews: polarity (tfds yelp_polarity_reviews, 2 "
            "classes) or Yelp-5 from --yelp5.", 2,
            TFDS_HELP.format(name="yelp_polarity_reviews"),
            extra_flags=(("Yelp", ("yelp5",)),),
        ),
        DatasetInfo(
            "text_folder", "text", "Your own texts: .txt files, one subfolder per "
            "class (keras.utils.text_dataset_from_directory).", 3,
            "Folder of class subfolders of .txt files, or with train/ and test/ "
            "(or val/, validation/) folders of class subfolders (required). "
            "Without split folders 20%% is held out.",
        ),
    )
}
# The MAE pretraining app reads these datasets itself; any other name is a
# tfds image dataset.
PRETRAIN_NATIVE_SHAPE = (28, 28, 1)
