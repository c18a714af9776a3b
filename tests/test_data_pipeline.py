"""Tests of the tf.data input pipeline and the dataset loaders."""

import gzip
import os
import struct

import keras
import numpy as np
import pytest
import tensorflow as tf

from dreamkeras import data as dk_data
from dreamkeras.data.augment import _Equalization
from dreamkeras.data.pipeline import label_error_from


def _batches(ds):
    return [(np.asarray(x), np.asarray(y)) for x, y in ds]


# --- labels and channels -----------------------------------------------------


def test_validate_labels_accepts_in_range_and_rejects_out_of_range():
    out = dk_data.validate_labels(np.array([0, 4, 9], "uint8"), 10)
    assert out.dtype == np.int64 and out.tolist() == [0, 4, 9]
    with pytest.raises(dk_data.DataError, match=r"\[0, 10\).*max 12"):
        dk_data.validate_labels([0, 12, 3], 10)
    with pytest.raises(dk_data.DataError, match="out of range"):
        dk_data.validate_labels([-1, 2], 10)
    with pytest.raises(dk_data.DataError, match="1-D"):
        dk_data.validate_labels(np.eye(3), 3)
    with pytest.raises(dk_data.DataError, match="integer"):
        dk_data.validate_labels([0.5, 1.0], 3)


def test_from_arrays_checks_labels_before_training():
    images = np.zeros((4, 8, 8, 3), "uint8")
    with pytest.raises(dk_data.DataError, match="train labels"):
        dk_data.from_arrays("toy", images, [0, 1, 2, 3], images, [0, 0, 0, 0], 3)
    with pytest.raises(dk_data.DataError, match="4 images but 3 labels"):
        dk_data.from_arrays("toy", images, [0, 1, 2], images, [0, 0, 0, 0], 3)


def test_streamed_out_of_range_label_gives_a_clear_error():
    images = np.zeros((4, 8, 8, 3), "uint8")
    raw = tf.data.Dataset.from_tensor_slices((images, np.array([0, 1, 12, 2])))
    ds = dk_data.build_pipeline(raw, 10, (8, 8), 2, training=False)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        _batches(ds)
    error = label_error_from(info.value)
    assert isinstance(error, dk_data.DataError)
    assert "[0, 10)" in str(error) and "12" in str(error)
    assert label_error_from(ValueError("something else")) is None


def test_rgba_images_are_rejected_and_grayscale_is_repeated():
    rgba = tf.data.Dataset.from_tensor_slices(
        (np.zeros((2, 8, 8, 4), "uint8"), np.array([0, 1]))
    )
    with pytest.raises(dk_data.DataError, match="4 channel"):
        dk_data.build_pipeline(rgba, 2, (8, 8), 2, training=False)

    gray = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
    ds = dk_data.build_pipeline(
        tf.data.Dataset.from_tensor_slices((gray, np.array([0, 1, 1, 0]))),
        2, (8, 8), 4, training=False,
    )
    (images, labels), = _batches(ds)
    assert images.shape == (4, 8, 8, 3)
    for c in range(3):
        np.testing.assert_allclose(images[..., c], gray[..., 0] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(labels, np.eye(2)[[0, 1, 1, 0]])


def test_eval_pipeline_resizes_scales_and_keeps_order():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 0])
    ds = dk_data.build_pipeline(
        tf.data.Dataset.from_tensor_slices((images, labels)), 5, (8, 8), 2,
        training=False,
    )
    batches = _batches(ds)
    assert [b[0].shape for b in batches] == [(2, 8, 8, 3)] * 2 + [(1, 8, 8, 3)]
    got = np.concatenate([b[0] for b in batches])
    expected = tf.image.resize(images.astype("float32"), (8, 8), antialias=True)
    np.testing.assert_allclose(got, np.asarray(expected) / 255.0, atol=1e-5)
    np.testing.assert_array_equal(
        np.concatenate([b[1] for b in batches]), np.eye(5)[labels]
    )


def test_training_pipeline_augments_mixes_and_drops_the_remainder():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, (10,))
    raw = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = dk_data.build_pipeline(
        raw, 4, (8, 8), 4, training=True, mixup_alpha=0.4, seed=3
    )
    batches = _batches(ds)
    assert len(batches) == 2  # 10 examples, batches of 4, remainder dropped.
    for x, y in batches:
        assert x.shape == (4, 8, 8, 3) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)
        # MixUp: each soft label mixes at most two one-hot labels.
        assert ((y > 1e-6).sum(axis=1) <= 2).all()
    # Augmented images differ from the originals (shuffled, so compare sets).
    plain = np.sort(images.reshape(10, -1).astype("float32") / 255.0, axis=None)
    got = np.sort(np.concatenate([b[0] for b in batches]).reshape(8, -1), axis=None)
    assert got.shape != plain.shape or not np.allclose(got, plain)

    no_aug = dk_data.build_pipeline(
        raw, 4, (8, 8), 4, training=True, randaugment=False, mixup_alpha=0,
        seed=3,
    )
    for x, y in _batches(no_aug):
        assert set(np.unique(y)) <= {0.0, 1.0}
        # Without augmentation every image is one of the originals.
        flat = images.reshape(10, -1).astype("float32") / 255.0
        for image in x.reshape(4, -1):
            assert np.abs(flat - image).max(axis=1).min() < 1e-6


def test_rand_augment_matches_keras_for_the_same_transformation():
    """Ours dispatches with switch; Keras computes every op and keeps one."""
    images = np.random.default_rng(4).integers(0, 256, (6, 16, 16, 3)).astype("float32")
    ours = dk_data.RandAugment(value_range=(0, 255), seed=5)
    ours.build((16, 16, 3))

    def both(image):
        image = image[None]  # One image per batch, as in the pipeline.
        transformation = ours.get_random_transformation(image, training=True)
        a = ours.transform_images(image, transformation)
        b = keras.layers.RandAugment.transform_images(ours, image, transformation)
        return a[0], b[0]

    pairs = [(np.asarray(a), np.asarray(b)) for a, b in
             tf.data.Dataset.from_tensor_slices(images).map(both)]
    for a, b in pairs:
        np.testing.assert_allclose(a, b, atol=1e-3)
    assert any(not np.allclose(a, x) for (a, _), x in zip(pairs, images))


def test_fast_equalization_histogram_is_a_bincount():
    pixels = np.random.default_rng(6).integers(0, 256, (7, 5)).astype("float32")
    layer = _Equalization(value_range=(0, 255))
    layer.backend.set_backend("tensorflow")  # What calling it in tf.data does.
    ds = tf.data.Dataset.from_tensors(pixels).map(
        lambda x: layer._custom_histogram_fixed_width(x, (0, 255), 256)
    )
    histogram = np.asarray(next(iter(ds)))
    expected = np.bincount(pixels.astype("int64").ravel(), minlength=256)
    np.testing.assert_array_equal(histogram, expected)
    # The equalised image spreads the values over the full range.
    image = np.random.default_rng(7).integers(100, 140, (8, 8, 3)).astype("float32")
    out = np.asarray(next(iter(tf.data.Dataset.from_tensors(image).map(layer))))
    assert out.min() < 20 and out.max() > 235


# --- loaders -----------------------------------------------------------------


def _write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype("uint8").tobytes())


def write_fashion_mnist(folder, train_labels=None, n_train=12, n_test=6, seed=0):
    """Writes a tiny Fashion-MNIST-format folder; returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": (
            np.asarray(train_labels)
            if train_labels is not None
            else rng.integers(0, 10, (n_train,))
        ),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, (n_test,)),
    }
    os.makedirs(folder, exist_ok=True)
    for name, array in arrays.items():
        _write_idx(os.path.join(folder, name), array)
    return arrays


def test_read_idx_round_trip_and_bad_files(tmp_path):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    _write_idx(str(tmp_path / "a-idx3-ubyte.gz"), array)
    np.testing.assert_array_equal(dk_data.read_idx(str(tmp_path / "a-idx3-ubyte.gz")), array)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(dk_data.DataError, match="magic"):
        dk_data.read_idx(str(tmp_path / "bad"))


def test_load_fashion_mnist_from_gz_files(tmp_path):
    arrays = write_fashion_mnist(str(tmp_path))
    data = dk_data.load_fashion_mnist(str(tmp_path))
    assert data.num_classes == 10 and data.train_size == 12 and data.eval_size == 6
    images, labels = zip(*[(np.asarray(x), int(y)) for x, y in data.train])
    np.testing.assert_array_equal(np.stack(images)[..., 0], arrays["train-images-idx3-ubyte.gz"])
    assert list(labels) == arrays["train-labels-idx1-ubyte.gz"].tolist()
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(dk_data.DataUnavailableError, match="--data-dir"):
        dk_data.load_fashion_mnist(str(tmp_path))
    with pytest.raises(dk_data.DataUnavailableError, match="does not exist"):
        dk_data.load_fashion_mnist(str(tmp_path / "nowhere"))


@pytest.mark.skipif(
    not os.path.exists("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"),
    reason="dataset-fashion-mnist is not installed",
)
def test_load_real_fashion_mnist():
    data = dk_data.load_fashion_mnist()
    assert (data.train_size, data.eval_size, data.num_classes) == (60000, 10000, 10)
    labels = np.array([int(y) for _, y in data.eval])
    assert np.bincount(labels).tolist() == [1000] * 10


def write_tiny_imagenet(root, wnids=("n01", "n02", "n03"), per_class=3, gray=True):
    """Writes a Tiny-ImageNet-layout folder with 8x8 JPEGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for wnid in wnids:
        folder = os.path.join(root, "train", wnid, "images")
        os.makedirs(folder)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"{wnid}_{i}.JPEG"))
    os.makedirs(os.path.join(root, "val", "images"))
    lines = []
    for i, wnid in enumerate(list(wnids) * 2):
        name = f"val_{i}.JPEG"
        image = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        if gray and i == 0:
            image = image.convert("L")  # Tiny ImageNet has grayscale JPEGs.
        image.save(os.path.join(root, "val", "images", name))
        lines.append(f"{name}\t{wnid}\t0\t0\t8\t8\n")
    with open(os.path.join(root, "val", "val_annotations.txt"), "w") as f:
        f.writelines(lines)
    with open(os.path.join(root, "wnids.txt"), "w") as f:
        f.write("\n".join(wnids) + "\n")


def test_load_tiny_imagenet_layout(tmp_path):
    root = str(tmp_path / "tiny-imagenet-200")
    write_tiny_imagenet(root)
    data = dk_data.load_tiny_imagenet(root)
    assert data.num_classes == 3 and data.class_names == ["n01", "n02", "n03"]
    assert (data.train_size, data.eval_size) == (9, 6)
    train_labels = sorted(int(y) for _, y in data.train)
    assert train_labels == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    val = [(np.asarray(x), int(y)) for x, y in data.eval]
    assert [y for _, y in val] == [0, 1, 2, 0, 1, 2]
    assert all(x.shape == (8, 8, 3) for x, _ in val)  # Grayscale decoded to RGB.

    with open(os.path.join(root, "val", "val_annotations.txt"), "a") as f:
        f.write("val_x.JPEG\tn99\t0\t0\t8\t8\n")
    with pytest.raises(dk_data.DataError, match="unknown class"):
        dk_data.load_tiny_imagenet(root)
    with pytest.raises(dk_data.DataUnavailableError, match="--data-dir"):
        dk_data.load_tiny_imagenet(None)
    with pytest.raises(dk_data.DataUnavailableError, match="missing"):
        dk_data.load_tiny_imagenet(str(tmp_path))


def write_image_folder(root, classes=("cats", "dogs"), per_class=6, size=12):
    from PIL import Image

    for c, name in enumerate(classes):
        folder = os.path.join(root, name)
        os.makedirs(folder)
        for i in range(per_class):
            pixels = np.full((size, size, 3), (40 + 90 * c) % 256, np.uint8)
            pixels[: i + 1] = 255
            Image.fromarray(pixels).save(os.path.join(folder, f"{i}.png"))


def test_load_image_folder_split_and_train_val_folders(tmp_path):
    write_image_folder(str(tmp_path / "plain"))
    data = dk_data.load_image_folder(str(tmp_path / "plain"), (8, 8))
    assert data.num_classes == 2 and data.class_names == ["cats", "dogs"]
    n_train = sum(1 for _ in data.train)
    n_eval = sum(1 for _ in data.eval)
    assert (n_train, n_eval) == (10, 2)
    x, _ = next(iter(data.train))
    assert tuple(x.shape) == (8, 8, 3)

    write_image_folder(str(tmp_path / "split" / "train"))
    write_image_folder(str(tmp_path / "split" / "val"), per_class=2)
    data = dk_data.load_image_folder(str(tmp_path / "split"), (8, 8))
    assert data.eval_split == "val"
    assert sorted(int(y) for _, y in data.eval) == [0, 0, 1, 1]

    os.makedirs(tmp_path / "one" / "only")
    write_image_folder(str(tmp_path / "one2"), classes=("only",))
    with pytest.raises(dk_data.DataError, match="at least 2"):
        dk_data.load_image_folder(str(tmp_path / "one2"), (8, 8))


def test_load_tfds_with_mock_data_and_clear_errors(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        data = dk_data.load_tfds("cifar100")
        assert data.num_classes == 100 and len(data.class_names) == 100
        x, y = next(iter(data.train))
        assert tuple(x.shape) == (32, 32, 3) and 0 <= int(y) < 100

    with pytest.raises(dk_data.DataUnavailableError, match="does not exist"):
        dk_data.load_tfds("cifar100", data_dir=str(tmp_path / "missing"))

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(dk_data.DataUnavailableError) as info:
        dk_data.load_tfds("cifar100", data_dir=str(tmp_path))
    assert "--data-dir" in str(info.value) and "ConnectionError" in str(info.value)


def test_synthetic_dataset_is_marked():
    data = dk_data.synthetic_dataset("cifar100", 100, (28, 28, 1), 8, 4)
    assert data.synthetic and data.num_classes == 100
    x, y = next(iter(data.train))
    assert tuple(x.shape) == (28, 28, 1) and 0 <= int(y) < 100
