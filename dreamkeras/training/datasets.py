"""The datasets the apps know: command-line defaults and loaders."""

from dreamkeras.training.config import DatasetDefaults


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
