"""Every public dreamkeras layer through the common harness (`tests/test_case.py`)."""

import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras import xla_cpu
from tests.helpers import tiny_mae
from tests.helpers import tiny_roberta
from tests.helpers import tiny_vit
from tests.test_case import run_layer_test

pytestmark = pytest.mark.layer
RNG = np.random.default_rng(0)


def features(*shape):
    return RNG.random(shape).astype("float32")


def text_inputs(width=6):
    mask = np.ones((2, 6), "int32")
    mask[1, 4:] = 0
    return features(2, 6, width), mask


def frozen_of(name):
    return lambda layer: getattr(layer, name).weights


# name -> (make_layer, inputs, trainable, frozen, frozen_weights)
LAYERS = {
    "FeatureToImage": (
        lambda: dreamkeras.layers.FeatureToImage((16, 16)), features(2, 4, 4, 5), 2, 0,
        None,
    ),
    "TokenGridToFeature": (
        lambda: dreamkeras.layers.TokenGridToFeature((4, 4), 6), features(2, 2, 2, 8),
        3, 2, None,
    ),
    "PooledTokensToFeature": (
        lambda: dreamkeras.layers.PooledTokensToFeature((2, 2), 3), features(2, 2, 2, 8),
        2, 0, None,
    ),
    "ResidualBlock": (
        lambda: dreamkeras.layers.ResidualBlock(6, strides=2), features(2, 4, 4, 3),
        9, 6, None,
    ),
    "DreamBlock": (
        lambda: dreamkeras.layers.DreamBlock((2, 2), 5, width=4),
        ([features(2, 8, 8, 3), features(2, 8, 8, 3)],), 12, 8, None,
    ),
    "ResampleSequence": (
        lambda: dreamkeras.layers.ResampleSequence(3), features(2, 6, 4), 0, 0, None,
    ),
    "TextDreamBlock": (
        lambda: dreamkeras.layers.TextDreamBlock(3, 5, width=4),
        ([features(2, 6, 4)],), 7, 0, None,
    ),
    "LSTMBlock": (lambda: dreamkeras.layers.LSTMBlock(4), text_inputs(), 5, 0, None),
    "TextCNNBlock": (
        lambda: dreamkeras.layers.TextCNNBlock(3), text_inputs(), 6, 0, None,
    ),
    "CharCNNBlock": (
        lambda: dreamkeras.layers.CharCNNBlock(4, kernel_sizes=(3, 3), pool_size=2),
        text_inputs(), 4, 0, None,
    ),
    "SleepConnection": (
        # ViT: patch conv 2, class token, positions, 2 x 16 per block, norm 2.
        lambda: dreamkeras.SleepConnection(tiny_vit()), features(2, 4, 4, 5), 5, 2 + 38,
        frozen_of("encoder"),
    ),
    "DreamConnection": (
        # MAE: the ViT's 38 and the decoder's 24 (mask token, positions ...).
        lambda: dreamkeras.DreamConnection(tiny_mae()), features(2, 4, 4, 5), 5, 2 + 62,
        frozen_of("autoencoder"),
    ),
    "TextSleepConnection": (
        lambda: dreamkeras.layers.TextSleepConnection(tiny_roberta(), output_dim=6),
        text_inputs(), 6, 20, frozen_of("backbone"),
    ),
    "TextDreamConnection": (
        lambda: dreamkeras.layers.TextDreamConnection(
            tiny_roberta(masked_lm=True), output_dim=6
        ),
        text_inputs(), 6, 25, frozen_of("masked_lm"),
    ),
    "MAEDecoder": (
        lambda: dreamkeras.models.MAEDecoder(
            grid_size=(2, 2), patch_size=(4, 4), num_channels=3, num_layers=1,
            num_heads=2, hidden_dim=8, mlp_dim=16,
        ),
        # embed 2, mask token, one block 16, norm 2, head 2; fixed positions.
        features(2, 5, 12), 23, 1, None,
    ),
    "FlatBatchNormalization": (
        lambda: xla_cpu.FlatBatchNormalization(), features(2, 3, 3, 4), 2, 2, None,
    ),
    "SeparableMaxPooling2D": (
        lambda: xla_cpu.SeparableMaxPooling2D(3, strides=2, padding="same"),
        features(2, 6, 6, 3), 0, 0, None,
    ),
    "MatmulConv2D": (
        lambda: xla_cpu.MatmulConv2D(4, 3, padding="same"), features(2, 2, 2, 3), 2, 0,
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_public_layer(name):
    make_layer, inputs, trainable, frozen, frozen_weights = LAYERS[name]
    run_layer_test(
        make_layer, inputs, trainable, frozen, frozen_weights=frozen_weights
    )


def test_every_public_layer_is_covered():
    public = {
        name
        for module in (dreamkeras.layers, xla_cpu)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, keras.layers.Layer)
    }
    public.add("MAEDecoder")
    assert public <= set(LAYERS), sorted(public - set(LAYERS))
