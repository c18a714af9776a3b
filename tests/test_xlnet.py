"""XLNet: parity with `transformers`, loading, tokenizer, and the text networks.

The Hugging Face side runs `transformers` on PyTorch; checkpoints are tiny
random models written to a temporary folder, with a SentencePiece model
trained on the spot (no network).
"""

import json
import os
import shutil

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
pytest.importorskip("sentencepiece")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import tensorflow as tf  # noqa: E402

import dreamkeras  # noqa: E402
from dreamkeras.encoders import hf_xlnet  # noqa: E402
from dreamkeras.encoders import load_xlnet  # noqa: E402
from dreamkeras.layers import TextDreamConnection  # noqa: E402
from dreamkeras.layers import TextSleepConnection  # noqa: E402
from dreamkeras.layers import describe_text_encoder  # noqa: E402
from dreamkeras.models import TextDreamNet  # noqa: E402
from dreamkeras.models import TextSleepNet  # noqa: E402
from dreamkeras.models import XLNetBackbone  # noqa: E402
from dreamkeras.models import XLNetTextClassifierPreprocessor  # noqa: E402
from tests import xlnet_checkpoints as ckpt  # noqa: E402
from tests.xlnet_checkpoints import hf_outputs as _hf_outputs  # noqa: E402
from tests.xlnet_checkpoints import keras_outputs as _keras_outputs  # noqa: E402
from tests.xlnet_checkpoints import max_diff as _max_diff  # noqa: E402

TOLERANCE = 1e-4
TEXTS = [
    "the cat sat on the mat",
    "Café prices fell in Zürich, ``not bad''",
    "stock market rose today as the team won the game in the rain and the dog ran",
    "",
]
SEQ = 12


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def spiece(tmp_path_factory):
    return ckpt.train_spiece(str(tmp_path_factory.mktemp("spiece")))


@pytest.fixture(scope="module")
def lm_checkpoint(tmp_path_factory, spiece):
    folder = str(tmp_path_factory.mktemp("xlnet_lm"))
    return folder, ckpt.save_checkpoint(folder, spiece)


@pytest.fixture(scope="module")
def converted(lm_checkpoint):
    return load_xlnet(lm_checkpoint[0], masked_lm=True)


# --- Parity with transformers --------------------------------------------


def test_hidden_states_and_logits_match_transformers(lm_checkpoint, converted):
    _, hf_model = lm_checkpoint
    _, masked_lm = converted
    ids, mask, segments = ckpt.random_inputs(hf_model.config.vocab_size)
    hidden, logits = _keras_outputs(masked_lm, ids, mask, segments)
    ref_hidden, ref_logits = _hf_outputs(hf_model, ids, mask, segments)
    assert _max_diff(hidden, ref_hidden, mask) <= TOLERANCE
    assert _max_diff(logits, ref_logits, mask) <= TOLERANCE
    # Every row of the batch matches (KerasHub's own backbone mixes rows).
    assert hidden.shape == ref_hidden.shape == (3, 9, 32)


def test_keras_hub_backbone_mixes_batch_rows(lm_checkpoint, converted):
    """Why `dreamkeras.models.XLNetBackbone` exists (KerasHub 0.32)."""
    _, hf_model = lm_checkpoint
    _, masked_lm = converted
    ids, mask, segments = ckpt.random_inputs(hf_model.config.vocab_size)
    keras_hub_backbone = keras_hub.models.XLNetBackbone.from_config(
        {k: v for k, v in masked_lm.backbone.get_config().items() if k != "clamp_length"}
    )
    for variable in keras_hub_backbone.weights:
        source = [w for w in masked_lm.backbone.weights if w.path == variable.path]
        variable.assign(source[0])
    ref_hidden, _ = _hf_outputs(hf_model, ids, mask, segments)
    single = _np(
        keras_hub_backbone(
            {"token_ids": ids[:1], "padding_mask": mask[:1], "segment_ids": segments[:1]}
        )
    )
    batched = _np(
        keras_hub_backbone({"token_ids": ids, "padding_mask": mask, "segment_ids": segments})
    )
    assert _max_diff(single, ref_hidden[:1], mask[:1]) <= TOLERANCE
    assert _max_diff(batched, ref_hidden, mask) > 1e-3
    fixed = XLNetBackbone.from_backbone(keras_hub_backbone)
    hidden = _np(fixed({"token_ids": ids, "padding_mask": mask, "segment_ids": segments}))
    assert _max_diff(hidden, ref_hidden, mask) <= TOLERANCE
    with pytest.raises(ValueError, match="mixes the rows of a batch"):
        describe_text_encoder(keras_hub_backbone)


@pytest.mark.parametrize(
    "model_class,weights",
    [("XLNetModel", "safetensors"), ("XLNetLMHeadModel", "bin")],
)
def test_other_checkpoint_forms(tmp_path, spiece, model_class, weights):
    folder = str(tmp_path / "ckpt")
    hf_model = ckpt.save_checkpoint(
        folder, spiece, model_class=model_class, weights=weights, seed=1, clamp_len=4
    )
    _, backbone = load_xlnet(folder)
    assert isinstance(backbone, keras_hub.models.XLNetBackbone)
    assert backbone.clamp_length == 4
    ids, mask, segments = ckpt.random_inputs(hf_model.config.vocab_size, seed=1)
    hidden = _np(backbone({"token_ids": ids, "padding_mask": mask, "segment_ids": segments}))
    assert _max_diff(hidden, _hf_outputs(hf_model, ids, mask, segments)[0], mask) <= TOLERANCE
    if model_class == "XLNetModel":
        with pytest.raises(ValueError, match="no LM head"):
            load_xlnet(folder, masked_lm=True)


def test_call_with_embeddings_equals_call(converted):
    _, masked_lm = converted
    backbone = masked_lm.backbone
    ids, mask, _ = ckpt.random_inputs(backbone.vocabulary_size, seed=2)
    zeros = np.zeros_like(ids)
    expected = _np(backbone({"token_ids": ids, "padding_mask": mask, "segment_ids": zeros}))
    embedded = backbone.token_embedding(ids)
    np.testing.assert_allclose(
        _np(backbone.call_with_embeddings(embedded, mask)), expected, atol=1e-6
    )


# --- Tokenizer ------------------------------------------------------------


def test_preprocessor_matches_transformers_tokenizer(lm_checkpoint):
    folder, _ = lm_checkpoint
    # A fresh tokenizer: `clear_session` between tests drops TF resources.
    tokenizer = hf_xlnet.load_tokenizer(folder)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    preprocessor = XLNetTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    expected = hf_tokenizer(
        TEXTS, padding="max_length", max_length=SEQ, truncation=True
    )
    eager = preprocessor(TEXTS)
    graph = next(iter(tf.data.Dataset.from_tensor_slices(TEXTS).batch(4).map(preprocessor)))
    assert set(eager) == {"token_ids", "padding_mask"}
    for outputs in (eager, graph):
        np.testing.assert_array_equal(_np(outputs["token_ids"]), expected["input_ids"])
        np.testing.assert_array_equal(
            _np(outputs["padding_mask"]).astype(int), expected["attention_mask"]
        )
    # XLNet's convention: `<sep> <cls>` last, padding on the left.
    ids = _np(eager["token_ids"])
    assert (ids[:, -2:] == [tokenizer.sep_token_id, tokenizer.cls_token_id]).all()
    assert ids[3, 0] == tokenizer.pad_token_id == 5
    assert dreamkeras.text.make_preprocessor(tokenizer, SEQ).__class__ is (
        XLNetTextClassifierPreprocessor
    )
    decoded = dreamkeras.dreams.decode_tokens(tokenizer, ids, _np(eager["padding_mask"]))
    assert decoded[0] == "the cat sat on the mat"[: len(decoded[0])]
    assert "Cafe" in decoded[1]  # accents stripped, as transformers does


# --- Text networks --------------------------------------------------------


def _batch(tokenizer, texts=TEXTS):
    x = XLNetTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)(texts)
    return {k: _np(v).astype("int32") for k, v in x.items()}


@pytest.mark.parametrize("token_mode", ["straight_through", "argmax"])
def test_connections_on_xlnet(converted, token_mode):
    tokenizer, masked_lm = converted
    spec = describe_text_encoder(masked_lm.backbone)
    assert spec.embedding_layout == "call_with_embeddings"
    x = _batch(tokenizer)
    hidden = np.random.default_rng(0).normal(size=(4, SEQ, 8)).astype("float32")
    sleep = TextSleepConnection(masked_lm.backbone, token_mode=token_mode)
    features = _np(sleep(hidden, padding_mask=x["padding_mask"]))
    assert features.shape == (4, SEQ, 8) and np.isfinite(features).all()
    assert not features[x["padding_mask"] == 0].any()
    dream = TextDreamConnection(masked_lm, token_mode=token_mode)
    features, dreams = dream(hidden, padding_mask=x["padding_mask"])
    assert _np(features).shape == (4, SEQ, 8)
    assert _np(dreams["embeddings"]).shape == (4, SEQ, 32)
    # The dream is the LM's reconstruction of the tokens fed to it.
    logits = _np(masked_lm.masked_lm_head(
        sleep._encode_embeddings(
            masked_lm.backbone.token_embedding(
                keras.ops.argmax(dream.to_vocabulary(hidden), axis=-1)
            ),
            x["padding_mask"],
            False,
        )
    ))
    real = x["padding_mask"] == 1
    np.testing.assert_array_equal(
        _np(dreams["token_ids"])[real], logits.argmax(-1)[real]
    )


@pytest.mark.parametrize(
    "kind,token_mode",
    [("sleep", "straight_through"), ("sleep", "argmax"), ("dream", "straight_through")],
)
def test_networks_train_only_their_own_weights(converted, kind, token_mode):
    tokenizer, masked_lm = converted
    common = dict(num_blocks=2, width=8, token_mode=token_mode, tokenizer=tokenizer)
    if kind == "sleep":
        model = TextSleepNet(masked_lm.backbone, 3, **common)
    else:
        model = TextDreamNet(masked_lm, 3, **common)
    frozen = [_np(w).copy() for w in masked_lm.weights]
    trainable = [_np(w).copy() for w in model.trainable_weights]
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(_batch(tokenizer), np.array([0, 1, 2, 1]), epochs=2, verbose=0)
    for before, after in zip(frozen, masked_lm.weights):
        np.testing.assert_array_equal(before, _np(after))
    frozen_ids = {id(w) for w in masked_lm.weights}
    assert not any(id(w) in frozen_ids for w in model.trainable_weights)
    changed = {
        w.path: not np.array_equal(a, _np(w))
        for a, w in zip(trainable, model.trainable_weights)
    }
    assert all(changed.values()), [p for p, c in changed.items() if not c]
    to_vocabulary = [p for p in changed if "to_vocabulary" in p]
    assert bool(to_vocabulary) == (token_mode == "straight_through")


@pytest.mark.parametrize("kind", ["sleep", "dream"])
def test_save_and_load_model(converted, kind, tmp_path):
    tokenizer, masked_lm = converted
    common = dict(num_blocks=2, width=8, tokenizer=tokenizer)
    if kind == "sleep":
        model = TextSleepNet(masked_lm.backbone, 3, token_mode="argmax", **common)
    else:
        model = TextDreamNet(masked_lm, 3, **common)
    x = _batch(tokenizer)
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-5)
    frozen = restored.backbone if kind == "sleep" else restored.masked_lm
    assert isinstance(frozen.backbone if kind == "dream" else frozen, XLNetBackbone)
    frozen_ids = {id(w) for w in frozen.weights}
    assert frozen_ids and not any(id(w) in frozen_ids for w in restored.trainable_weights)
    assert restored.count_params() == model.count_params()
    if kind == "dream":
        for a, b in zip(
            model.dream_model().predict(x, verbose=0),
            restored.dream_model().predict(x, verbose=0),
        ):
            np.testing.assert_array_equal(a, b)


def test_keras_hub_preset_round_trip(converted, tmp_path):
    """`save_to_preset` folders load back through KerasHub's `from_preset`."""
    tokenizer, masked_lm = converted
    folder = str(tmp_path / "preset")
    masked_lm.save_to_preset(folder)
    tokenizer.save_to_preset(folder)
    lm = keras_hub.models.MaskedLM.from_preset(folder, preprocessor=None)
    loaded_tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(folder)
    assert type(lm) is type(masked_lm) and type(loaded_tokenizer) is type(tokenizer)
    assert type(keras_hub.models.Backbone.from_preset(folder)) is XLNetBackbone
    ids, mask, segments = ckpt.random_inputs(tokenizer.vocabulary_size())
    a = _keras_outputs(masked_lm, ids, mask, segments)[1]
    b = _keras_outputs(lm, ids, mask, segments)[1]
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert _np(loaded_tokenizer("the cat")).tolist() == _np(tokenizer("the cat")).tolist()


# --- Loading by name and errors ------------------------------------------


@pytest.mark.parametrize(
    "model_kind,expected",
    [("dreamnet", "XLNetMaskedLM"), ("sleepnet", "XLNetBackbone"), ("lstm", None)],
)
def test_load_hf_text_encoder(lm_checkpoint, model_kind, expected):
    tokenizer, encoder = hf_xlnet.load_hf_text_encoder(lm_checkpoint[0], model_kind)
    assert type(tokenizer).__name__ == "XLNetTokenizer"
    assert (encoder and type(encoder).__name__) == expected


def test_not_xlnet_names_are_left_to_keras_hub(tmp_path):
    assert hf_xlnet.load_hf_text_encoder("roberta_base_en", "sleepnet") is None
    keras_preset = tmp_path / "preset"
    keras_preset.mkdir()
    (keras_preset / "config.json").write_text(json.dumps({"registered_name": "x>Y"}))
    assert hf_xlnet.load_hf_text_encoder(str(keras_preset), "sleepnet") is None


def _copy(folder, tmp_path, name="broken"):
    target = str(tmp_path / name)
    shutil.copytree(folder, target)
    return target


def test_clear_errors(lm_checkpoint, tmp_path):
    folder, _ = lm_checkpoint

    def error(*args, kind=(ValueError, FileNotFoundError), **kwargs):
        with pytest.raises(kind) as info:
            load_xlnet(*args, **kwargs)
        message = str(info.value)
        assert "\n" not in message
        return message

    assert "neither a named size" in error(str(tmp_path / "missing"))
    broken = _copy(folder, tmp_path, "no_weights")
    os.remove(os.path.join(broken, "model.safetensors"))
    assert "No weights" in error(broken)
    broken = _copy(folder, tmp_path, "no_spiece")
    os.remove(os.path.join(broken, "spiece.model"))
    assert "No spiece.model" in error(broken) and "xlnet-base-cased" in error(broken)
    broken = _copy(folder, tmp_path, "corrupt_weights")
    with open(os.path.join(broken, "model.safetensors"), "r+b") as file:
        file.truncate(100)
    assert "corrupt or truncated" in error(broken)
    broken = _copy(folder, tmp_path, "corrupt_bin")
    os.remove(os.path.join(broken, "model.safetensors"))
    with open(os.path.join(broken, "pytorch_model.bin"), "wb") as file:
        file.write(b"not a pickle")
    assert "corrupt or truncated" in error(broken)
    broken = _copy(folder, tmp_path, "corrupt_spiece")
    with open(os.path.join(broken, "spiece.model"), "wb") as file:
        file.write(b"garbage")
    assert "not a usable XLNet SentencePiece model" in error(broken)
    broken = _copy(folder, tmp_path, "fewer_layers")
    config_path = os.path.join(broken, "config.json")
    config = json.load(open(config_path))
    json.dump({**config, "n_layer": 1}, open(config_path, "w"))
    assert "did not use" in error(broken)
    json.dump({**config, "n_layer": 3}, open(config_path, "w"))
    assert "has no tensor 'layer.2" in error(broken)
    json.dump({k: v for k, v in config.items() if k != "d_inner"}, open(config_path, "w"))
    assert "lacks the integer entries ['d_inner']" in error(broken)
    json.dump({**config, "model_type": "bert"}, open(config_path, "w"))
    assert "not a Hugging Face XLNet checkpoint" in error(broken)
    json.dump({**config, "attn_type": "uni"}, open(config_path, "w"))
    assert "attn_type='uni'" in error(broken)


def test_remote_handle_fails_fast_without_network(monkeypatch):
    import socket

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(FileNotFoundError, match="no network"):
        load_xlnet(hf_xlnet.HUB_NAME)
    with pytest.raises(FileNotFoundError, match="no network"):
        hf_xlnet.load_hf_text_encoder(hf_xlnet.HUB_NAME, "sleepnet")


# --- Base size ------------------------------------------------------------


@pytest.mark.large
def test_base_size_parity(tmp_path, spiece):
    """xlnet-base-cased's configuration (12 layers, 768 wide, 32000 tokens)."""
    import torch

    config = transformers.XLNetConfig(
        vocab_size=32000, d_model=768, n_layer=12, n_head=12, d_inner=3072
    )
    torch.manual_seed(0)
    hf_model = ckpt.randomize(transformers.XLNetLMHeadModel(config), scale=0.02)
    folder = str(tmp_path / "base")
    hf_model.save_pretrained(folder)
    shutil.copy(spiece, os.path.join(folder, "spiece.model"))
    _, masked_lm = load_xlnet(folder, masked_lm=True)
    ids, mask, segments = ckpt.random_inputs(32000, batch=2, length=64)
    hidden, logits = _keras_outputs(masked_lm, ids, mask, segments)
    ref_hidden, ref_logits = _hf_outputs(hf_model, ids, mask, segments)
    hidden_diff = _max_diff(hidden, ref_hidden, mask)
    logits_diff = _max_diff(logits, ref_logits, mask)
    print(f"base parity: hidden {hidden_diff:.2e}, logits {logits_diff:.2e}")
    assert hidden_diff <= TOLERANCE and logits_diff <= TOLERANCE


# --- The text apps -----------------------------------------------------------


@pytest.mark.app
@pytest.mark.parametrize(
    "model_kind,token_mode",
    [
        pytest.param("sleepnet", "straight_through", marks=pytest.mark.large),
        pytest.param("sleepnet", "argmax", marks=pytest.mark.large),
        ("dreamnet", "straight_through"),  # the backbone and the LM head
    ],
)
def test_text_app_with_xlnet_checkpoint(lm_checkpoint, tmp_path, model_kind, token_mode):
    from apps import text_folder
    from dreamkeras.text.synthetic import synthetic_texts
    from tests.test_text_apps import write_text_folder

    texts, labels = synthetic_texts(2, 16, seed=0)
    write_text_folder(tmp_path / "texts", texts, labels, ["a", "b"])
    argv = [
        "--backend", keras.backend.backend(), "--blocks", "2", "--width", "8",
        "--max-length", str(SEQ), "--batch-size", "4", "--epochs", "1",
        "--steps-per-epoch", "2", "--eval-steps", "1", "--verbose", "0",
        "--model", model_kind, "--token-mode", token_mode,
        "--encoder", lm_checkpoint[0], "--data-dir", str(tmp_path / "texts"),
        "--output", str(tmp_path / "run.keras"), "--logdir", str(tmp_path / "logs"),
    ]
    assert text_folder.main(argv) == 0
    with open(tmp_path / "run.json") as file:
        result = json.load(file)
    assert result["uses_encoder_weights"]
    flops = result["flops_per_text"]
    assert flops["total"] > flops["frozen"] > 0 and flops["sequence_length"] == SEQ
    assert flops["train_step_total"] > flops["total"]
    assert ("straight_through" in flops["by_kind"]) == (token_mode == "straight_through")
    model = keras.saving.load_model(tmp_path / "run.keras")
    frozen = model.backbone if model_kind == "sleepnet" else model.masked_lm.backbone
    assert isinstance(frozen, XLNetBackbone)
    if model_kind == "dreamnet":  # Validation texts, each with one dream per connection.
        assert result["dreams"] and all(len(row["dreams"]) == 2 for row in result["dreams"])
