import keras
import numpy as np
import pytest

from dreamkeras.xla_cpu import FlatBatchNormalization
from tests.helpers import conv_probe
from tests.helpers import random_images
from tests.helpers import run_serialization_test
from tests.helpers import tiny_classifier
from tests.helpers import to_numpy

pytestmark = pytest.mark.layer


def _pair(input_shape, **kwargs):
    """A FlatBatchNormalization and a Keras one with the same random weights."""
    layers = [FlatBatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)]
    rng = np.random.default_rng(0)
    channels = input_shape[kwargs.get("axis", -1)]
    values = {
        "gamma": rng.uniform(0.5, 1.5, channels),
        "beta": rng.normal(size=channels),
        "moving_mean": rng.normal(size=channels),
        "moving_variance": rng.uniform(0.5, 2.0, channels),
    }
    for layer in layers:
        layer.build(input_shape)
        for name, value in values.items():
            if hasattr(layer, name):
                getattr(layer, name).assign(value.astype("float32"))
    return layers


@pytest.mark.parametrize(
    "input_shape", [(4, 6, 5, 3), (3, 7, 4), (2, 3, 4, 2, 5), (5, 4)]
)
@pytest.mark.parametrize("training", [True, False])
def test_equals_keras_batch_normalization(input_shape, training):
    flat, native = _pair(input_shape, momentum=0.9)
    x = np.random.default_rng(1).normal(3.0, 2.0, size=input_shape).astype("float32")
    np.testing.assert_allclose(
        to_numpy(flat(x, training=training)),
        to_numpy(native(x, training=training)),
        rtol=1e-5, atol=1e-5,
    )
    # The moving statistics move the same way (and only in training).
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(
            to_numpy(getattr(flat, name)), to_numpy(getattr(native, name)),
            rtol=1e-5, atol=1e-6,
        )


def test_statistics_are_over_every_axis_but_the_channels():
    # An independent computation: (x - mean) / sqrt(var + eps) per channel,
    # over batch and spatial axes together.
    x = np.random.default_rng(2).normal(size=(3, 5, 4, 2)).astype("float32")
    x[..., 1] = 10.0 * x[..., 1] + 7.0
    layer = FlatBatchNormalization(center=False, scale=False, epsilon=1e-3)
    mean = x.mean(axis=(0, 1, 2))
    variance = x.var(axis=(0, 1, 2))
    expected = (x - mean) / np.sqrt(variance + 1e-3)
    np.testing.assert_allclose(
        to_numpy(layer(x, training=True)), expected, rtol=1e-4, atol=1e-4
    )


def test_training_step_equals_keras_batch_normalization():
    # Gradients through the statistics reach the convolution before the norm,
    # and gamma and beta, exactly as with Keras's layer.
    kernel = np.random.default_rng(3).normal(size=(3, 3, 2, 3)).astype("float32")
    images = np.random.default_rng(4).normal(size=(4, 6, 5, 2)).astype("float32")
    targets = np.random.default_rng(5).normal(size=(4, 2)).astype("float32")
    trained = []
    for norm_class in (FlatBatchNormalization, keras.layers.BatchNormalization):
        norm = norm_class(momentum=0.5)
        model, conv = conv_probe((6, 5, 2), kernel, norm, keras.layers.ReLU())
        model.train_on_batch(images, targets)
        trained.append(
            [to_numpy(v) for v in (conv.kernel, norm.gamma, norm.beta, norm.moving_mean)]
        )
    assert not np.allclose(trained[0][0], kernel)  # the gradient is not zero
    assert not np.allclose(trained[0][1], 1.0) and not np.allclose(trained[0][2], 0.0)
    for flat, native in zip(*trained):
        np.testing.assert_allclose(flat, native, rtol=1e-4, atol=1e-5)


def test_mixed_precision_keeps_float32_statistics():
    layer = FlatBatchNormalization(dtype="mixed_float16")
    x = np.random.default_rng(6).normal(100.0, 1.0, size=(2, 4, 4, 3)).astype("float16")
    outputs = layer(x, training=True)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert keras.backend.standardize_dtype(layer.moving_mean.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(outputs).astype("float32").mean(), 0.0, atol=1e-2)


def test_channels_first_and_masks_use_keras_batch_normalization():
    x = np.random.default_rng(7).normal(size=(2, 3, 4, 5)).astype("float32")
    flat, native = _pair(x.shape, axis=1)
    np.testing.assert_allclose(
        to_numpy(flat(x, training=True)), to_numpy(native(x, training=True)),
        rtol=1e-5, atol=1e-5,
    )
    tokens = np.random.default_rng(8).normal(size=(2, 5, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    flat, native = _pair(tokens.shape)
    np.testing.assert_allclose(
        to_numpy(flat(tokens, training=True, mask=mask)),
        to_numpy(native(tokens, training=True, mask=mask)),
        rtol=1e-5, atol=1e-5,
    )


def test_config_round_trip():
    layer = FlatBatchNormalization(momentum=0.9, epsilon=1e-4, center=False, name="norm")
    revived = run_serialization_test(layer)
    assert isinstance(revived, FlatBatchNormalization)
    assert revived.momentum == 0.9 and revived.epsilon == 1e-4 and not revived.center


@pytest.mark.saving
def test_chain_saves_and_loads_with_its_norms(tmp_path):
    model = tiny_classifier(
        "chain", stem="imagenet", image_shape=(32, 32, 3), xla_cpu_kernels=True
    )
    norms = [
        layer for layer in model._flatten_layers() if isinstance(layer, FlatBatchNormalization)
    ]
    assert "stem_norm" in [layer.name for layer in norms]
    images = random_images(2, shape=(32, 32, 3))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(images, np.array([0, 1]), epochs=1, verbose=0)  # moves the statistics
    path = str(tmp_path / "chain.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.get_layer("stem_norm"), FlatBatchNormalization)
    np.testing.assert_allclose(
        to_numpy(restored.predict(images, verbose=0)),
        to_numpy(model.predict(images, verbose=0)),
        rtol=1e-5, atol=1e-6,
    )
