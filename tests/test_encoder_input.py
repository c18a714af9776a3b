"""The connections' `encoder_input`: the frozen model fed the input image."""

import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras.layers.adapters import resize_map
from tests.helpers import assert_bitwise_equal
from tests.helpers import assert_some_changed
from tests.helpers import random_images
from tests.helpers import snapshot
from tests.helpers import tiny_mae
from tests.helpers import tiny_vit
from tests.helpers import to_numpy

pytestmark = pytest.mark.layer

IMAGES = (24, 24, 3)
FEATURES = (6, 6, 12)


def wrapped(connection):
    """images -> conv(images) = h -> conv(h) + connection(h, images=images)."""
    images = keras.Input(IMAGES)
    h = keras.layers.Conv2D(FEATURES[-1], 3, strides=4, padding="same", name="stem")(images)
    out = connection(h, images=images)
    if isinstance(out, (tuple, list)):
        out = out[0]
    chain = keras.layers.Conv2D(FEATURES[-1], 3, padding="same", name="chain")(h)
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([chain, out]))
    model = keras.Model(images, keras.layers.Dense(3, name="head")(pooled))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def test_image_input_encodes_the_resized_image_whatever_the_features():
    vit = tiny_vit()
    connection = dreamkeras.SleepConnection(vit, encoder_input="image")
    images = random_images(2, IMAGES)
    first = connection(random_images(2, FEATURES, seed=1), images=images)
    second = connection(random_images(2, FEATURES, seed=2), images=images)
    assert connection.adapter_in is None
    np.testing.assert_allclose(to_numpy(first), to_numpy(second), atol=1e-6)
    # The encoder's patch tokens of the resized image, through adapter_out.
    resized = resize_map(keras.ops.convert_to_tensor(images), (32, 32))
    tokens = to_numpy(vit(resized))[:, 1:]
    expected = connection.adapter_out(tokens.reshape(2, 4, 4, 16), training=False)
    np.testing.assert_allclose(to_numpy(first), to_numpy(expected), atol=1e-5)


def test_image_plus_features_starts_as_the_image_alone():
    vit = tiny_vit()
    images = random_images(2, IMAGES)
    h = random_images(2, FEATURES, seed=3)
    both = dreamkeras.SleepConnection(vit, encoder_input="image+features")
    image_only = dreamkeras.SleepConnection(vit, encoder_input="image")
    out = both(h, images=images)
    image_only(h, images=images)
    image_only.adapter_out.set_weights(both.adapter_out.get_weights())
    assert not np.any(to_numpy(both.adapter_in.projection.kernel))
    np.testing.assert_allclose(
        to_numpy(out), to_numpy(image_only(h, images=images)), atol=1e-6
    )


def test_dreams_from_the_image_are_the_image_reconstructed():
    mae = tiny_mae()
    connection = dreamkeras.DreamConnection(mae, encoder_input="image")
    images = random_images(2, IMAGES)
    _, dream = connection(random_images(2, FEATURES), images=images)
    expected = mae.reconstruct(resize_map(keras.ops.convert_to_tensor(images), (32, 32)))
    np.testing.assert_allclose(to_numpy(dream), to_numpy(expected), atol=1e-5)


@pytest.mark.parametrize("kind", ["sleep", "dream"])
def test_fit_trains_the_adapters_not_the_frozen_model(kind):
    frozen = tiny_vit() if kind == "sleep" else tiny_mae()
    cls = dreamkeras.SleepConnection if kind == "sleep" else dreamkeras.DreamConnection
    connection = cls(frozen, encoder_input="image+features")
    model = wrapped(connection)
    frozen_before = snapshot(frozen.weights)
    adapter_in_before = snapshot(connection.adapter_in.weights)
    model.fit(random_images(8, IMAGES), np.ones((8, 3)), epochs=2, batch_size=4, verbose=0)
    assert_bitwise_equal(frozen_before, frozen.weights)
    # The zero-initialised adapter_in learns through the frozen model.
    assert_some_changed(adapter_in_before, connection.adapter_in.weights)


@pytest.mark.parametrize("mode", ["image", "image+features"])
def test_saved_model_reloads_with_its_encoder_input(tmp_path, mode):
    connection = dreamkeras.DreamConnection(tiny_mae(), encoder_input=mode, name="dream")
    model = wrapped(connection)
    images = random_images(4, IMAGES)
    model.fit(images, np.ones((4, 3)), epochs=1, batch_size=2, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    revived = keras.saving.load_model(path)
    assert revived.get_layer("dream").encoder_input == mode
    np.testing.assert_allclose(
        revived.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5
    )


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_classifiers_feed_their_input_image(kind):
    frozen = tiny_vit() if kind == "sleepnet" else tiny_mae()
    model = dreamkeras.models.build_vision_classifier(
        kind, frozen, num_classes=3, image_shape=IMAGES, num_blocks=2, width=8,
        stem="cifar", encoder_input="image",
    )
    connections = [layer for layer in model.layers if "_connection_" in layer.name]
    assert len(connections) == 2
    for connection in connections:
        assert connection.encoder_input == "image" and connection.adapter_in is None
        # The connection's second input is the model's image input.
        node = connection._inbound_nodes[0]
        assert node.arguments.kwargs["images"] is model.input
    assert model.get_config()["encoder_input"] == "image"
    revived = model.__class__.from_config(model.get_config())
    images = random_images(2, IMAGES)
    revived.set_weights(model.get_weights())
    np.testing.assert_allclose(
        to_numpy(revived(images)), to_numpy(model(images)), atol=1e-5
    )


def test_add_connections_feeds_the_image_to_any_model(tmp_path):
    inputs = keras.Input(IMAGES)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stage_1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stage_2")(x)
    model = keras.Model(inputs, x)
    vit = tiny_vit()
    connected = dreamkeras.add_connections(
        model, vit, after=["stage_1", "stage_2"], num_classes=3, encoder_input="image"
    )
    connections = [layer for layer in connected.layers if "_connection_" in layer.name]
    assert [c.encoder_input for c in connections] == ["image", "image"]
    images = random_images(2, IMAGES)
    path = str(tmp_path / "connected.keras")
    connected.save(path)
    revived = keras.saving.load_model(path)
    np.testing.assert_allclose(
        revived.predict(images, verbose=0), connected.predict(images, verbose=0), atol=1e-5
    )


def test_bad_encoder_input_is_a_clear_error():
    with pytest.raises(ValueError, match="encoder_input"):
        dreamkeras.SleepConnection(tiny_vit(), encoder_input="pixels")
    connection = dreamkeras.SleepConnection(tiny_vit(), encoder_input="image")
    with pytest.raises(ValueError, match="images=inputs"):
        connection(random_images(2, FEATURES))
    with pytest.raises(ValueError, match="channels"):
        connection(random_images(2, FEATURES), images=random_images(2, (24, 24, 1)))
