"""Tests of the analytical FLOP counter of image models (`dreamkeras.flops`)."""

import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras.flops import count_flops
from dreamkeras.flops import count_train_step_flops
from dreamkeras.utils import profiling

def test_count_flops_matches_hand_computation():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="valid")(x)  # 3x3 out
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(5)(x)
    model = keras.Model(inputs, outputs)
    conv = 2 * (8 * 8 * 4) * (3 * 3 * 3) + 2 * (3 * 3 * 6) * (3 * 3 * 4)
    depthwise = 2 * (3 * 3 * 6) * (3 * 3)
    dense = 2 * 5 * (3 * 3 * 6)
    counted = count_flops(model)
    assert counted["by_kind"] == {"conv": conv + depthwise, "dense": dense}
    assert counted["total"] == conv + depthwise + dense


def test_count_flops_attention():
    tokens = keras.Input((6, 8))
    attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    model = keras.Model(tokens, attention(tokens, tokens))
    counted = count_flops(model)
    # Query, key, value projections 8->2x4 and output 2x4->8, per token.
    projections = 2 * 6 * (4 * 8 * 8)
    # Q K^T and A V: 6x6 scores per head, 4 dims each.
    products = 2 * 6 * 6 * 2 * (4 + 4)
    assert counted["by_kind"] == {"attention": products, "dense": projections}


def test_count_flops_counts_a_shared_encoder_at_every_call():
    vit = dreamkeras.encoders.load_encoder("vit-tiny-32")
    model = dreamkeras.SleepNet(
        vit, num_classes=4, num_blocks=2, width=8, stem="cifar",
        image_shape=(32, 32, 3),
    )
    encoder = count_flops(vit)["by_kind"]
    # 2 layers, 2 heads of 16 dims, 17 tokens (16 patches + class token).
    assert encoder["attention"] == 2 * (2 * 17 * 17 * 2 * (16 + 16))
    # The encoder's attention runs once per connection.
    assert count_flops(model)["by_kind"]["attention"] == 2 * encoder["attention"]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA cost analysis")
def test_count_flops_is_close_to_xla_cost_analysis():
    mae = dreamkeras.encoders.load_autoencoder("mae-tiny-32")
    model = dreamkeras.DreamNet(
        mae, num_classes=4, num_blocks=1, width=8, stem="cifar", image_shape=(32, 32, 3)
    )
    ours = count_flops(model)["total"]
    xla = profiling.xla_flops(model)["forward"]
    assert xla is not None
    assert abs(ours - xla) / xla < 0.1


def test_count_train_step_flops_matches_hand_computation():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, name="trainable")(inputs)
    frozen = keras.layers.Dense(2, name="frozen")
    model = keras.Model(inputs, frozen(hidden))
    frozen.trainable = False
    trainable_forward, frozen_forward = 2 * 4 * 8, 2 * 8 * 2
    step = count_train_step_flops(model)
    assert step["forward"] == trainable_forward + frozen_forward
    # Input and kernel gradients of the trainable layer, input gradient only
    # of the frozen one.
    assert step["backward"] == 2 * trainable_forward + frozen_forward
    assert step["total"] == step["forward"] + step["backward"]
    # Behind a stop_gradient the frozen layer has no backward pass.
    stopped = count_train_step_flops(model, frozen_backward=False)
    assert stopped["backward"] == 2 * trainable_forward


def test_count_train_step_flops_of_attention_and_masking():
    tokens = keras.Input((6, 8))
    attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    model = keras.Model(tokens, attention(tokens, tokens))
    products = 2 * 6 * 6 * 2 * (4 + 4)
    projections = 2 * 6 * (4 * 8 * 8)
    step = count_train_step_flops(model)
    # Both operands of each product get a gradient; each projection an input
    # and a kernel gradient.
    assert step["backward"] == 2 * products + 2 * projections

    # In training, the MAE encoder of a DreamNet sees only unmasked patches.
    mae = dreamkeras.encoders.load_autoencoder("mae-tiny-32")
    dreamnet = dreamkeras.DreamNet(
        mae, num_classes=4, num_blocks=1, width=8, stem="cifar",
        image_shape=(32, 32, 3), mask_ratio=0.75,
    )
    inference = count_flops(dreamnet)["by_kind"]["attention"]
    masked = count_flops(dreamnet, training=True)["by_kind"]["attention"]
    assert masked < inference


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA cost analysis")
def test_count_train_step_flops_is_close_to_xla_cost_analysis():
    vit = dreamkeras.encoders.load_encoder("vit-tiny-32")
    model = dreamkeras.SleepNet(
        vit, num_classes=4, num_blocks=1, width=32, stem="cifar",
        image_shape=(32, 32, 3), mask_ratio=0.5,
    )
    images = np.random.rand(2, 32, 32, 3).astype("float32")
    labels = np.array([0, 3])
    loss = keras.losses.SparseCategoricalCrossentropy()
    xla = profiling.xla_flops(model, images, labels, loss)["train_step"] / 2
    ours = count_train_step_flops(model)["total"]
    assert abs(ours - xla) / xla < 0.1
