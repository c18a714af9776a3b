"""TextCNN and CharCNN chains of TextSleepNet / TextDreamNet, the CharCNN
baseline and the character encoder, on a tiny random RoBERTa."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import dreamkeras
from dreamkeras.layers import CharacterEncoder
from dreamkeras.layers import CharCNNBlock
from dreamkeras.layers import TextCNNBlock
from dreamkeras.models import CharCNNClassifier
from dreamkeras.models import TextDreamNet
from dreamkeras.models import TextSleepNet
from tests.helpers import check_reload
from tests.helpers import run_serialization_test
from tests.helpers import snapshot

VOCABULARY = 40
LENGTH = 30  # the CharCNN chain reads 10 positions after its stem
NUM_CLASSES = 3


def tiny_masked_lm():
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=VOCABULARY, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    )
    return keras_hub.models.RobertaMaskedLM(backbone=backbone, preprocessor=None)


def text_batch(n=4, length=LENGTH, vocabulary=VOCABULARY):
    rng = np.random.default_rng(0)
    token_ids = rng.integers(3, vocabulary, (n, length)).astype("int32")
    padding_mask = np.ones((n, length), "int32")
    padding_mask[0, 20:] = 0
    token_ids[0, 20:] = 1
    return {"token_ids": token_ids, "padding_mask": padding_mask}


def build(kind, chain, num_blocks=2, **kwargs):
    masked_lm = tiny_masked_lm()
    kwargs.setdefault("width", 4)
    if kind == "sleep":
        return TextSleepNet(
            masked_lm.backbone, NUM_CLASSES, num_blocks=num_blocks, chain=chain, **kwargs
        )
    return TextDreamNet(masked_lm, NUM_CLASSES, num_blocks=num_blocks, chain=chain, **kwargs)


# --- Character encoder ----------------------------------------------------


def test_character_encoder_matches_a_hand_encoding():
    encoder = CharacterEncoder(sequence_length=8)
    assert encoder.vocabulary_size == 71  # the paper's 69 characters + 2
    # "a" is 2, "z" 27, "0" 28, "-" 38, "!" 42, "\n" 70; space and "é" are
    # unknown (1); padding is 0; upper case is lowered.
    expected_ids = np.array(
        [
            [2, 3, 4, 1, 27, 42, 0, 0],  # "abc Z!"
            [28, 38, 1, 70, 2, 2, 2, 2],  # "0-é\naaaaaa" (cut at 8)
            [0, 0, 0, 0, 0, 0, 0, 0],  # ""
        ],
        "int32",
    )
    expected_mask = (np.arange(8) < np.array([[6], [8], [0]])).astype("int32")
    texts = ["abc Z!", "0-é\naaaaaa", ""]
    outputs = encoder(texts)
    np.testing.assert_array_equal(outputs["token_ids"].numpy(), expected_ids)
    np.testing.assert_array_equal(outputs["padding_mask"].numpy(), expected_mask)
    assert outputs["token_ids"].dtype == tf.int32
    # In tf.data, one text at a time or batched.
    single = tf.data.Dataset.from_tensor_slices(texts).map(encoder).batch(3)
    batched = tf.data.Dataset.from_tensor_slices(texts).batch(3).map(encoder)
    for dataset in (single, batched):
        (element,) = list(dataset)
        np.testing.assert_array_equal(element["token_ids"].numpy(), expected_ids)
        np.testing.assert_array_equal(element["padding_mask"].numpy(), expected_mask)
    assert CharacterEncoder(8, lowercase=False)("Z")["token_ids"].numpy()[0] == 1
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(encoder)
    )
    assert clone.get_config() == encoder.get_config()


def test_character_encoder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="sequence_length"):
        CharacterEncoder(sequence_length=0)
    with pytest.raises(ValueError, match="must not repeat"):
        CharacterEncoder(alphabet="abca")


# --- Blocks ---------------------------------------------------------------


@pytest.mark.layer
@pytest.mark.parametrize(
    "block,features,pool",
    [
        (lambda: TextCNNBlock(3, filter_sizes=(3, 5)), 6, 1),
        (lambda: CharCNNBlock(5, kernel_sizes=(7, 3), pool_size=3), 5, 3),
    ],
)
def test_conv_blocks_ignore_padding(block, features, pool):
    layer = block()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 12, 4)).astype("float32")
    mask = np.ones((2, 12), "int32")
    mask[1, 6:] = 0
    out = keras.ops.convert_to_numpy(layer(x, padding_mask=mask))
    assert out.shape == (2, 12 // pool, features)
    # The real part of a padded sequence gives what the sequence alone gives,
    # whatever the padded positions hold.
    alone = keras.ops.convert_to_numpy(
        layer(x[1:, :6], padding_mask=np.ones((1, 6), "int32"))
    )
    np.testing.assert_allclose(out[1, : 6 // pool], alone[0], atol=1e-5)
    assert np.all(out[1, 6 // pool :] == 0)
    run_serialization_test(layer)


def test_conv_blocks_reject_bad_arguments():
    with pytest.raises(ValueError, match="distinct"):
        TextCNNBlock(4, filter_sizes=(3, 3))
    with pytest.raises(ValueError, match="num_filters"):
        TextCNNBlock(0)
    with pytest.raises(ValueError, match="kernel_sizes"):
        CharCNNBlock(4, kernel_sizes=())


# --- CharCNN baseline -----------------------------------------------------


def test_charcnn_classifier_follows_the_paper():
    model = CharCNNClassifier(num_classes=4)  # small, 1014 characters
    convs = [model.get_layer(f"conv_{i}") for i in range(1, 7)]
    assert [conv.kernel_size[0] for conv in convs] == [7, 7, 3, 3, 3, 3]
    assert all(conv.filters == 256 for conv in convs)
    assert tuple(model.get_layer("flatten").output.shape) == (None, 34 * 256)
    assert [model.get_layer(f"dense_{j}").units for j in (1, 2)] == [1024, 1024]
    assert [model.get_layer(f"dropout_{j}").rate for j in (1, 2)] == [0.5, 0.5]
    assert tuple(model.input["token_ids"].shape) == (None, 1014)
    # One-hot characters: padding and unknown ids are zero vectors.
    assert model.get_layer("conv_1").kernel.shape == (7, 69, 256)
    large = CharCNNClassifier(num_classes=4, size="large", sequence_length=200)
    assert large.get_layer("conv_1").filters == 1024
    assert large.get_layer("dense_1").units == 2048


@pytest.mark.saving
def test_charcnn_classifier_trains_and_reloads(tmp_path):
    encoder = CharacterEncoder(sequence_length=130)
    model = CharCNNClassifier(
        NUM_CLASSES, sequence_length=130, num_filters=8, dense_dim=16, dropout=0.0
    )
    x = {k: v.numpy() for k, v in encoder(["a cat sat", "stock rose!", "x" * 200]).items()}
    y = np.array([0, 1, 2])
    probs = model.predict(x, verbose=0)
    assert probs.shape == (3, NUM_CLASSES)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    # Padded characters and unknown ones are the same (zero) vector.
    noisy = dict(x, token_ids=np.where(x["padding_mask"] == 1, x["token_ids"], 1))
    np.testing.assert_allclose(model.predict(noisy, verbose=0), probs, atol=1e-6)
    before = snapshot(model.trainable_weights)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    assert all(
        not np.array_equal(a, keras.ops.convert_to_numpy(b))
        for a, b in zip(before, model.trainable_weights)
    )
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "charcnn.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is CharCNNClassifier
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-5)
    run_serialization_test(model)


def test_charcnn_classifier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least 123"):
        CharCNNClassifier(4, sequence_length=100)
    CharCNNClassifier(4, sequence_length=27, padding="same", num_filters=4, dense_dim=4)
    with pytest.raises(ValueError, match="size"):
        CharCNNClassifier(4, size="medium")
    with pytest.raises(ValueError, match="padding"):
        CharCNNClassifier(4, padding="causal")
    with pytest.raises(ValueError, match="num_classes"):
        CharCNNClassifier(1)


# --- TextCNN and CharCNN chains -------------------------------------------


@pytest.mark.parametrize("kind", ["sleep", "dream"])
@pytest.mark.parametrize("chain", ["textcnn", "charcnn"])
def test_chain_shapes_and_wiring(kind, chain):
    model = build(kind, chain, num_blocks=2)
    x = text_batch()
    probs = model.predict(x, verbose=0)
    assert probs.shape == (4, NUM_CLASSES)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    block_type = TextCNNBlock if chain == "textcnn" else CharCNNBlock
    connection_type = {
        "sleep": dreamkeras.layers.TextSleepConnection,
        "dream": dreamkeras.layers.TextDreamConnection,
    }[kind]
    connections = [layer for layer in model.layers if isinstance(layer, connection_type)]
    assert [c.name for c in connections] == [f"{kind}_connection_{m}" for m in (1, 2)]
    for m, connection in enumerate(connections):
        stage = model.get_layer(f"block_{m + 1}")
        assert isinstance(stage, block_type)
        assert connection.output_dim == stage.compute_output_shape((None, 8, 16))[-1]
    # Each connection reads the sequence its stage reads: for the CharCNN
    # the stem's output (a third of the input), then a ninth.
    lengths = [LENGTH, LENGTH] if chain == "textcnn" else [LENGTH // 3, LENGTH // 9]
    if kind == "dream":
        assert isinstance(model.get_layer("dream_block"), block_type)
        dreams = model.dream_model().predict(x, verbose=0)
        assert [d.shape for d in dreams] == [(4, n) for n in lengths]
    # Changing padded token ids changes nothing; changing a real one does.
    noisy = dict(x, token_ids=np.where(x["padding_mask"] == 1, x["token_ids"], 7))
    np.testing.assert_allclose(model.predict(noisy, verbose=0), probs, atol=1e-5)
    changed = dict(x, token_ids=x["token_ids"].copy())
    changed["token_ids"][:, :3] = (changed["token_ids"][:, :3] + 5) % VOCABULARY
    assert not np.allclose(model.predict(changed, verbose=0), probs)


@pytest.mark.parametrize(
    "kind,chain", [("sleep", "textcnn"), ("dream", "charcnn")]
)
def test_chain_gradients_reach_trainable_weights_only(kind, chain):
    model = build(kind, chain, num_blocks=2)
    frozen = model.backbone if kind == "sleep" else model.masked_lm
    frozen_ids = {id(w) for w in frozen.weights}
    assert frozen_ids and not frozen_ids & {id(w) for w in model.trainable_weights}
    x, y = text_batch(), np.array([0, 1, 2, 1])
    trainable_before = snapshot(model.trainable_weights)
    frozen_before = snapshot(frozen.weights)
    count = len(model.trainable_weights)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    for a, b in zip(frozen_before, frozen.weights):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
    assert len(model.trainable_weights) == count
    unchanged = [
        w.path
        for a, w in zip(trainable_before, model.trainable_weights)
        if np.array_equal(a, keras.ops.convert_to_numpy(w))
    ]
    assert not unchanged  # every trainable weight got a gradient


@pytest.mark.saving
@pytest.mark.parametrize(
    "kind,chain",
    [
        ("sleep", "textcnn"),
        ("sleep", "charcnn"),
        pytest.param("dream", "charcnn", marks=pytest.mark.large),
    ],
)
def test_chain_save_load_round_trip(kind, chain, tmp_path):
    model = build(kind, chain, num_blocks=2 if chain == "textcnn" else 3)
    x = text_batch()

    def same_dreams(model, restored):
        assert type(restored) is type(model) and restored.chain == chain
        if kind == "dream":
            for a, b in zip(
                model.dream_model().predict(x, verbose=0),
                restored.dream_model().predict(x, verbose=0),
            ):
                np.testing.assert_array_equal(a, b)

    check_reload(
        model, x, np.array([0, 1, 2, 0]), str(tmp_path / "model.keras"),
        check_restored=same_dreams,
    )


@pytest.mark.parametrize("kind", ["sleep", "dream"])
def test_chain_config_round_trip(kind):
    model = build(kind, "charcnn" if kind == "sleep" else "textcnn", num_blocks=1)
    revived = run_serialization_test(model)
    assert revived.chain == model.chain
    assert len(revived.weights) == len(model.weights)
    assert len(revived.trainable_weights) == len(model.trainable_weights)


def test_character_level_chain():
    encoder = CharacterEncoder(sequence_length=LENGTH)
    model = build(
        "sleep", "charcnn", vocabulary_size=encoder.vocabulary_size,
        embedding="random", embedding_dim=6, tokenizer=encoder,
    )
    assert model.get_layer("token_embedding").input_dim == encoder.vocabulary_size
    x = {k: v.numpy() for k, v in encoder(["a cat sat on the mat", "hi"]).items()}
    assert model.predict(x, verbose=0).shape == (2, NUM_CLASSES)
    assert model.get_config()["vocabulary_size"] == encoder.vocabulary_size


def test_chain_argument_errors():
    masked_lm = tiny_masked_lm()
    backbone = masked_lm.backbone
    with pytest.raises(ValueError, match="`chain` must be one of"):
        TextSleepNet(backbone, 2, chain="gru")
    with pytest.raises(ValueError, match="charcnn chain has 3 stages"):
        TextSleepNet(backbone, 2, num_blocks=4, chain="charcnn")
    with pytest.raises(ValueError, match="block_depth.*chain='lstm' only"):
        TextDreamNet(masked_lm, 2, chain="textcnn", block_depth=2)
    with pytest.raises(ValueError, match="use `embedding='random'`"):
        TextSleepNet(backbone, 2, chain="charcnn", vocabulary_size=71)
    with pytest.raises(ValueError, match="does not match vocabulary_size=50"):
        TextSleepNet(
            backbone, 2, chain="charcnn", vocabulary_size=50, embedding="random",
            tokenizer=CharacterEncoder(),
        )
    with pytest.raises(ValueError) as info:  # one line, naming what was received
        TextSleepNet(backbone, 2, chain="gru")
    assert str(info.value) == (
        "`chain` must be one of ('lstm', 'textcnn', 'charcnn'). Received: chain='gru'."
    )
