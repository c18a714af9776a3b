"""Tiny models and shared checks for the tests (in the spirit of KerasHub's TestCase)."""

import json
import zipfile

import h5py

import keras
import keras_hub
import numpy as np

import dreamkeras

IMAGE_SHAPE = (32, 32, 3)


def tiny_vit(**kwargs):
    config = dict(
        image_shape=IMAGE_SHAPE, patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32,
    )
    config.update(kwargs)
    return keras_hub.models.ViTBackbone(**config)


def tiny_mae(**kwargs):
    config = dict(
        image_shape=IMAGE_SHAPE, patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32, decoder_num_layers=1, decoder_num_heads=2,
        decoder_hidden_dim=16, decoder_mlp_dim=32, seed=7,
    )
    config.update(kwargs)
    return dreamkeras.models.MAEAutoencoder(**config)


def tiny_roberta(masked_lm=False):
    """A one-layer RoBERTa (vocabulary 30, width 8), or its masked LM."""
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8,
    )
    if not masked_lm:
        return backbone
    return keras_hub.models.RobertaMaskedLM(backbone=backbone, preprocessor=None)


def tiny_classifier(kind, num_blocks=2, **kwargs):
    """A SleepNet / DreamNet / ChainClassifier small enough for unit tests."""
    config = dict(
        num_classes=4, num_blocks=num_blocks, width=8, stem="cifar",
        image_shape=IMAGE_SHAPE,
    )
    config.update(kwargs)
    if kind == "sleepnet":
        return dreamkeras.SleepNet(tiny_vit(), **config)
    if kind == "dreamnet":
        return dreamkeras.DreamNet(tiny_mae(), **config)
    return dreamkeras.ChainClassifier(**config)


def conv_probe(input_shape, kernel, *layers):
    """Conv2D -> `layers` -> Dense(2), with fixed weights, compiled for one SGD step.

    For checking that a layer passes on the gradient it should: train one
    step with it and with its Keras twin, and compare the convolution's
    kernels. Returns `(model, conv)`.
    """
    inputs = keras.Input(input_shape)
    conv = keras.layers.Conv2D(3, 3, padding="same", use_bias=False)
    x = conv(inputs)
    for layer in layers:
        x = layer(x)
    dense = keras.layers.Dense(2)
    outputs = dense(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    conv.kernel.assign(kernel)
    features = dense.kernel.shape[0]
    dense.kernel.assign(np.linspace(-1, 1, features * 2).reshape(features, 2))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model, conv


def random_images(n=8, shape=IMAGE_SHAPE, seed=0):
    return np.random.default_rng(seed).random((n,) + tuple(shape)).astype("float32")


def random_labels(n=8, num_classes=4, seed=0):
    return np.random.default_rng(seed).integers(0, num_classes, n)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def snapshot(variables):
    return [to_numpy(v).copy() for v in variables]


def assert_bitwise_equal(before, variables):
    after = snapshot(variables)
    assert len(before) == len(after)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def assert_some_changed(before, variables):
    after = snapshot(variables)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))


def config_json(config):
    """A config as sorted JSON, without Keras' object-identity markers.

    `shared_object_id` names an object (its `id`), so it differs between an
    object and its copy by design; it is not configuration.
    """

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "shared_object_id"}
        if isinstance(value, (list, tuple)):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(config), sort_keys=True, default=str)


def run_serialization_test(obj):
    """Config JSON round trip, directly and through `serialize_keras_object`."""
    config = obj.get_config()
    revived = obj.__class__.from_config(config)
    assert config_json(revived.get_config()) == config_json(config)
    serialized = keras.saving.serialize_keras_object(obj)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(revived, obj.__class__)
    assert config_json(revived.get_config()) == config_json(config)
    return revived


def weight_ids(variables):
    return {id(v) for v in variables}


def stored_values(path):
    """Scalars stored for the model's own weights in a `.keras` archive.

    Optimizer state (stored under `optimizer/`, also the state of a KerasHub
    task that compiled itself) is not counted.
    """
    total = 0
    with zipfile.ZipFile(path) as archive:
        with archive.open("model.weights.h5") as handle:
            with h5py.File(handle, "r") as weights:

                def count(name, obj):
                    nonlocal total
                    if isinstance(obj, h5py.Dataset) and "optimizer" not in (
                        name.split("/")
                    ):
                        total += obj.size

                weights.visititems(count)
    return total


def frozen_objects(model):
    """The distinct frozen models the connections of `model` hold."""
    found = {}
    for layer in model._flatten_layers(include_self=False):
        if not hasattr(layer, "trainable_encoder"):
            continue
        for name in ("autoencoder", "masked_lm", "encoder", "backbone"):
            frozen = getattr(layer, name, None)
            if frozen is not None:
                found[id(frozen)] = frozen
                break
    return list(found.values())


def check_reload(model, inputs, labels, path, check_restored=None):
    """Saves and reloads `model`; checks predictions, sharing and freezing.

    `check_restored(model, restored)`, if given, runs right after loading.
    """
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(inputs, labels, epochs=1, verbose=0)
    expected = model.predict(inputs, verbose=0)
    (frozen,) = frozen_objects(model)
    model.save(path)

    unique = sum(int(np.prod(v.shape)) for v in model.weights)
    assert stored_values(path) == unique  # the frozen model stored once

    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), expected, atol=1e-5)
    if check_restored is not None:
        check_restored(model, restored)
    (restored_frozen,) = frozen_objects(restored)  # one shared object
    assert len(restored.trainable_weights) == len(model.trainable_weights)
    assert not restored_frozen.trainable_weights
    before = snapshot(restored_frozen.weights)
    restored.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    restored.fit(inputs, labels, epochs=1, verbose=0)
    assert_bitwise_equal(before, restored_frozen.weights)
    return restored
