"""The datasets the apps know: command-line defaults and loaders."""

import os

from dreamkeras.training.config import DatasetDefaults
from dreamkeras.training.config import TextDatasetDefaults


def _cifar100(args, image_size):
    from dreamkeras.data import load_tfds

    return load_tfds("cifar100", data_dir=args.data_dir)


def _imagenet(args, image_size):
    from dreamkeras.data import DataUnavailableError
    from dreamkeras.data import load_tfds

    if not args.data_dir:
        raise DataUnavailableError(
            "ImageNet (tfds imagenet2012) cannot be downloaded automatically: "
            "download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar "
            "from image-net.org and pass their folder with --data-dir."
        )
    return load_tfds(
        "imagenet2012", data_dir=args.data_dir, eval_split="validation",
        manual_dir=args.data_dir, cache=False,
    )


def _tiny_imagenet(args, image_size):
    from dreamkeras.data import load_tiny_imagenet

    return load_tiny_imagenet(args.data_dir)


def _image_folder(args, image_size):
    from dreamkeras.data import load_image_folder

    return load_image_folder(args.data_dir, image_size, seed=args.seed)


def _fashion_mnist(args, image_size):
    from dreamkeras.data import load_fashion_mnist

    return load_fashion_mnist(args.data_dir)


DATASETS = {
    "cifar100": (
        DatasetDefaults(
            name="cifar100",
            description="CIFAR-100 (tfds `cifar100`, 100 classes, 32x32).",
            num_classes=100,
            native_shape=(32, 32, 3),
            data_dir_help="tfds data directory holding a prepared cifar100 "
            "(default: tfds' own, ~/tensorflow_datasets; downloads when the "
            "network allows).",
        ),
        _cifar100,
    ),
    "tiny_imagenet": (
        DatasetDefaults(
            name="tiny_imagenet",
            description="Tiny ImageNet (200 classes, 64x64).",
            num_classes=200,
            native_shape=(64, 64, 3),
            data_dir_help="The tiny-imagenet-200 folder: "
            "train/<wnid>/images/*.JPEG, val/images/*.JPEG and "
            "val/val_annotations.txt (required).",
        ),
        _tiny_imagenet,
    ),
    "imagenet": (
        DatasetDefaults(
            name="imagenet",
            description="ImageNet-1k (tfds `imagenet2012`, 1000 classes).",
            num_classes=1000,
            native_shape=(64, 64, 3),
            data_dir_help="Folder with the manually downloaded "
            "ILSVRC2012_img_{train,val}.tar, also used as tfds data_dir "
            "(required).",
        ),
        _imagenet,
    ),
    "image_folder": (
        DatasetDefaults(
            name="image_folder",
            description="Your own images, one subfolder per class (via "
            "keras.utils.image_dataset_from_directory).",
            num_classes=3,
            native_shape=(32, 32, 3),
            data_dir_help="Folder of class subfolders, or with train/ and "
            "val/ (or validation/, test/) folders of class subfolders "
            "(required). Without split folders 20%% is held out.",
        ),
        _image_folder,
    ),
    "fashion_mnist": (
        DatasetDefaults(
            name="fashion_mnist",
            description="Fashion-MNIST (10 classes, 28x28 grayscale, repeated "
            "to 3 channels).",
            num_classes=10,
            native_shape=(28, 28, 1),
            data_dir_help="Folder of the four original gz files "
            "(apt-get install dataset-fashion-mnist puts them in the default).",
            default_data_dir="/usr/share/datasets/fashion-mnist",
        ),
        _fashion_mnist,
    ),
}


def _ag_news(args):
    from dreamkeras.text import load_tfds_text

    return load_tfds_text("ag_news_subset", ("title", "description"), args.data_dir)


def _imdb(args):
    from dreamkeras.text import load_tfds_text

    return load_tfds_text("imdb_reviews", ("text",), args.data_dir)


def _yelp(args):
    from dreamkeras.text import load_text_csv
    from dreamkeras.text import load_text_folder
    from dreamkeras.text import load_tfds_text

    if args.yelp5 is None:
        return load_tfds_text(
            "yelp_polarity_reviews", ("text",), args.data_dir, cache=False
        )
    folder = os.path.expanduser(args.yelp5)
    if os.path.exists(os.path.join(folder, "train.csv")):
        data = load_text_csv(folder, num_classes=5, first_label=1, name="yelp_full")
    else:
        data = load_text_folder(folder, seed=args.seed)
        data.name = "yelp_full"
        if data.num_classes != 5:
            from dreamkeras.data import DataError

            raise DataError(
                f"--yelp5 {folder!r} has {data.num_classes} class folders "
                f"({data.class_names}); Yelp-5 needs 5 (one per star rating)."
            )
    data.cache = False
    return data


def _add_yelp_flags(parser):
    group = parser.add_argument_group("Yelp")
    group.add_argument(
        "--yelp5", default=None, metavar="DIR",
        help="Yelp-5 (review stars, 5 classes) instead of the 2-class tfds "
        "yelp_polarity_reviews: a folder with train.csv and test.csv in "
        "the yelp_review_full_csv format (rows `stars,text`, stars 1-5), or "
        "a text folder with one subfolder per star rating.",
    )


def _text_folder(args):
    from dreamkeras.text import load_text_folder

    return load_text_folder(args.data_dir, seed=args.seed)


TFDS_TEXT_HELP = (
    "tfds data directory holding a prepared {name} (default: tfds' own, "
    "~/tensorflow_datasets; downloads when the network allows)."
)

TEXT_DATASETS = {
    "ag_news": (
        TextDatasetDefaults(
            name="ag_news",
            description="AG News (tfds `ag_news_subset`, 4 topics; title and "
            "description joined).",
            num_classes=4,
            data_dir_help=TFDS_TEXT_HELP.format(name="ag_news_subset"),
        ),
        _ag_news,
    ),
    "imdb": (
        TextDatasetDefaults(
            name="imdb",
            description="IMDB movie reviews (tfds `imdb_reviews`, 2 classes).",
            num_classes=2,
            data_dir_help=TFDS_TEXT_HELP.format(name="imdb_reviews"),
        ),
        _imdb,
    ),
    "yelp": (
        TextDatasetDefaults(
            name="yelp",
            description="Yelp reviews: polarity (tfds "
            "`yelp_polarity_reviews`, 2 classes) or Yelp-5 from --yelp5.",
            num_classes=2,
            data_dir_help=TFDS_TEXT_HELP.format(name="yelp_polarity_reviews"),
            add_flags=_add_yelp_flags,
        ),
        _yelp,
    ),
    "text_folder": (
        TextDatasetDefaults(
            name="text_folder",
            description="Your own texts: .txt files, one subfolder per class "
            "(via keras.utils.text_dataset_from_directory).",
            num_classes=3,
            data_dir_help="Folder of class subfolders of .txt files, or with "
            "train/ and test/ (or val/, validation/) folders of class "
            "subfolders (required). Without split folders 20%% is held out.",
        ),
        _text_folder,
    ),
}
