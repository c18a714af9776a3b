import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras.xla_cpu import matmul_convolution
from dreamkeras.xla_cpu import patch_convolution
from dreamkeras.xla_cpu.vit import embed_patches
from dreamkeras.layers.vit_encoding import vit_parts
from tests.helpers import tiny_vit
from tests.helpers import run_serialization_test
from tests.helpers import to_numpy

pytestmark = pytest.mark.layer


def twin_convolutions(input_shape, filters, kernel_size, strides, padding, use_bias):
    """A `MatmulConv2D` and a `keras.layers.Conv2D` with the same weights."""
    kwargs = dict(strides=strides, padding=padding, use_bias=use_bias)
    matmul = dreamkeras.xla_cpu.MatmulConv2D(
        filters, kernel_size, matmul_max_pixels=10_000, **kwargs
    )
    native = keras.layers.Conv2D(filters, kernel_size, **kwargs)
    matmul.build(input_shape)
    native.build(input_shape)
    rng = np.random.default_rng(0)
    for mine, theirs in zip(matmul.weights, native.weights):
        value = rng.normal(size=mine.shape).astype("float32")
        mine.assign(value)
        theirs.assign(value)
    return matmul, native


@pytest.mark.parametrize(
    "input_shape, kernel_size, strides, padding",
    [
        ((2, 2, 2, 16), 3, 1, "same"),
        ((2, 1, 1, 16), 3, 1, "same"),
        ((2, 4, 4, 8), 3, 2, "same"),
        ((2, 5, 5, 8), 3, 2, "same"),  # odd size: the extra pad pixel goes after
        ((2, 7, 6, 8), (3, 2), (2, 1), "same"),
        ((2, 5, 5, 8), 3, 1, "valid"),
        ((2, 6, 6, 8), 3, 2, "valid"),
        ((2, 3, 3, 8), 1, 1, "same"),
    ],
)
def test_matmul_path_equals_native_convolution(input_shape, kernel_size, strides, padding):
    matmul, native = twin_convolutions(input_shape, 5, kernel_size, strides, padding, True)
    images = np.random.default_rng(1).normal(size=input_shape).astype("float32")
    assert matmul_convolution(matmul, images, matmul.kernel, 10_000) is not None
    expected = to_numpy(native(images))
    np.testing.assert_allclose(to_numpy(matmul(images)), expected, rtol=1e-5, atol=1e-5)
    assert matmul.compute_output_shape(input_shape) == expected.shape


def test_gradients_match_native_convolution():
    input_shape = (2, 2, 2, 6)
    matmul, native = twin_convolutions(input_shape, 4, 3, 1, "same", False)
    images = np.random.default_rng(2).normal(size=input_shape).astype("float32")
    targets = np.random.default_rng(3).normal(size=(2, 2, 2, 4)).astype("float32")
    kernels = []
    for layer in (matmul, native):
        model = keras.Sequential([keras.Input(input_shape[1:]), layer])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.train_on_batch(images, targets)
        kernels.append(to_numpy(layer.kernel))
    # One SGD step from the same weights lands on the same weights: the
    # gradients agree, and they are not zero.
    np.testing.assert_allclose(kernels[0], kernels[1], rtol=1e-4, atol=1e-5)
    assert not np.allclose(kernels[0], to_numpy(twin_convolutions(input_shape, 4, 3, 1, "same", False)[0].kernel))


def test_large_maps_use_the_native_convolution():
    conv = dreamkeras.xla_cpu.MatmulConv2D(4, 3, padding="same")
    conv.build((1, 8, 8, 2))
    small, large = np.zeros((1, 4, 4, 2)), np.zeros((1, 8, 8, 2))
    assert matmul_convolution(conv, small, conv.kernel) is not None  # 16 pixels
    assert matmul_convolution(conv, large, conv.kernel) is None  # 64 pixels
    assert matmul_convolution(conv, small, conv.kernel, max_pixels=0) is None
    # A "valid" kernel larger than the map has no output to compute as a
    # matmul: the native convolution decides what that means.
    valid = dreamkeras.xla_cpu.MatmulConv2D(4, 3, padding="valid")
    valid.build((1, 4, 4, 2))
    assert matmul_convolution(valid, np.zeros((1, 1, 1, 2)), valid.kernel) is None


def test_config_round_trip_keeps_threshold():
    conv = dreamkeras.xla_cpu.MatmulConv2D(7, 3, strides=2, padding="same", matmul_max_pixels=4)
    revived = run_serialization_test(conv)
    assert revived.matmul_max_pixels == 4
    assert revived.filters == 7 and revived.strides == (2, 2)


def test_residual_block_on_a_small_map_matches_native_convolutions():
    # The last stage of a ResNet on 32x32 images works on 2x2 maps: the block
    # must compute exactly what it computes with Keras' own convolutions.
    images = np.random.default_rng(4).normal(size=(3, 4, 4, 8)).astype("float32")
    block = dreamkeras.layers.ResidualBlock(16, strides=2, xla_cpu_kernels=True)
    fast = to_numpy(block(images, training=False))
    block.matmul_max_pixels = 0
    np.testing.assert_allclose(
        to_numpy(block(images, training=False)), fast, rtol=1e-5, atol=1e-5
    )


def test_residual_block_weights_keep_their_saved_layout(tmp_path):
    # Weights saved before the matmul path existed must still load: the
    # sublayers stay keras Conv2D, stored under the same paths.
    h5py = pytest.importorskip("h5py")
    block = dreamkeras.layers.ResidualBlock(8, strides=2, matmul_max_pixels=4)
    model = keras.Sequential([keras.Input((4, 4, 8)), block])
    path = str(tmp_path / "block.weights.h5")
    model.save_weights(path)
    names = []
    with h5py.File(path, "r") as handle:
        handle.visit(names.append)
    assert any(name.endswith("convs/conv2d/vars") for name in names), names
    assert any(name.endswith("convs/conv2d_1/vars") for name in names), names
    revived = keras.Sequential(
        [keras.Input((4, 4, 8)), dreamkeras.layers.ResidualBlock(8, strides=2)]
    )
    revived.load_weights(path)
    images = np.random.default_rng(5).normal(size=(2, 4, 4, 8)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(revived(images)), to_numpy(model(images)), rtol=1e-5, atol=1e-5
    )
    assert run_serialization_test(block).matmul_max_pixels == 4


@pytest.mark.parametrize(
    "input_shape, patch",
    [((2, 8, 8, 3), 4), ((2, 10, 9, 3), (4, 3)), ((1, 6, 6, 2), 2)],
)
def test_patch_convolution_equals_native_convolution(input_shape, patch):
    # (2, 10, 9, 3) with 4x3 patches: the last 2 rows are dropped, as the
    # "valid" convolution drops them.
    native = keras.layers.Conv2D(5, patch, strides=patch)
    native.build(input_shape)
    rng = np.random.default_rng(4)
    native.kernel.assign(rng.normal(size=native.kernel.shape).astype("float32"))
    images = rng.normal(size=input_shape).astype("float32")
    expected = to_numpy(native.convolution_op(images, native.kernel))
    patches = patch_convolution(native, images, native.kernel)
    assert patches is not None and patches.shape == expected.shape
    np.testing.assert_allclose(to_numpy(patches), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kernel_size, strides, padding", [(3, 1, "valid"), (4, 2, "valid"), (4, 4, "same")]
)
def test_patch_convolution_leaves_overlapping_or_padded_kernels(kernel_size, strides, padding):
    conv = keras.layers.Conv2D(5, kernel_size, strides=strides, padding=padding)
    conv.build((1, 8, 8, 3))
    assert patch_convolution(conv, np.zeros((1, 8, 8, 3), "float32"), conv.kernel) is None


class _Embed(keras.layers.Layer):
    """A trainable 1x1 mixing of the channels, then a ViT patch embedding."""

    def __init__(self, vit, fast, **kwargs):
        super().__init__(**kwargs)
        self.embedding = vit_parts(vit)[0]
        self.embedding.trainable = False
        self.fast = fast
        self.mix = keras.layers.Dense(3, kernel_initializer="orthogonal")

    def call(self, images):
        mixed = self.mix(images)
        if self.fast:
            return embed_patches(self.embedding, mixed)
        return self.embedding(mixed)


def test_embed_patches_matches_the_keras_hub_layer_and_its_gradient():
    vit = tiny_vit(patch_size=4)
    embedding = vit_parts(vit)[0]
    images = np.random.default_rng(5).normal(size=(2, 32, 32, 3)).astype("float32")
    conv = embedding.patch_embedding
    assert patch_convolution(conv, images, conv.kernel) is not None
    np.testing.assert_allclose(
        to_numpy(embed_patches(embedding, images)), to_numpy(embedding(images)),
        rtol=1e-5, atol=1e-5,
    )
    # One SGD step through each path moves the trainable layer before the
    # frozen embedding the same way: same gradient with respect to the images.
    initial, mixes = [], []
    for fast in (True, False):
        keras.utils.set_random_seed(0)
        layer = _Embed(vit, fast)
        model = keras.Sequential([keras.Input((32, 32, 3)), layer])
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        initial.append(to_numpy(layer.mix.kernel))
        model.train_on_batch(images, np.ones((2, 65, 16), "float32"))
        mixes.append(to_numpy(layer.mix.kernel))
    np.testing.assert_array_equal(initial[0], initial[1])
    assert np.abs(mixes[0] - initial[0]).max() > 1e-3  # The step moved it.
    np.testing.assert_allclose(mixes[0], mixes[1], rtol=1e-4, atol=1e-6)
