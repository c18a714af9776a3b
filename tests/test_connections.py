import keras
import keras_hub
import numpy as np
import pytest

import dreamkeras
from tests.helpers import assert_bitwise_equal
from tests.helpers import assert_some_changed
from tests.helpers import random_images
from tests.helpers import run_serialization_test
from tests.helpers import snapshot
from tests.helpers import tiny_mae
from tests.helpers import tiny_vit
from tests.helpers import to_numpy

FEATURES = (8, 8, 12)

pytestmark = pytest.mark.layer


def features(n=4, shape=FEATURES, seed=0):
    return random_images(n, shape, seed)


def wrap(connection, shape=FEATURES):
    """A model whose output is `conv(h) + connection(h)`, like a chain block."""
    inputs = keras.Input(shape)
    out = connection(inputs)
    if isinstance(out, (tuple, list)):
        out = out[0]
    chain = keras.layers.Conv2D(out.shape[-1], 3, padding="same", name="chain")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([chain, out]))
    model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def grid_projection_by_hand(vit, connection, x, resize=lambda maps: maps):
    """`adapter_out` of a built tiny-ViT connection in NumPy: the 4x4 token
    grid (class token dropped), its 1x1 projection, `resize`, inference
    batch norm."""
    tokens = to_numpy(vit(connection.adapter_in(x)))[:, 1:]
    grid = tokens.reshape(len(tokens), 4, 4, 16)
    kernel = to_numpy(connection.adapter_out.projection.kernel)[0, 0]
    maps = to_numpy(resize(grid @ kernel))
    norm = connection.adapter_out.norm
    return (maps - to_numpy(norm.moving_mean)) / np.sqrt(
        to_numpy(norm.moving_variance) + norm.epsilon
    ) * to_numpy(norm.gamma) + to_numpy(norm.beta)


@pytest.mark.parametrize("projection", ["grid", "pooled"])
def test_sleep_connection_shapes(projection):
    connection = dreamkeras.SleepConnection(tiny_vit(), projection=projection)
    assert tuple(connection(features()).shape) == (4,) + FEATURES
    resized = dreamkeras.SleepConnection(
        tiny_vit(), projection=projection, output_size=(4, 4), output_channels=20
    )
    assert tuple(resized(features()).shape) == (4, 4, 4, 20)


def test_adapter_in_equals_resize_then_conv():
    connection = dreamkeras.SleepConnection(tiny_vit())
    x = features(2)
    connection(x)
    images = to_numpy(connection.adapter_in(x))
    kernel, bias = (to_numpy(w) for w in connection.adapter_in.projection.weights)
    upsampled = to_numpy(
        keras.ops.image.resize(x, (32, 32), interpolation="bilinear")
    )
    expected = upsampled @ kernel[0, 0] + bias
    np.testing.assert_allclose(images, expected, atol=1e-5)


def test_antialiased_resize_weights_by_hand():
    from dreamkeras.layers.adapters import antialiased_resize_weights

    # 4 -> 2: samples at 0.5 and 2.5, a triangle filter twice as wide.
    expected = np.array([[3, 3, 1, 0], [0, 1, 3, 3]]) / 7
    np.testing.assert_allclose(antialiased_resize_weights(4, 2), expected, atol=1e-7)
    # Enlarging is plain bilinear interpolation (half-pixel centres).
    np.testing.assert_allclose(
        antialiased_resize_weights(2, 4),
        [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]],
        atol=1e-7,
    )


@pytest.mark.parametrize("size", [(4, 4), (2, 3), (1, 1), (12, 3)])
def test_shrinking_resize_equals_antialiased_resize(size):
    from dreamkeras.layers.adapters import resize_map

    # (12, 3): the rows grow (plain bilinear) while the columns shrink.
    x = features(2, (8, 6, 5))
    expected = keras.ops.image.resize(x, size, interpolation="bilinear", antialias=True)
    np.testing.assert_allclose(to_numpy(resize_map(x, size)), to_numpy(expected), atol=1e-5)


def test_adapter_out_shrinks_like_antialiased_resize():
    # The 4x4 token grid shrinks to 2x3 (antialiased along both axes).
    vit = tiny_vit()
    connection = dreamkeras.SleepConnection(
        vit, output_size=(2, 3), output_channels=5
    )
    x = features(2)
    out = to_numpy(connection(x))
    expected = grid_projection_by_hand(
        vit, connection, x,
        resize=lambda maps: keras.ops.image.resize(
            maps, (2, 3), interpolation="bilinear", antialias=True
        ),
    )
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_a_shrinking_adapter_trains_in_a_compiled_step():
    # TensorFlow's antialiased resize kernel has no XLA form: a jit-compiled
    # step with a token grid larger than the chain's map used to fail.
    inputs = keras.Input((2, 2, 12))
    connection = dreamkeras.SleepConnection(tiny_vit())
    pooled = keras.layers.GlobalAveragePooling2D()(connection(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss="mse",
        jit_compile=keras.backend.backend() != "torch",
    )
    loss = model.train_on_batch(features(4, (2, 2, 12)), np.ones((4, 3), "float32"))
    assert np.isfinite(loss)


def test_grid_projection_keeps_each_token_in_place():
    vit = tiny_vit()
    # Output the encoder's own 4x4 grid size, so no resize is involved.
    connection = dreamkeras.SleepConnection(
        vit, output_size=(4, 4), output_channels=5
    )
    x = features(2)
    out = to_numpy(connection(x))
    expected = grid_projection_by_hand(vit, connection, x)
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_pooled_projection_is_mean_then_dense():
    vit = tiny_vit()
    connection = dreamkeras.SleepConnection(vit, projection="pooled")
    x = features(2)
    out = to_numpy(connection(x))
    tokens = to_numpy(vit(connection.adapter_in(x)))[:, 1:]
    kernel, bias = (to_numpy(w) for w in connection.adapter_out.dense.weights)
    expected = (tokens.mean(axis=1) @ kernel + bias).reshape((2,) + FEATURES)
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_dream_connection_returns_features_and_dream():
    mae = tiny_mae()
    connection = dreamkeras.DreamConnection(mae)
    x = features(2)
    feats, dream = connection(x)
    assert tuple(feats.shape) == (2,) + FEATURES
    assert tuple(dream.shape) == (2, 32, 32, 3)
    expected = mae.reconstruct(connection.adapter_in(x))
    np.testing.assert_allclose(to_numpy(dream), to_numpy(expected), atol=1e-5)


def test_sleep_connection_masks_only_in_training():
    connection = dreamkeras.SleepConnection(tiny_vit(), mask_ratio=0.75, seed=3)
    x = features(2)
    first = to_numpy(connection(x))
    np.testing.assert_array_equal(first, to_numpy(connection(x)))
    masked = to_numpy(connection(x, training=True))
    assert masked.shape == first.shape
    assert not np.allclose(first, masked)


def test_restore_token_order_puts_tokens_back_with_zeros():
    from dreamkeras.layers.vit_encoding import random_masking
    from dreamkeras.layers.vit_encoding import restore_token_order

    tokens = np.random.default_rng(0).random((2, 16, 3)).astype("float32") + 1
    kept, ids_restore, mask = random_masking(
        keras.ops.convert_to_tensor(tokens), 0.75, keras.random.SeedGenerator(0)
    )
    restored = to_numpy(restore_token_order(kept, ids_restore))
    mask = to_numpy(mask)
    expected = np.where(mask[..., None] == 1, 0.0, tokens)
    np.testing.assert_allclose(restored, expected)


def test_dream_connection_masks_only_in_training():
    connection = dreamkeras.DreamConnection(tiny_mae(), mask_ratio=0.75)
    x = features(2)
    first = to_numpy(connection(x)[1])
    np.testing.assert_array_equal(first, to_numpy(connection(x)[1]))
    masked = to_numpy(connection(x, training=True)[1])
    assert not np.allclose(first, masked)


@pytest.mark.parametrize("kind", ["sleep", "dream"])
def test_fit_trains_adapters_not_the_frozen_model(kind):
    if kind == "sleep":
        frozen = tiny_vit()
        connection = dreamkeras.SleepConnection(frozen)
    else:
        frozen = tiny_mae()
        connection = dreamkeras.DreamConnection(frozen)
    model = wrap(connection)
    assert not frozen.trainable_weights
    frozen_ids = {id(v) for v in frozen.weights}
    assert not frozen_ids & {id(v) for v in model.trainable_weights}
    frozen_before = snapshot(frozen.weights)
    adapter_in_before = snapshot(connection.adapter_in.weights)
    adapter_out_before = snapshot(connection.adapter_out.trainable_weights)
    model.fit(features(8), np.ones((8, 3)), epochs=2, batch_size=4, verbose=0)
    assert_bitwise_equal(frozen_before, frozen.weights)
    # adapter_in only learns if gradients flow back through the frozen model.
    assert_some_changed(adapter_in_before, connection.adapter_in.weights)
    assert_some_changed(adapter_out_before, connection.adapter_out.trainable_weights)


def test_stop_gradient_leaves_adapter_in_untouched():
    connection = dreamkeras.SleepConnection(tiny_vit(), stop_gradient=True)
    model = wrap(connection)
    adapter_in_before = snapshot(connection.adapter_in.weights)
    adapter_out_before = snapshot(connection.adapter_out.trainable_weights)
    model.fit(features(8), np.ones((8, 3)), epochs=2, batch_size=4, verbose=0)
    assert_bitwise_equal(adapter_in_before, connection.adapter_in.weights)
    assert_some_changed(adapter_out_before, connection.adapter_out.trainable_weights)


def test_unfreeze_switch_trains_the_encoder():
    vit = tiny_vit()
    connection = dreamkeras.SleepConnection(vit, trainable_encoder=True)
    model = wrap(connection)
    assert len(vit.trainable_weights) == len(vit.weights)
    before = snapshot(vit.weights)
    model.fit(features(8), np.ones((8, 3)), epochs=2, batch_size=4, verbose=0)
    assert_some_changed(before, vit.weights)


def test_encoder_rebuilt_from_config_is_still_frozen():
    vit = tiny_vit()
    vit.trainable = False
    # KerasHub's pitfall: this rebuilt backbone says trainable=False but is not.
    rebuilt = keras_hub.models.ViTBackbone.from_config(vit.get_config())
    connection = dreamkeras.SleepConnection(rebuilt)
    model = wrap(connection)
    assert not rebuilt.trainable_weights
    before = snapshot(rebuilt.weights)
    model.fit(features(8), np.ones((8, 3)), epochs=1, batch_size=4, verbose=0)
    assert_bitwise_equal(before, rebuilt.weights)


@pytest.mark.parametrize("cls", ["sleep", "dream"])
def test_serialization(cls):
    if cls == "sleep":
        connection = dreamkeras.SleepConnection(
            tiny_vit(), projection="pooled", output_channels=6
        )
    else:
        connection = dreamkeras.DreamConnection(tiny_mae(), mask_ratio=0.5)
    revived = run_serialization_test(connection)
    out = revived(features(2))
    assert isinstance(revived, type(connection))
    first = out[0] if isinstance(out, tuple) else out
    assert first.shape[-1] == (6 if cls == "sleep" else FEATURES[-1])
    frozen = revived.encoder if cls == "sleep" else revived.autoencoder
    assert not frozen.trainable_weights


def test_one_encoder_shared_by_two_connections():
    vit = tiny_vit()
    inputs = keras.Input(FEATURES)
    x = keras.layers.Add()([inputs, dreamkeras.SleepConnection(vit)(inputs)])
    x = keras.layers.Add()([x, dreamkeras.SleepConnection(vit)(x)])
    model = keras.Model(inputs, x)
    vit_ids = {id(v) for v in vit.weights}
    model_ids = [id(v) for v in model.weights if id(v) in vit_ids]
    assert len(model_ids) == len(vit_ids) == len(set(model_ids))


class NotAnImageEncoder(keras.layers.Layer):
    def call(self, x):
        return x


@pytest.mark.parametrize(
    "make_connection, inputs, message",
    [
        (lambda: dreamkeras.SleepConnection(tiny_vit()), (8, 12), "rank 3"),
        (lambda: dreamkeras.SleepConnection(tiny_vit()), (1, 1, 12), "1x1 feature map"),
        (lambda: dreamkeras.SleepConnection(tiny_vit()), (None, None, 12), "fixed spatial"),
        (lambda: dreamkeras.SleepConnection(tiny_mae()), FEATURES, "encoder half"),
        (
            lambda: dreamkeras.SleepConnection(keras.layers.Dense(4)),
            FEATURES,
            "image backbone",
        ),
        (
            lambda: dreamkeras.SleepConnection(NotAnImageEncoder()),
            FEATURES,
            "image backbone",
        ),
        (lambda: dreamkeras.DreamConnection(tiny_vit()), FEATURES, "MAEAutoencoder"),
        (
            lambda: dreamkeras.SleepConnection(tiny_vit(), projection="mean"),
            FEATURES,
            "projection",
        ),
    ],
)
def test_bad_input_is_a_clear_error(make_connection, inputs, message):
    with pytest.raises(ValueError, match=message):
        connection = make_connection()
        connection(keras.Input(inputs))


def test_text_backbone_is_rejected():
    roberta = keras_hub.models.RobertaBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8,
    )
    with pytest.raises(ValueError, match="image backbone"):
        dreamkeras.SleepConnection(roberta)


def test_residual_block_strided_shortcut_matches_a_strided_1x1_convolution():
    # The shortcut subsamples, then convolves (TF's oneDNN strided 1x1
    # convolution crashes in its backward pass on some CPUs); it must equal
    # Keras' strided 1x1 convolution, also on odd sizes.
    images = np.random.default_rng(3).random((2, 9, 9, 4)).astype("float32")
    block = dreamkeras.layers.ResidualBlock(8, strides=2)
    out = block(images)
    assert tuple(out.shape) == (2, 5, 5, 8) == block.compute_output_shape((2, 9, 9, 4))
    reference = keras.layers.Conv2D(8, 1, strides=2, padding="same", use_bias=False)
    reference.build((2, 9, 9, 4))
    reference.kernel.assign(block.shortcut.kernel)
    np.testing.assert_allclose(
        to_numpy(block.shortcut(images[:, ::2, ::2, :])),
        to_numpy(reference(images)),
        atol=1e-6,
    )
    # Gradients reach the shortcut kernel.
    model = keras.Sequential([keras.Input((9, 9, 4)), block, keras.layers.GlobalAveragePooling2D()])
    model.compile(optimizer="sgd", loss="mse")
    before = to_numpy(block.shortcut.kernel).copy()
    model.fit(images, np.ones((2, 8), "float32"), epochs=1, verbose=0)
    assert not np.allclose(before, to_numpy(block.shortcut.kernel))
