"""Text augmentation, dream decoding, data checks and the random RoBERTa builder."""

import difflib

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from dreamkeras.models import TextDreamNet
from dreamkeras.models import TextSleepNet
from dreamkeras.text import augment_dataset
from dreamkeras.text import augment_text
from dreamkeras.text import check_label_dataset
from dreamkeras.text import check_labels
from dreamkeras.dreams import decode_dreams
from dreamkeras.dreams import decode_tokens
from dreamkeras.text import double_dataset
from dreamkeras.dreams import dream_texts
from dreamkeras.text import make_preprocessor
from dreamkeras.text import word_vocabulary
from dreamkeras.text.presets import bpe_vocabulary
from dreamkeras.text.presets import build_random_preset
from dreamkeras.text.presets import random_roberta

WORDS = "the cat sat on mat a dog ran in park stock market rose fell today".split()
HUNDRED = " ".join(f"w{i}" for i in range(100))
NEW_WORDS = [f"new{i}" for i in range(50)]


def edit_count(before, after):
    """Word-level edit operations between two texts (difflib opcodes)."""
    matcher = difflib.SequenceMatcher(a=before.split(), b=after.split(), autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def run(text, **kwargs):
    return augment_text(tf.constant(text), **kwargs).numpy().decode()


# --- Augmentation ---------------------------------------------------------


def test_each_operation_edits_ten_percent_of_words():
    words = HUNDRED.split()
    out = run(HUNDRED, operations=("substitute",), vocabulary=NEW_WORDS, seed=1).split()
    assert len(out) == 100
    assert sum(a != b for a, b in zip(words, out)) == 10
    assert all(b in NEW_WORDS for a, b in zip(words, out) if a != b)

    out = run(HUNDRED, operations=("delete",), seed=1).split()
    assert len(out) == 90 and set(out) <= set(words)

    out = run(HUNDRED, operations=("insert",), vocabulary=NEW_WORDS, seed=1).split()
    assert len(out) == 110 and sum(w in NEW_WORDS for w in out) == 10
    assert [w for w in out if w not in NEW_WORDS] == words

    out = run(HUNDRED, operations=("swap",), seed=1).split()
    assert sorted(out) == sorted(words)
    moved = sum(a != b for a, b in zip(words, out))
    assert 2 <= moved <= 20


def test_mixed_augmentation_is_about_ten_percent():
    counts = [
        edit_count(HUNDRED, run(HUNDRED, vocabulary=NEW_WORDS, seed=seed))
        for seed in range(5)
    ]
    # 10 edits; a swap counts as up to 2 word changes, neighbours may merge.
    assert all(5 <= c <= 20 for c in counts), counts
    assert np.mean(counts) >= 8


def test_augmentation_edge_cases():
    assert run("") == ""
    assert run("   ") == ""
    # Short texts get at least one edit; a lone word is never deleted away.
    assert run("hello", operations=("delete",)) == "hello"
    assert run("hello", operations=("substitute",), vocabulary=["x"]) == "x"
    assert run("a b", operations=("swap",)) == "b a"
    with pytest.raises(ValueError, match="rate"):
        augment_text(tf.constant("a"), rate=0.0)
    with pytest.raises(ValueError, match="operations"):
        augment_text(tf.constant("a"), operations=("shuffle",))


def test_augment_dataset_keeps_labels_and_structure():
    texts = [HUNDRED, "the cat sat on the mat", ""]
    labels = [3, 1, 0]
    ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    out = list(augment_dataset(ds, vocabulary=NEW_WORDS, seed=2).as_numpy_iterator())
    assert [int(y) for _, y in out] == labels
    assert out[0][0].decode() != HUNDRED and out[2][0].decode() == ""
    # Batched elements and bare texts work too.
    batched = augment_dataset(ds.batch(3), seed=2)
    text_batch, label_batch = next(iter(batched))
    assert text_batch.shape == (3,) and list(label_batch.numpy()) == labels
    bare = augment_dataset(tf.data.Dataset.from_tensor_slices(texts), seed=2)
    assert len(list(bare)) == 3


def test_double_dataset():
    texts = [HUNDRED, "one two three four five six seven eight nine ten"]
    ds = tf.data.Dataset.from_tensor_slices((texts, [0, 1]))
    doubled = list(double_dataset(ds, seed=3, fixed=True).as_numpy_iterator())
    assert len(doubled) == 4
    assert [t.decode() for t, _ in doubled[:2]] == texts
    assert [int(y) for _, y in doubled] == [0, 1, 0, 1]
    assert doubled[2][0].decode() != texts[0]


def test_word_vocabulary():
    texts = ["the cat", "the dog", b"the cat sat"]
    assert word_vocabulary(texts, min_count=2) == ["the", "cat"]
    assert word_vocabulary(texts, max_words=1, min_count=1) == ["the"]


# --- Tokenizer, preprocessor and bad input --------------------------------


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("roberta") / "preset")
    build_random_preset(directory, words=WORDS, hidden_dim=16, max_sequence_length=16, seed=5)
    return directory


def test_random_roberta_spells_words_whole():
    tokenizer, masked_lm = random_roberta(["cat", "sat"], hidden_dim=8, num_heads=1)
    assert tokenizer.vocabulary_size() == masked_lm.backbone.vocabulary_size
    ids = np.asarray(tokenizer("cat sat cat"))
    assert len(ids) == 3  # "cat", "Ġsat", "Ġcat": whole words
    assert tokenizer.detokenize(ids) in ("cat sat cat", b"cat sat cat")
    vocabulary, merges = bpe_vocabulary(["cat"])
    assert {"<s>", "<pad>", "</s>", "<mask>", "cat", "Ġcat"} <= set(vocabulary)
    assert sorted(vocabulary.values()) == list(range(len(vocabulary)))


def test_preprocessor_truncates_and_handles_empty_text(preset):
    backbone = keras_hub.models.RobertaBackbone.from_preset(preset)
    tokenizer = keras_hub.tokenizers.RobertaTokenizer.from_preset(preset)
    preprocessor = make_preprocessor(tokenizer, 12, backbone)
    assert isinstance(preprocessor, keras_hub.models.RobertaTextClassifierPreprocessor)
    long_text = " ".join(["the cat sat on the mat"] * 500)
    x = preprocessor(["", long_text])
    ids = np.asarray(x["token_ids"])
    mask = np.asarray(x["padding_mask"]).astype(int)
    assert ids.shape == (2, 12)
    assert list(mask.sum(1)) == [2, 12]  # "<s></s>" and a truncated text
    model = TextSleepNet(backbone, 2, num_blocks=1, width=4, tokenizer=tokenizer)
    probs = model.predict({"token_ids": ids, "padding_mask": mask}, verbose=0)
    assert probs.shape == (2, 2) and np.all(np.isfinite(probs))
    with pytest.raises(ValueError, match="max_sequence_length"):
        make_preprocessor(tokenizer, 64, backbone)
    other = keras_hub.tokenizers.RobertaTokenizer(*bpe_vocabulary(["x"]))
    with pytest.raises(ValueError, match="does not match the backbone"):
        make_preprocessor(other, 12, backbone)


def test_label_checks():
    np.testing.assert_array_equal(check_labels([0, 2, 1], 3), [0, 2, 1])
    with pytest.raises(ValueError, match=r"outside the class range \[0, 3\).*label 3"):
        check_labels([0, 3, 1], 3)
    with pytest.raises(ValueError, match="outside"):
        check_labels([-1], 3)
    with pytest.raises(ValueError, match="integer"):
        check_labels([0.5], 3)
    ds = tf.data.Dataset.from_tensor_slices((["a", "b", "c"], [0, 1, 4]))
    checked = check_label_dataset(ds, 3)
    iterator = iter(checked)
    next(iterator), next(iterator)
    with pytest.raises(tf.errors.InvalidArgumentError, match="class range"):
        next(iterator)


# --- Dream texts ----------------------------------------------------------


def test_decode_tokens_round_trip(preset):
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor.from_preset(
        preset, sequence_length=12
    )
    texts = ["the cat sat on the mat", "stock market fell", ""]
    x = preprocessor(texts)
    assert decode_tokens(preprocessor.tokenizer, x["token_ids"], x["padding_mask"]) == texts


def test_dream_texts(preset):
    masked_lm = keras_hub.models.RobertaMaskedLM.from_preset(preset, preprocessor=None)
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor.from_preset(
        preset, sequence_length=12
    )
    model = TextDreamNet(masked_lm, 2, num_blocks=3, width=4)
    texts = ["the cat sat on the mat", "a dog ran in the park today"]
    rows = dream_texts(model, texts, preprocessor)
    assert [row["original"] for row in rows] == texts
    for row in rows:
        assert len(row["dreams"]) == 3
        assert all(isinstance(d, str) for d in row["dreams"])
    # The strings decode the dream connections' token ids.
    x = {k: np.asarray(v) for k, v in preprocessor(texts).items()}
    ids = model.dream_model().predict(x, verbose=0)
    expected = decode_tokens(preprocessor.tokenizer, ids[1], x["padding_mask"])
    assert [row["dreams"][1] for row in rows] == expected
    assert rows == decode_dreams(model, x, preprocessor.tokenizer)
    with pytest.raises(ValueError, match="TextDreamNet"):
        decode_dreams(keras.Sequential([keras.layers.Dense(1)]), x, preprocessor.tokenizer)
