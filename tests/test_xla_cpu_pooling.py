import keras
import numpy as np
import pytest
from keras import ops

from dreamkeras.xla_cpu import SeparableMaxPooling2D
from tests.helpers import conv_probe
from tests.helpers import random_images
from tests.helpers import run_serialization_test
from tests.helpers import tiny_classifier
from tests.helpers import to_numpy

pytestmark = pytest.mark.layer

POOLINGS = [
    # input shape, pool_size, strides, padding, data_format
    ((2, 16, 16, 4), 3, 2, "same", "channels_last"),  # the ResNet stem
    ((2, 15, 17, 3), 3, 2, "same", "channels_last"),  # odd sizes: pad before and after
    ((2, 9, 10, 3), 2, 2, "valid", "channels_last"),  # a last row no window covers
    ((2, 9, 10, 3), (3, 2), (2, 3), "valid", "channels_last"),
    ((2, 3, 9, 10), 3, 1, "same", "channels_first"),
    ((2, 7, 7, 2), 5, 3, "same", "channels_last"),  # windows of two and a bit strides
    ((2, 8, 8, 2), 2, None, "valid", "channels_last"),  # strides default to pool_size
    ((2, 7, 7, 2), 4, 2, "same", "channels_last"),
]


@pytest.mark.parametrize("input_shape, pool_size, strides, padding, data_format", POOLINGS)
def test_equals_keras_max_pooling(input_shape, pool_size, strides, padding, data_format):
    kwargs = dict(strides=strides, padding=padding, data_format=data_format)
    images = np.random.default_rng(0).normal(size=input_shape).astype("float32")
    expected = to_numpy(keras.layers.MaxPooling2D(pool_size, **kwargs)(images))
    layer = SeparableMaxPooling2D(pool_size, **kwargs)
    np.testing.assert_array_equal(to_numpy(layer(images)), expected)
    assert layer.compute_output_shape(input_shape) == expected.shape


def test_gradient_equals_keras_max_pooling():
    # Random inputs have no ties: the gradient must reach exactly the pixels
    # a native max pool sends it to.
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 3)).astype("float32")
    images = np.random.default_rng(2).normal(size=(4, 10, 9, 2)).astype("float32")
    targets = np.random.default_rng(3).normal(size=(4, 2)).astype("float32")
    kernels = []
    for pool_class in (SeparableMaxPooling2D, keras.layers.MaxPooling2D):
        pool = pool_class(3, strides=2, padding="same")
        model, conv = conv_probe((10, 9, 2), kernel, pool)
        model.train_on_batch(images, targets)
        kernels.append(to_numpy(conv.kernel))
    assert not np.allclose(kernels[0], kernel)  # the gradient is not zero
    np.testing.assert_allclose(kernels[0], kernels[1], rtol=1e-5, atol=1e-6)


def test_tied_windows_pass_on_the_whole_gradient():
    # A constant map ties every window. Whether a backend splits the
    # gradient between the tied pixels or gives it to one, the pixels must
    # receive the outputs' whole gradient: d sum(pool(w * x)) / dw = number
    # of outputs for x = 1.
    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones")
    outputs = SeparableMaxPooling2D(3, strides=2, padding="same")(conv(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(1.0),
        loss=lambda y_true, y_pred: ops.sum(y_pred, axis=(1, 2, 3)),
    )
    model.train_on_batch(np.ones((1, 6, 6, 1), "float32"), np.zeros((1, 3, 3, 1)))
    np.testing.assert_allclose(to_numpy(conv.kernel).ravel(), [1.0 - 9.0], rtol=1e-6)


def test_window_larger_than_a_valid_map_is_a_clear_error():
    with pytest.raises(ValueError, match="larger than the input"):
        SeparableMaxPooling2D(3, padding="valid")(np.zeros((1, 2, 5, 1), "float32"))


def test_unknown_map_size_uses_the_native_pooling():
    layer = SeparableMaxPooling2D(2)
    model = keras.Sequential([keras.Input((None, None, 3)), layer])
    images = np.random.default_rng(4).normal(size=(1, 6, 4, 3)).astype("float32")
    expected = to_numpy(keras.layers.MaxPooling2D(2)(images))
    np.testing.assert_array_equal(to_numpy(model(images)), expected)


def test_config_round_trip():
    layer = SeparableMaxPooling2D((3, 2), strides=2, padding="same", name="pool")
    revived = run_serialization_test(layer)
    assert revived.pool_size == (3, 2) and revived.strides == (2, 2)
    assert revived.padding == "same"


@pytest.mark.saving
def test_imagenet_stem_model_saves_and_loads(tmp_path):
    model = tiny_classifier(
        "chain", stem="imagenet", image_shape=(64, 64, 3), xla_cpu_kernels=True
    )
    pools = [layer for layer in model.layers if isinstance(layer, SeparableMaxPooling2D)]
    assert [layer.name for layer in pools] == ["stem_pool"]
    images = random_images(2, shape=(64, 64, 3))
    path = str(tmp_path / "chain.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.get_layer("stem_pool"), SeparableMaxPooling2D)
    np.testing.assert_allclose(
        to_numpy(restored.predict(images, verbose=0)),
        to_numpy(model.predict(images, verbose=0)),
        rtol=1e-5, atol=1e-6,
    )
