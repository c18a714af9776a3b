"""The XLA:CPU switch: off by default, same weights and values either way."""

import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras import xla_cpu
from tests.helpers import random_images
from tests.helpers import tiny_classifier
from tests.helpers import to_numpy

pytestmark = pytest.mark.saving


def layer_classes(model):
    return {type(layer).__name__ for layer in model._flatten_layers()}


def test_switch_is_off_by_default_and_models_are_keras_native():
    assert not xla_cpu.enabled()
    model = tiny_classifier("dreamnet", num_blocks=2, stem="imagenet")
    classes = layer_classes(model)
    assert {"BatchNormalization", "MaxPooling2D"} <= classes
    assert not classes & {"FlatBatchNormalization", "SeparableMaxPooling2D"}
    assert not model.xla_cpu_kernels


def test_switch_builds_the_cpu_kernels_and_is_recorded():
    with xla_cpu.kernels():
        model = tiny_classifier("sleepnet", num_blocks=2, stem="imagenet")
    assert not xla_cpu.enabled()  # the context restored the default
    assert {"FlatBatchNormalization", "SeparableMaxPooling2D"} <= layer_classes(model)
    assert model.get_config()["xla_cpu_kernels"] is True


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_both_graphs_compute_the_same_and_reload_either_way(kind, tmp_path):
    images = random_images(2)
    native = tiny_classifier(kind, num_blocks=2, stem="imagenet")
    with xla_cpu.kernels():
        fast = tiny_classifier(kind, num_blocks=2, stem="imagenet")
    fast.set_weights(native.get_weights())
    expected = to_numpy(native(images, training=False))
    np.testing.assert_allclose(
        to_numpy(fast(images, training=False)), expected, atol=1e-5
    )
    path = str(tmp_path / "fast.keras")
    fast.save(path)
    restored = keras.saving.load_model(path)  # switch off now
    assert restored.xla_cpu_kernels
    np.testing.assert_allclose(restored.predict(images, verbose=0), expected, atol=1e-5)
    path = str(tmp_path / "native.keras")
    native.save(path)
    with xla_cpu.kernels():
        restored = keras.saving.load_model(path)
    assert not restored.xla_cpu_kernels
    np.testing.assert_allclose(restored.predict(images, verbose=0), expected, atol=1e-5)


def test_sleep_connection_calls_its_encoder_as_a_layer_unless_switched():
    vit = dreamkeras.models.MAEAutoencoder(
        image_shape=(32, 32, 3), patch_size=8, num_layers=1, num_heads=2,
        hidden_dim=16, mlp_dim=32, decoder_num_layers=1, decoder_num_heads=2,
        decoder_hidden_dim=16, decoder_mlp_dim=32,
    ).encoder
    calls = []
    original = vit.call

    def counting_call(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    vit.call = counting_call
    features = np.random.default_rng(0).random((2, 8, 8, 4)).astype("float32")
    native = dreamkeras.SleepConnection(vit)
    native(features)
    assert calls  # the encoder ran as a layer
    expected = to_numpy(native(features))
    with xla_cpu.kernels():
        switched = dreamkeras.SleepConnection(vit)
    switched.build(features.shape)
    switched.set_weights(native.get_weights())
    calls.clear()
    got = to_numpy(switched(features))
    assert not calls  # taken apart: patch embedding as a matmul
    np.testing.assert_allclose(got, expected, atol=1e-5)
