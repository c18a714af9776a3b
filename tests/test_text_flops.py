"""The text FLOP counter against hand counts on small configurations.

Each expected value is written out below from the architecture (2 FLOPs per
multiply-add), independently of the counter's per-layer rules.
"""

import keras_hub
import pytest

from dreamkeras.models import LSTMClassifier
from dreamkeras.models import TextCNNClassifier
from dreamkeras.models import TextDreamNet
from dreamkeras.models import TextSleepNet
from dreamkeras.models import XLNetBackbone
from dreamkeras.models import XLNetMaskedLM
from dreamkeras.flops import count_text_flops
from dreamkeras.flops import count_text_train_step_flops

V, D, LAYERS, HEADS, INNER = 90, 32, 2, 4, 37  # the encoders
T, W, C = 12, 8, 3  # tokens, chain width, classes


def xlnet_encoder():
    # Per layer: q, k, v, o projections; r on 2T relative positions; content
    # scores (T x T), position scores (T x 2T), segment scores (2 codes),
    # values (T x T); the two feedforward layers.
    per_layer = (
        4 * 2 * T * D * D + 2 * (2 * T) * D * D
        + 2 * T * T * D + 2 * T * (2 * T) * D + 2 * T * 2 * D + 2 * T * T * D
        + 2 * 2 * T * D * INNER
    )
    return LAYERS * per_layer


def roberta_encoder():
    per_layer = 4 * 2 * T * D * D + 2 * 2 * T * T * D + 2 * 2 * T * D * INNER
    return LAYERS * per_layer


def lstm(inputs, units=W):
    return 2 * T * 4 * units * (inputs + units)


def xlnet():
    return XLNetBackbone(
        vocabulary_size=V, num_layers=LAYERS, num_heads=HEADS, hidden_dim=D,
        intermediate_dim=INNER,
    )


def roberta():
    return keras_hub.models.RobertaBackbone(
        vocabulary_size=V, num_layers=LAYERS, num_heads=HEADS, hidden_dim=D,
        intermediate_dim=INNER, max_sequence_length=T,
    )


def test_xlnet_sleepnet():
    model = TextSleepNet(xlnet(), C, num_blocks=2, width=W)
    # Block m reads h_{m-1}: the encoder-width embedding, then the chain.
    expected = {"recurrent": 0, "dense": 0, "attention": 0, "straight_through": 0}
    for inputs in (D, W):
        expected["recurrent"] += lstm(inputs)
        expected["dense"] += 2 * T * inputs * V + 2 * T * D * W  # to/from vocab
        expected["straight_through"] += 2 * T * V * D
    encoder = xlnet_encoder()
    scores = LAYERS * (2 * T * T * D + 2 * T * 2 * T * D + 2 * T * 2 * D + 2 * T * T * D)
    expected["attention"] = 2 * scores
    expected["dense"] += 2 * (encoder - scores) + 2 * W * C  # + the head
    flops = count_text_flops(model, T)
    assert flops["by_kind"] == expected
    assert flops["total"] == sum(expected.values())
    assert flops["frozen"] == 2 * encoder


def test_xlnet_dreamnet():
    model = TextDreamNet(XLNetMaskedLM(xlnet()), C, num_blocks=2, width=W)
    expected = 0
    for inputs in (D, W):
        expected += lstm(inputs)
        expected += 2 * T * inputs * V  # to_vocabulary
        expected += 2 * T * V * D  # straight-through into the encoder
        expected += xlnet_encoder()
        expected += 2 * T * D * V  # LM head (tied embedding)
        expected += 2 * T * V * D  # straight-through dream embedding
        expected += 2 * T * D * W  # from_encoder
    expected += lstm(2 * D)  # the dream block reads both dreams
    expected += 2 * W * C
    flops = count_text_flops(model, T)
    assert flops["total"] == expected
    assert flops["by_kind"]["lm_head"] == 2 * 2 * T * D * V


def test_roberta_dreamnet_argmax():
    masked_lm = keras_hub.models.RobertaMaskedLM(roberta())
    model = TextDreamNet(masked_lm, C, num_blocks=1, width=W, token_mode="argmax")
    expected = (
        lstm(D) + 2 * T * D * V + roberta_encoder()
        + 2 * T * D * D + 2 * T * D * V  # masked-LM head: dense, projection
        + 2 * T * D * W + lstm(D) + 2 * W * C
    )
    flops = count_text_flops(model, T)
    assert flops["total"] == expected
    assert "straight_through" not in flops["by_kind"]
    assert flops["by_kind"]["attention"] == LAYERS * 2 * 2 * T * T * D


def test_baselines():
    model = LSTMClassifier(V, C, num_layers=2, width=W, embedding_dim=16)
    assert count_text_flops(model, T)["total"] == lstm(16) + lstm(W) + 2 * W * C
    model = TextCNNClassifier(V, C, embedding_dim=16, filter_sizes=(3, 5), num_filters=6)
    convolutions = sum(2 * T * 6 * size * 16 for size in (3, 5))
    assert count_text_flops(model, T)["total"] == convolutions + 2 * 12 * C


def test_train_step():
    # All kernels trainable: input and kernel gradients double the forward.
    model = LSTMClassifier(V, C, num_layers=2, width=W, embedding_dim=16)
    forward = lstm(16) + lstm(W) + 2 * W * C
    step = count_text_train_step_flops(model, T)
    assert (step["forward"], step["total"]) == (forward, 3 * forward)
    # argmax: no gradient crosses the argmax, so the vocabulary projection
    # and the frozen encoder have no backward pass.
    model = TextSleepNet(xlnet(), C, num_blocks=1, width=W, token_mode="argmax")
    trainable = lstm(D) + 2 * T * D * W + 2 * W * C
    frozen = 2 * T * D * V + xlnet_encoder()
    step = count_text_train_step_flops(model, T)
    assert step["forward"] == trainable + frozen
    assert step["backward"] == 2 * trainable
    # straight-through: the encoder's input gradients are computed.
    model = TextSleepNet(xlnet(), C, num_blocks=1, width=W)
    step = count_text_train_step_flops(model, T)
    scores = LAYERS * (2 * T * T * D + 2 * T * 2 * T * D + 2 * T * 2 * D + 2 * T * T * D)
    straight_through = 2 * T * V * D
    to_vocabulary = 2 * T * D * V
    assert step["backward"] == (
        2 * (trainable + to_vocabulary)
        + (xlnet_encoder() - scores) + 2 * scores + straight_through
    )
    assert count_text_train_step_flops(model, T, frozen_backward=False)["backward"] == (
        2 * (trainable + to_vocabulary) + straight_through
    )


def test_sequence_length_is_required():
    model = LSTMClassifier(V, C)
    with pytest.raises(ValueError, match="sequence length"):
        count_text_flops(model)
