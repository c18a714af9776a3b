"""DreamConnection's `keep_visible` dreams and `inference_mask_ratio`."""

import keras
import numpy as np
import pytest

import dreamkeras
from tests.helpers import IMAGE_SHAPE
from tests.helpers import assert_bitwise_equal
from tests.helpers import random_images
from tests.helpers import snapshot
from tests.helpers import tiny_mae
from tests.helpers import to_numpy

pytestmark = pytest.mark.layer

PATCH = 8  # tiny_mae's patch size: a 4x4 grid on 32x32 images.
GRID = IMAGE_SHAPE[0] // PATCH


def pixel_mae(**kwargs):
    return tiny_mae(norm_pix_loss=False, **kwargs)


def visible_connection(mae, **kwargs):
    options = dict(
        encoder_input="image", mask_ratio=0.75, inference_mask_ratio=0.75,
        keep_visible=True, seed=3,
    )
    options.update(kwargs)
    return dreamkeras.DreamConnection(mae, **options)


def hidden_pixels(noise, keep):
    """Image-space boolean map of the patches not among the `keep` lowest noise."""
    kept = np.argsort(noise)[:keep]
    hidden = np.ones((GRID, GRID), bool)
    hidden[np.unravel_index(kept, (GRID, GRID))] = False
    return np.kron(hidden, np.ones((PATCH, PATCH), bool)).astype(bool)


def reconstruct(mae, images, mask_ratio, noise):
    """The MAE's images, hiding the patches `noise` (one row) leaves out of every image."""
    rows = np.repeat(noise[None].astype("float32"), len(images), axis=0)
    latent, ids_restore, _ = mae.encode(images, mask_ratio, noise=rows)
    return to_numpy(mae.unpatchify(mae.decoder(latent, ids_restore)))


def test_inference_dream_is_the_input_where_visible_and_the_reconstruction_where_hidden():
    mae = pixel_mae()
    connection = visible_connection(mae)
    images = random_images(2)
    features = np.zeros((2, 8, 8, 4), "float32")
    _, dream = connection(features, images=images, training=False)
    dream = to_numpy(dream)

    noise = np.random.default_rng(3).random((1, GRID * GRID))[0]
    hidden = hidden_pixels(noise, keep=GRID * GRID // 4)
    assert hidden.sum() == 12 * PATCH * PATCH  # 75% of 16 patches.
    # Visible: the input itself, exactly.
    np.testing.assert_array_equal(dream[:, ~hidden], images[:, ~hidden])
    # Hidden: what the MAE predicts from the visible patches alone.
    reconstruction = reconstruct(mae, images, 0.75, noise)
    np.testing.assert_allclose(dream[:, hidden], reconstruction[:, hidden], atol=1e-5)
    assert np.abs(dream[:, hidden] - images[:, hidden]).max() > 0.1


def test_inference_is_deterministic_and_the_pattern_follows_the_seed():
    mae = pixel_mae()
    images = random_images(3)
    features = np.zeros((3, 8, 8, 4), "float32")
    first = visible_connection(mae, seed=0)
    _, a = first(features, images=images)
    _, b = first(features, images=images)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    # The same pattern for every image of the batch.
    copy = visible_connection(mae, seed=0)
    _, single = copy(features[:1], images=images[1:2])
    np.testing.assert_allclose(to_numpy(single)[0], to_numpy(a)[1], atol=1e-5)
    _, other = visible_connection(mae, seed=1)(features, images=images)
    assert not np.allclose(to_numpy(a), to_numpy(other))


def test_training_hides_random_patches_and_keeps_the_rest_of_the_input():
    mae = pixel_mae()
    connection = visible_connection(mae)
    images = random_images(4)
    features = np.zeros((4, 8, 8, 4), "float32")
    _, dream = connection(features, images=images, training=True)
    dream = to_numpy(dream)
    for dreamed, image in zip(dream, images):
        same = np.isclose(dreamed, image).all(axis=-1)
        patches_same = same.reshape(GRID, PATCH, GRID, PATCH).all(axis=(1, 3))
        assert patches_same.sum() == 4  # 25% of the 16 patches kept.


def test_without_keep_visible_the_dream_is_the_reconstruction_everywhere():
    mae = pixel_mae()
    connection = dreamkeras.DreamConnection(
        mae, encoder_input="image", inference_mask_ratio=0.5, seed=3
    )
    images = random_images(2)
    _, dream = connection(np.zeros((2, 8, 8, 4), "float32"), images=images)
    noise = np.random.default_rng(3).random((1, GRID * GRID))[0]
    expected = reconstruct(mae, images, 0.5, noise)
    np.testing.assert_allclose(to_numpy(dream), expected, atol=1e-5)


def test_gradients_reach_adapter_in_through_the_visible_patches_not_the_mae():
    mae = pixel_mae()
    connection = visible_connection(mae, encoder_input="features", stop_gradient=True)
    features = keras.Input((8, 8, 4))
    out, dream = connection(features)
    pooled = keras.layers.GlobalAveragePooling2D()(dream)
    model = keras.Model(features, keras.layers.Dense(1)(pooled))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    frozen_before = snapshot(mae.weights)
    adapter_before = snapshot(connection.adapter_in.weights)
    x = np.random.default_rng(0).random((4, 8, 8, 4)).astype("float32")
    model.fit(x, np.full((4, 1), 5.0), epochs=1, batch_size=4, verbose=0)
    assert_bitwise_equal(frozen_before, mae.weights)
    # With stop_gradient the MAE passes nothing back: only the visible
    # patches, copied from adapter_in's output, carry a gradient to it.
    changed = [
        not np.array_equal(before, to_numpy(after))
        for before, after in zip(adapter_before, connection.adapter_in.weights)
    ]
    assert any(changed)


def test_dreamnet_connections_hide_different_fixed_patterns_and_reload(tmp_path):
    model = dreamkeras.DreamNet(
        pixel_mae(), num_classes=3, num_blocks=2, width=8, stem="cifar",
        image_shape=IMAGE_SHAPE, encoder_input="image", mask_ratio=0.75,
        inference_mask_ratio=0.75, keep_visible=True,
    )
    connections = [layer for layer in model.layers if "_connection_" in layer.name]
    assert [c.seed for c in connections] == [0, 1]
    assert all(c.keep_visible and c.inference_mask_ratio == 0.75 for c in connections)
    assert model.get_config()["keep_visible"] is True
    images = random_images(4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(images, np.array([0, 1, 2, 0]), epochs=1, batch_size=2, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    revived = keras.saving.load_model(path)
    np.testing.assert_allclose(
        revived.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5
    )
    revived_connections = [l for l in revived.layers if "_connection_" in l.name]
    assert [c.seed for c in revived_connections] == [0, 1]
    assert all(c.keep_visible for c in revived_connections)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mask_ratio=0.0), "set both `mask_ratio`"),
        (dict(inference_mask_ratio=0.0), "set both `mask_ratio`"),
        (dict(inference_mask_ratio=1.0), "inference_mask_ratio"),
    ],
)
def test_bad_dream_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        visible_connection(pixel_mae(), **kwargs)


def test_keep_visible_refuses_a_normalised_pixel_mae():
    with pytest.raises(ValueError, match="no-norm-pix-loss"):
        visible_connection(tiny_mae(norm_pix_loss=True))


def test_dream_options_are_refused_on_other_models():
    with pytest.raises(ValueError, match="DreamNet's options"):
        dreamkeras.models.build_vision_classifier(
            "sleepnet", "vit-tiny-32", num_classes=3, keep_visible=True
        )


def test_add_connections_passes_the_dream_options_to_a_users_model():
    inputs = keras.Input(IMAGE_SHAPE)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stage_1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stage_2")(x)
    connected = dreamkeras.add_connections(
        keras.Model(inputs, x), pixel_mae(), after=["stage_1", "stage_2"], num_classes=3,
        encoder_input="image", mask_ratio=0.5, inference_mask_ratio=0.5, keep_visible=True,
    )
    connections = [layer for layer in connected.layers if "_connection_" in layer.name]
    assert [c.seed for c in connections] == [0, 1]
    assert all(c.keep_visible and c.inference_mask_ratio == 0.5 for c in connections)
    images = random_images(2)
    np.testing.assert_allclose(
        to_numpy(connected(images)), to_numpy(connected(images)), atol=1e-6
    )
