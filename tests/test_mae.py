import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras.layers.vit_encoding import gather_tokens
from dreamkeras.layers.vit_encoding import random_masking
from dreamkeras.layers.vit_encoding import restore_token_order
from dreamkeras.models.mae.patches import patchify
from dreamkeras.models.mae.patches import sincos_position_embedding
from dreamkeras.models.mae.patches import unpatchify
from tests.helpers import random_images
from tests.helpers import run_serialization_test
from tests.helpers import tiny_mae
from tests.helpers import to_numpy

pytestmark = pytest.mark.layer


def numpy_patchify(images, patch):
    """Loop-based reference: patch (i, j) flattened as (row, col, channel)."""
    n, h, w, c = images.shape
    out = []
    for i in range(h // patch):
        for j in range(w // patch):
            block = images[:, i * patch : (i + 1) * patch, j * patch : (j + 1) * patch]
            out.append(block.reshape(n, -1))
    return np.stack(out, axis=1)


def test_patchify_matches_loop_reference_and_inverts():
    images = random_images(2, (16, 24, 3))
    patches = to_numpy(patchify(keras.ops.convert_to_tensor(images), (8, 8)))
    np.testing.assert_allclose(patches, numpy_patchify(images, 8))
    restored = to_numpy(unpatchify(patches, (2, 3), (8, 8), 3))
    np.testing.assert_allclose(restored, images)


def test_sincos_position_embedding_values():
    table = sincos_position_embedding((2, 3), 8)
    assert table.shape == (7, 8)
    np.testing.assert_array_equal(table[0], 0.0)
    # Patch at row 1, column 2 is token 1 + 1 * 3 + 2; first half encodes the column.
    omega = 1.0 / 10000 ** (np.arange(2) / 2.0)
    expected = np.concatenate(
        [np.sin(2 * omega), np.cos(2 * omega), np.sin(1 * omega), np.cos(1 * omega)]
    )
    np.testing.assert_allclose(table[1 + 3 + 2], expected, rtol=1e-6)


def test_random_masking_keeps_a_subset_and_restores_order():
    tokens = np.random.default_rng(0).random((3, 16, 4)).astype("float32")
    kept, ids_restore, mask = random_masking(
        keras.ops.convert_to_tensor(tokens), 0.75, keras.random.SeedGenerator(1)
    )
    kept, ids_restore, mask = map(to_numpy, (kept, ids_restore, mask))
    assert kept.shape == (3, 4, 4)
    np.testing.assert_array_equal(mask.sum(axis=1), 12)
    for b in range(3):
        # The kept tokens are exactly the unmasked patches, in shuffled order.
        visible = tokens[b][mask[b] == 0]
        assert sorted(map(tuple, visible)) == sorted(map(tuple, kept[b]))
        # ids_restore is a permutation.
        assert sorted(ids_restore[b]) == list(range(16))


def test_gather_tokens_equals_numpy_indexing_and_take_along_axis_gradient():
    rng = np.random.default_rng(2)
    tokens = rng.normal(size=(3, 7, 5)).astype("float32")
    index = np.array([[6, 0, 3], [2, 2, 5], [1, 4, 0]])  # repeats in row 1
    expected = np.stack([tokens[b, index[b]] for b in range(3)])
    np.testing.assert_array_equal(to_numpy(gather_tokens(tokens, index)), expected)

    def along_axis(x):
        broadcast = np.broadcast_to(index[..., None], (3, 3, 5))
        return keras.ops.take_along_axis(x, broadcast, axis=1)

    # One SGD step through a Dense before each gather: the same gradient
    # reaches the Dense (repeated picks add up), and it is not zero.
    targets = rng.normal(size=(3, 3, 5)).astype("float32")
    kernels = []
    for gather in (lambda x: gather_tokens(x, index), along_axis):
        dense = keras.layers.Dense(5, use_bias=False, kernel_initializer="identity")
        model = keras.Sequential(
            [keras.Input((7, 5)), dense, keras.layers.Lambda(gather)]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        model.train_on_batch(tokens, targets)
        kernels.append(to_numpy(dense.kernel))
    assert np.abs(kernels[0] - np.eye(5)).max() > 1e-3
    np.testing.assert_allclose(kernels[0], kernels[1], rtol=1e-5, atol=1e-6)


def test_restore_token_order_puts_kept_tokens_back_with_zeros():
    tokens = np.random.default_rng(3).random((2, 6, 3)).astype("float32")
    kept, ids_restore, mask = random_masking(
        keras.ops.convert_to_tensor(tokens), 0.5, keras.random.SeedGenerator(4)
    )
    restored = to_numpy(restore_token_order(kept, ids_restore))
    mask = to_numpy(mask)[..., None]
    np.testing.assert_array_equal(restored, np.where(mask == 0, tokens, 0.0))


def test_call_shapes_and_training_masks():
    mae = tiny_mae(mask_ratio=0.75)
    images = random_images(2)
    outputs = mae(images)
    assert tuple(outputs["patches"].shape) == (2, 16, 8 * 8 * 3)
    assert float(keras.ops.sum(outputs["mask"])) == 0.0
    outputs = mae(images, training=True)
    np.testing.assert_array_equal(to_numpy(keras.ops.sum(outputs["mask"], axis=1)), 12)
    assert tuple(mae.reconstruct(images).shape) == (2, 32, 32, 3)


def test_inference_is_deterministic():
    mae = tiny_mae(mask_ratio=0.75)
    images = random_images(2)
    np.testing.assert_array_equal(
        to_numpy(mae(images)["patches"]), to_numpy(mae(images)["patches"])
    )


def test_loss_matches_numpy_on_masked_patches():
    mae = tiny_mae(mask_ratio=0.5)
    images = random_images(2)
    outputs = mae(images, training=True)
    loss = float(mae.compute_loss(x=images, y_pred=outputs))
    target = numpy_patchify(images, 8)
    target = (target - target.mean(-1, keepdims=True)) / np.sqrt(
        target.var(-1, keepdims=True) + 1e-6
    )
    per_patch = ((to_numpy(outputs["patches"]) - target) ** 2).mean(-1)
    mask = to_numpy(outputs["mask"])
    np.testing.assert_allclose(loss, (per_patch * mask).sum() / mask.sum(), rtol=1e-4)


def test_fit_lowers_reconstruction_loss():
    mae = tiny_mae(mask_ratio=0.5)
    # Smooth images (a random 4x4 field upsampled): learnable, unlike white noise.
    coarse = random_images(16, (4, 4, 3))
    images = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    images = images + np.linspace(0, 1, 32, dtype="float32")[None, :, None, None]
    mae.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = mae.evaluate(images, verbose=0)
    mae.fit(images, epochs=15, batch_size=8, verbose=0)
    after = mae.evaluate(images, verbose=0)
    assert after < 0.9 * before


def test_serialization_and_saving(tmp_path):
    mae = tiny_mae()
    run_serialization_test(mae)
    images = random_images(2)
    path = str(tmp_path / "mae.keras")
    mae.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, dreamkeras.MAEAutoencoder)
    np.testing.assert_allclose(
        to_numpy(restored(images)["patches"]), to_numpy(mae(images)["patches"]), atol=1e-6
    )


def test_encoder_is_a_keras_hub_vit():
    import keras_hub

    mae = tiny_mae()
    assert isinstance(mae.encoder, keras_hub.models.ViTBackbone)
    assert mae.encoder.patch_size == (8, 8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(patch_size=5), "must divide"),
        (dict(mask_ratio=1.0), "mask_ratio"),
        (dict(decoder_hidden_dim=18), "multiple of 4"),
        (dict(image_shape=(32, 32)), "image_shape"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_mae(**kwargs)
