"""Text connections and text classifiers on a tiny random RoBERTa.

The RoBERTa is saved as a local KerasHub preset folder and loaded back with
`from_preset`, as a downloaded one would be.
"""

import json
import os
import warnings
import zipfile

import h5py
import keras
import keras_hub
import numpy as np
import pytest

import dreamkeras
from tests.helpers import config_json
from dreamkeras.layers import LSTMBlock
from dreamkeras.layers import TextDreamConnection
from dreamkeras.layers import TextSleepConnection
from dreamkeras.layers import describe_text_encoder
from dreamkeras.models import LSTMClassifier
from dreamkeras.models import TextCNNClassifier
from dreamkeras.models import TextDreamNet
from dreamkeras.models import TextSleepNet
from dreamkeras.text.presets import save_random_preset as save_tiny_preset
from dreamkeras.text.presets import random_roberta as tiny_roberta

WORDS = (
    "the cat sat on mat a dog ran in park stock market rose fell news "
    "team won game rain fell today"
).split()
TEXTS = [
    "the cat sat on the mat",
    "stock market rose today",
    "the team won the game in the rain and the dog ran in the park",
    "",
]
SEQ = 12
WIDTH = 8
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tiny_roberta"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer, masked_lm = tiny_roberta(WORDS, max_sequence_length=16, seed=3)
    return save_tiny_preset(directory, tokenizer, masked_lm)


def load(preset):
    """A fresh tokenizer, masked LM and preprocessor from the preset folder."""
    masked_lm = keras_hub.models.RobertaMaskedLM.from_preset(preset, preprocessor=None)
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor.from_preset(
        preset, sequence_length=SEQ
    )
    return preprocessor.tokenizer, masked_lm, preprocessor


def batch(preprocessor, texts=TEXTS):
    x = preprocessor(texts)
    return {k: keras.ops.convert_to_numpy(v).astype("int32") for k, v in x.items()}


def assert_weights_equal(before, after):
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def values(weights):
    return [keras.ops.convert_to_numpy(w).copy() for w in weights]


def build(kind, masked_lm, **kwargs):
    kwargs.setdefault("num_blocks", 2)
    kwargs.setdefault("width", WIDTH)
    if kind == "sleep":
        return TextSleepNet(masked_lm.backbone, NUM_CLASSES, **kwargs)
    return TextDreamNet(masked_lm, NUM_CLASSES, **kwargs)


def vocabulary_kernel_gradient(layer, hidden, mask, random_projection):
    """d/dW of sum(output * R) for the layer's `to_vocabulary` kernel.

    Returns a numpy array, or None where the backend reports no gradient.
    """
    variable = layer.to_vocabulary.kernel
    backend = keras.backend.backend()

    def loss_of(outputs):
        features = outputs[0] if isinstance(outputs, tuple) else outputs
        return keras.ops.sum(features * keras.ops.convert_to_tensor(random_projection))

    if backend == "jax":
        import jax

        def f(value):
            with keras.StatelessScope(state_mapping=[(variable, value)]):
                return loss_of(layer(hidden, padding_mask=mask))

        return np.asarray(jax.grad(f)(variable.value))
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(variable.value)
            loss = loss_of(layer(hidden, padding_mask=mask))
        grad = tape.gradient(loss, variable.value)
        return None if grad is None else grad.numpy()
    import torch

    value = variable.value
    requires_grad = value.requires_grad
    value.requires_grad_(True)
    try:
        loss = loss_of(layer(hidden, padding_mask=mask))
        (grad,) = torch.autograd.grad(loss, [value], allow_unused=True)
    finally:
        value.requires_grad_(requires_grad)
    return None if grad is None else grad.detach().cpu().numpy()


# --- Connections ----------------------------------------------------------


@pytest.mark.layer
@pytest.mark.parametrize("token_mode", ["straight_through", "argmax"])
def test_connection_shapes_and_padding(preset, token_mode):
    _, masked_lm, preprocessor = load(preset)
    x = batch(preprocessor)
    mask = x["padding_mask"]
    hidden = np.random.default_rng(0).normal(size=(4, SEQ, 6)).astype("float32")

    sleep = TextSleepConnection(masked_lm.backbone, token_mode=token_mode, output_dim=5)
    out = keras.ops.convert_to_numpy(sleep(hidden, padding_mask=mask))
    assert out.shape == (4, SEQ, 5)
    assert np.all(out[mask == 0] == 0)
    assert np.all(np.abs(out[mask == 1]).sum(-1) > 0)

    dream = TextDreamConnection(masked_lm, token_mode=token_mode)
    features, dreamed = dream(hidden, padding_mask=mask)
    features = keras.ops.convert_to_numpy(features)
    ids = keras.ops.convert_to_numpy(dreamed["token_ids"])
    embedded = keras.ops.convert_to_numpy(dreamed["embeddings"])
    assert features.shape == (4, SEQ, 6)
    assert ids.shape == (4, SEQ) and ids.dtype == np.int32
    assert embedded.shape == (4, SEQ, masked_lm.backbone.hidden_dim)
    assert np.all(features[mask == 0] == 0) and np.all(embedded[mask == 0] == 0)
    vocabulary = masked_lm.backbone.vocabulary_size
    assert ids.min() >= 0 and ids.max() < vocabulary
    # The dream embeddings are the encoder's token embeddings of the dream ids.
    table = keras.ops.convert_to_numpy(masked_lm.backbone.token_embedding.embeddings)
    np.testing.assert_allclose(embedded[mask == 1], table[ids[mask == 1]], atol=1e-6)

    # Symbolic call gives the same structure and dtypes.
    symbolic = dream(
        keras.KerasTensor((None, SEQ, 6)),
        padding_mask=keras.KerasTensor((None, SEQ), dtype="int32"),
    )
    assert symbolic[0].shape == (None, SEQ, 6)
    assert symbolic[1]["token_ids"].dtype == "int32"


def test_straight_through_forward_is_the_argmax_forward(preset):
    """Straight-through changes gradients only: same outputs as argmax mode."""
    _, masked_lm, preprocessor = load(preset)
    mask = batch(preprocessor)["padding_mask"]
    hidden = np.random.default_rng(1).normal(size=(4, SEQ, 6)).astype("float32")
    for cls, frozen in ((TextSleepConnection, masked_lm.backbone), (TextDreamConnection, masked_lm)):
        straight = cls(frozen, token_mode="straight_through")
        paper = cls(frozen, token_mode="argmax")
        out_straight = straight(hidden, padding_mask=mask)
        paper(hidden, padding_mask=mask)
        for name in ("to_vocabulary", "from_encoder", "from_encoder_norm"):
            getattr(paper, name).set_weights(getattr(straight, name).get_weights())
        out_paper = paper(hidden, padding_mask=mask)
        if isinstance(out_straight, tuple):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(out_straight[1]["token_ids"]),
                keras.ops.convert_to_numpy(out_paper[1]["token_ids"]),
            )
            out_straight, out_paper = out_straight[0], out_paper[0]
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(out_straight),
            keras.ops.convert_to_numpy(out_paper),
            atol=1e-5,
        )


@pytest.mark.layer
@pytest.mark.parametrize("cls_name", ["sleep", "dream"])
def test_gradient_modes(preset, cls_name):
    _, masked_lm, preprocessor = load(preset)
    mask = batch(preprocessor)["padding_mask"]
    rng = np.random.default_rng(2)
    hidden = rng.normal(size=(4, SEQ, 6)).astype("float32")
    projection = rng.normal(size=(4, SEQ, 6)).astype("float32")
    frozen = masked_lm.backbone if cls_name == "sleep" else masked_lm
    cls = TextSleepConnection if cls_name == "sleep" else TextDreamConnection

    paper = cls(frozen, token_mode="argmax")
    paper(hidden, padding_mask=mask)
    # argmax has no gradient: the projection is not trained at all.
    assert not paper.to_vocabulary.trainable
    assert all(w is not paper.to_vocabulary.kernel for w in paper.trainable_weights)
    grad = vocabulary_kernel_gradient(paper, hidden, mask, projection)
    assert grad is None or not np.any(grad)

    straight = cls(frozen, token_mode="straight_through")
    straight(hidden, padding_mask=mask)
    assert any(w is straight.to_vocabulary.kernel for w in straight.trainable_weights)
    grad = vocabulary_kernel_gradient(straight, hidden, mask, projection)
    assert grad is not None and np.abs(grad).sum() > 0
    # Frozen encoder: nothing of it is trainable through the connection.
    frozen_ids = {id(w) for w in frozen.weights}
    assert not any(id(w) in frozen_ids for w in straight.trainable_weights)


@pytest.mark.layer
def test_connection_config_round_trip(preset):
    _, masked_lm, _ = load(preset)
    for layer in (
        TextSleepConnection(masked_lm.backbone, token_mode="argmax", output_dim=4),
        TextDreamConnection(masked_lm, output_dim=4),
        LSTMBlock(8, depth=2),
    ):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert config_json(clone.get_config()) == config_json(config)
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(layer)
        )
        assert type(restored) is type(layer)


def test_bad_encoders_and_lengths(preset):
    _, masked_lm, _ = load(preset)
    vit = keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=1,
        hidden_dim=8, mlp_dim=8,
    )
    with pytest.raises(ValueError, match="text backbone"):
        describe_text_encoder(vit)
    with pytest.raises(ValueError, match="masked LM"):
        TextDreamConnection(masked_lm.backbone)
    with pytest.raises(ValueError, match="token_mode"):
        TextSleepConnection(masked_lm.backbone, token_mode="gumbel")
    connection = TextSleepConnection(masked_lm.backbone)
    with pytest.raises(ValueError, match="max_sequence_length=16"):
        connection.build((None, 40, 8))
    spec = describe_text_encoder(masked_lm.backbone)
    assert spec.embedding_layout == "token_and_position"
    assert spec.vocabulary_size == masked_lm.backbone.vocabulary_size


# --- Builders -------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,kwargs",
    [
        ("sleep", {"num_blocks": 1}),
        ("sleep", {"num_blocks": 3, "token_mode": "argmax", "block_depth": 2}),
        ("dream", {"num_blocks": 2}),
        ("dream", {"num_blocks": 1, "embedding": "random", "embedding_dim": 6}),
    ],
)
def test_builder_shapes(preset, kind, kwargs):
    _, masked_lm, preprocessor = load(preset)
    model = build(kind, masked_lm, **kwargs)
    probs = model.predict(batch(preprocessor), verbose=0)
    assert probs.shape == (len(TEXTS), NUM_CLASSES) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    names = [layer.name for layer in model.layers]
    prefix = "sleep_connection_" if kind == "sleep" else "dream_connection_"
    assert sum(n.startswith(prefix) for n in names) == kwargs["num_blocks"]
    if kind == "dream":
        assert "merge_dreams" in names
        dreams = model.dream_model().predict(batch(preprocessor), verbose=0)
        dreams = dreams if isinstance(dreams, list) else [dreams]
        assert len(dreams) == kwargs["num_blocks"]
        assert dreams[0].shape == (len(TEXTS), SEQ)


def test_builder_argument_errors(preset):
    tokenizer, masked_lm, _ = load(preset)
    with pytest.raises(ValueError, match="num_blocks"):
        build("sleep", masked_lm, num_blocks=5)
    with pytest.raises(ValueError, match="embedding_dim"):
        build("sleep", masked_lm, embedding="encoder", embedding_dim=7)
    with pytest.raises(ValueError, match="num_classes"):
        TextSleepNet(masked_lm.backbone, 1)
    with pytest.raises(ValueError, match="masked LM"):
        TextDreamNet(masked_lm.backbone, 2)
    # A tokenizer with another vocabulary: clear error at build time.
    other = keras_hub.tokenizers.RobertaTokenizer(
        *dreamkeras.text.presets.bpe_vocabulary(["only", "few", "words"])
    )
    with pytest.raises(ValueError, match="does not match the backbone"):
        build("sleep", masked_lm, tokenizer=other)
    with pytest.raises(ValueError, match="does not match the backbone"):
        build("dream", masked_lm, tokenizer=other)
    build("sleep", masked_lm, tokenizer=tokenizer)  # the matching one is fine


def test_embedding_initialised_from_encoder(preset):
    _, masked_lm, preprocessor = load(preset)
    model = build("sleep", masked_lm, num_blocks=1)
    chain_table = model.get_layer("token_embedding").embeddings
    encoder_table = masked_lm.backbone.token_embedding.embeddings
    assert chain_table is not encoder_table
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(chain_table),
        keras.ops.convert_to_numpy(encoder_table),
    )
    assert any(w is chain_table for w in model.trainable_weights)
    frozen = build("sleep", load(preset)[1], num_blocks=1, trainable_embedding=False)
    assert all(
        w is not frozen.get_layer("token_embedding").embeddings
        for w in frozen.trainable_weights
    )


@pytest.mark.parametrize("kind", ["sleep_st", "sleep_argmax", "dream", "lstm", "cnn"])
def test_padded_tokens_do_not_change_predictions(preset, kind):
    _, masked_lm, preprocessor = load(preset)
    if kind == "lstm":
        model = LSTMClassifier(masked_lm.backbone.vocabulary_size, NUM_CLASSES, width=WIDTH)
    elif kind == "cnn":
        model = TextCNNClassifier(
            masked_lm.backbone.vocabulary_size, NUM_CLASSES, embedding_dim=8,
            num_filters=4, dropout=0.0,
        )
    elif kind == "dream":
        model = build("dream", masked_lm)
    else:
        mode = "argmax" if kind == "sleep_argmax" else "straight_through"
        model = build("sleep", masked_lm, token_mode=mode)
    x = batch(preprocessor)
    assert (x["padding_mask"] == 0).any()
    noisy = dict(x)
    rng = np.random.default_rng(4)
    random_ids = rng.integers(0, masked_lm.backbone.vocabulary_size, size=x["token_ids"].shape)
    noisy["token_ids"] = np.where(x["padding_mask"] == 1, x["token_ids"], random_ids).astype("int32")
    assert not np.array_equal(noisy["token_ids"], x["token_ids"])
    np.testing.assert_allclose(
        model.predict(x, verbose=0), model.predict(noisy, verbose=0), atol=1e-5
    )
    # ... while changing a real token does change them.
    changed = dict(x)
    changed["token_ids"] = x["token_ids"].copy()
    changed["token_ids"][:, 1] = (changed["token_ids"][:, 1] + 7) % masked_lm.backbone.vocabulary_size
    assert not np.allclose(model.predict(x, verbose=0), model.predict(changed, verbose=0))


def test_baselines_shapes_and_round_trip():
    vocabulary = 100
    x = {
        "token_ids": np.random.default_rng(0).integers(0, vocabulary, (3, 10)).astype("int32"),
        "padding_mask": np.ones((3, 10), "int32"),
    }
    for model in (
        LSTMClassifier(vocabulary, 4, num_layers=3, width=8, embedding_dim=6),
        TextCNNClassifier(vocabulary, 4, embedding_dim=6, filter_sizes=(2, 3), num_filters=4),
    ):
        assert model.predict(x, verbose=0).shape == (3, 4)
        clone = type(model).from_config(model.get_config())
        assert clone.get_config() == model.get_config()
        assert clone.count_params() == model.count_params()
    lstm = LSTMClassifier(vocabulary, 4, num_layers=3, width=8, embedding_dim=6)
    assert sum(isinstance(layer, LSTMBlock) for layer in lstm.layers) == 3


@pytest.mark.parametrize("kind", ["sleep", "dream"])
def test_model_config_round_trip(preset, kind):
    _, masked_lm, _ = load(preset)
    model = build(kind, masked_lm, token_mode="argmax", block_depth=2)
    config = model.get_config()
    clone = type(model).from_config(json.loads(json.dumps(config)))
    # `shared_object_id` names the shared masked LM object: not configuration.
    assert config_json(clone.get_config()) == config_json(config)
    assert len(clone.weights) == len(model.weights)
    assert len(clone.trainable_weights) == len(model.trainable_weights)
    # The backbone appears once in the config, however many connections.
    text = json.dumps(config)
    assert text.count('"class_name": "RobertaBackbone"') == 1


def stored_values(path):
    """Total number of numbers stored in a `.keras` file's weights."""
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", os.path.dirname(path))
    total = 0

    def visit(name, obj):
        nonlocal total
        # The masked LM task's own (unused) optimizer state is not a weight.
        if isinstance(obj, h5py.Dataset) and "optimizer" not in name:
            total += int(np.prod(obj.shape))

    with h5py.File(os.path.join(os.path.dirname(path), "model.weights.h5")) as f:
        f.visititems(visit)
    return total


@pytest.mark.saving
@pytest.mark.parametrize("kind", ["sleep", "dream"])
def test_keras_save_load_round_trip(preset, kind, tmp_path):
    _, masked_lm, preprocessor = load(preset)
    model = build(kind, masked_lm, num_blocks=3)
    x = batch(preprocessor)
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-6)
    assert len(restored.trainable_weights) == len(model.trainable_weights)
    assert restored.count_params() == model.count_params()
    # The shared encoder is stored once: the file holds each weight once.
    unique = sum(int(np.prod(w.shape)) for w in model.weights)
    backbone_size = masked_lm.backbone.count_params()
    assert stored_values(path) == unique
    assert unique > backbone_size
    # ... and it stays frozen after loading.
    frozen = restored.backbone if kind == "sleep" else restored.masked_lm
    frozen_ids = {id(w) for w in frozen.weights}
    assert frozen_ids and not any(id(w) in frozen_ids for w in restored.trainable_weights)
    if kind == "dream":
        for a, b in zip(
            model.dream_model().predict(x, verbose=0),
            restored.dream_model().predict(x, verbose=0),
        ):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kind,token_mode", [("sleep", "straight_through"), ("sleep", "argmax"), ("dream", "straight_through")]
)
def test_frozen_weights_unchanged_by_fit(preset, kind, token_mode):
    _, masked_lm, preprocessor = load(preset)
    model = build(kind, masked_lm, token_mode=token_mode)
    frozen = masked_lm.backbone if kind == "sleep" else masked_lm
    x = batch(preprocessor)
    y = np.array([0, 1, 2, 1])
    trainable_before = values(model.trainable_weights)
    frozen_before = values(frozen.weights)
    count = len(model.trainable_weights)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert_weights_equal(frozen_before, values(frozen.weights))
    assert len(model.trainable_weights) == count
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(trainable_before, values(model.trainable_weights))
    ]
    assert all(changed), [
        w.path for w, c in zip(model.trainable_weights, changed) if not c
    ]
    kernels = [
        w for w in model.weights if "to_vocabulary" in w.path and w.path.endswith("kernel")
    ]
    assert kernels
    trainable_ids = {id(w) for w in model.trainable_weights}
    assert all((id(k) in trainable_ids) == (token_mode == "straight_through") for k in kernels)


@pytest.mark.large
def test_unfreezing_switch(preset):
    _, masked_lm, preprocessor = load(preset)
    model = build("sleep", masked_lm, num_blocks=1, trainable_encoder=True)
    backbone_ids = {id(w) for w in masked_lm.backbone.trainable_weights}
    assert backbone_ids and backbone_ids <= {id(w) for w in model.trainable_weights}
    before = values(masked_lm.backbone.trainable_weights)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(batch(preprocessor), np.array([0, 1, 2, 1]), epochs=2, verbose=0)
    after = values(masked_lm.backbone.trainable_weights)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
