import keras
import keras_hub
import numpy as np
import pytest

import dreamkeras
from dreamkeras.xla_cpu import recompute_in_backward
from tests.helpers import assert_some_changed
from tests.helpers import random_images
from tests.helpers import random_labels
from tests.helpers import run_serialization_test
from tests.helpers import snapshot
from tests.helpers import tiny_classifier
from tests.helpers import tiny_mae
from tests.helpers import to_numpy

pytestmark = pytest.mark.layer


class CallsBlock(keras.layers.Layer):
    """Calls `block` directly or through `recompute_in_backward`."""

    def __init__(self, block, remat, **kwargs):
        super().__init__(**kwargs)
        self.block = block
        self.remat = remat

    def build(self, input_shape):
        self.block.build(input_shape)

    def call(self, x):
        return recompute_in_backward(self.block)(x) if self.remat else self.block(x)


def block_model(remat, trainable_block):
    inputs = keras.Input((5, 8))
    x = keras.layers.Dense(8, name="before")(inputs)
    block = keras_hub.layers.TransformerEncoder(
        intermediate_dim=16, num_heads=2, normalize_first=True
    )
    x = CallsBlock(block, remat)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    block.trainable = trainable_block
    model.compile(
        optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy"
    )
    return model


@pytest.mark.parametrize("trainable_block", [False, True])
def test_recompute_in_backward_gives_the_same_step(trainable_block):
    # The wrapped block's own weights (trainable case) and the layer before
    # it (gradient through the block) must get the same updates as without.
    plain = block_model(remat=False, trainable_block=trainable_block)
    recomputed = block_model(remat=True, trainable_block=trainable_block)
    recomputed.set_weights(plain.get_weights())
    x = np.random.default_rng(1).normal(size=(6, 5, 8)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2])
    np.testing.assert_allclose(
        recomputed.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-6
    )
    block = plain.layers[2].block
    before_layer = snapshot(plain.get_layer("before").weights)
    before_block = snapshot(block.weights)
    plain.train_on_batch(x, y)
    recomputed.train_on_batch(x, y)
    for a, b in zip(plain.weights, recomputed.weights):
        np.testing.assert_allclose(to_numpy(b), to_numpy(a), rtol=1e-4, atol=1e-6)
    assert_some_changed(before_layer, plain.get_layer("before").weights)
    block_changed = any(
        not np.array_equal(a, to_numpy(w)) for a, w in zip(before_block, block.weights)
    )
    assert block_changed == trainable_block


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_classifier_remat_gives_the_same_training_step(kind):
    plain = tiny_classifier(kind, num_blocks=1)
    recomputed = tiny_classifier(kind, num_blocks=1, remat=True)
    recomputed.set_weights(plain.get_weights())
    for model in (plain, recomputed):
        model.compile(
            optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy"
        )
    images, labels = random_images(4), random_labels(4)
    prefix = "sleep" if kind == "sleepnet" else "dream"
    adapter_in = plain.get_layer(f"{prefix}_connection_1").adapter_in
    adapter_before = snapshot(adapter_in.weights)
    frozen = plain.encoder if kind == "sleepnet" else plain.autoencoder
    frozen_before = snapshot(frozen.weights)
    plain.train_on_batch(images, labels)
    recomputed.train_on_batch(images, labels)
    for a, b in zip(plain.weights, recomputed.weights):
        np.testing.assert_allclose(to_numpy(b), to_numpy(a), rtol=1e-4, atol=1e-6)
    # The gradient went through the frozen model into adapter_in, and the
    # frozen model itself did not move.
    assert_some_changed(adapter_before, adapter_in.weights)
    for a, w in zip(frozen_before, frozen.weights):
        np.testing.assert_array_equal(a, to_numpy(w))


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_remat_with_masking_trains(kind):
    model = tiny_classifier(kind, num_blocks=1, remat=True, mask_ratio=0.75)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(random_images(8), random_labels(8), batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_remat_is_kept_in_the_config(kind):
    model = tiny_classifier(kind, remat=True)
    revived = run_serialization_test(model)
    assert revived.remat
    prefix = "sleep" if kind == "sleepnet" else "dream"
    assert revived.get_layer(f"{prefix}_connection_1").remat
    assert not tiny_classifier(kind).get_layer(f"{prefix}_connection_1").remat


def compiled_temp_bytes(model, images, labels):
    import jax

    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def loss(trainable, frozen):
        probs, _ = model.stateless_call(trainable, frozen, images, training=True)
        return loss_fn(labels, probs)

    step = jax.jit(jax.grad(loss)).lower(trainable, frozen).compile()
    return step.memory_analysis().temp_size_in_bytes


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA memory analysis")
def test_remat_cuts_the_memory_the_compiled_step_keeps():
    # The reason `recompute_in_backward` exists: under XLA:CPU `jax.checkpoint`
    # alone keeps every activation. A frozen autoencoder whose attention maps
    # dominate the step must leave far fewer bytes alive with remat.
    def model(remat):
        mae = tiny_mae(
            patch_size=4, num_layers=2, hidden_dim=32, mlp_dim=64, num_heads=4,
            decoder_num_layers=2, decoder_hidden_dim=32, decoder_num_heads=4,
            decoder_mlp_dim=64,
        )
        return dreamkeras.DreamNet(
            mae, num_classes=4, num_blocks=1, width=4, stem="cifar",
            image_shape=(32, 32, 3), remat=remat,
        )

    images, labels = random_images(32), random_labels(32)
    with dreamkeras.xla_cpu.kernels():
        plain = compiled_temp_bytes(model(False), images, labels)
        recomputed = compiled_temp_bytes(model(True), images, labels)
    assert recomputed < 0.6 * plain, (plain, recomputed)


def test_sleep_connection_remat_on_an_encoder_that_is_not_a_vit_backbone():
    # Any image-to-tokens Keras model is accepted; it is recomputed whole.
    def model(remat):
        image = keras.Input((32, 32, 3))
        tokens = keras.layers.Conv2D(16, 8, strides=8)(image)
        tokens = keras.layers.Reshape((16, 16))(tokens)
        tokens = keras.layers.Dense(16, activation="gelu")(tokens)
        encoder = keras.Model(image, tokens)
        features = keras.Input((8, 8, 8))
        x = dreamkeras.layers.SleepConnection(encoder, remat=remat)(features)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(3, activation="softmax")(x)
        model = keras.Model(features, outputs)
        model.compile(
            optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy"
        )
        return model

    plain, recomputed = model(False), model(True)
    recomputed.set_weights(plain.get_weights())
    x = np.random.default_rng(2).random((4, 8, 8, 8)).astype("float32")
    y = np.array([0, 1, 2, 1])
    plain.train_on_batch(x, y)
    recomputed.train_on_batch(x, y)
    for a, b in zip(plain.weights, recomputed.weights):
        np.testing.assert_allclose(to_numpy(b), to_numpy(a), rtol=1e-4, atol=1e-6)
