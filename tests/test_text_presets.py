"""Random-weight text presets built from a folder of .txt files (`dreamkeras text-preset`)."""

import os

import keras_hub
import numpy as np
import pytest

from dreamkeras.text import presets
from dreamkeras_cli import tool_commands

CAPITALISED = ["SSG", "Paris", "London", "McDonald", "NASA", "Keras"]


def write_corpus(root):
    """Texts of capitalised words (and a lowercase twin) in nested folders."""
    rng = np.random.default_rng(0)
    for folder in ("a", os.path.join("b", "deeper")):
        os.makedirs(os.path.join(root, folder))
        for i in range(5):
            words = list(rng.choice(CAPITALISED, 20)) + ["paris", "the"]
            with open(os.path.join(root, folder, f"{i}.txt"), "w") as f:
                f.write(" ".join(words) + ".\n")
    with open(os.path.join(root, "notes.md"), "w") as f:
        f.write("Ignored Markdown Words\n")


def test_corpus_words_keep_their_case(tmp_path):
    write_corpus(tmp_path)
    words = presets.corpus_words(str(tmp_path), max_words=100)
    assert set(CAPITALISED) <= set(words)
    assert "paris" in words and "Paris" in words  # Two words, not one.
    assert "Ignored" not in words  # Only .txt files.
    assert presets.corpus_words(str(tmp_path), max_words=2) == words[:2]
    with pytest.raises(ValueError, match="does not exist"):
        presets.corpus_words(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No words"):
        presets.corpus_words(str(tmp_path / "empty"))


def test_the_preset_builder_keeps_capitalised_words_whole(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    output = tmp_path / "preset"
    argv = ["--corpus", str(corpus), "--output", str(output), "--hidden-dim", "16",
            "--max-sequence-length", "32", "--words", "50"]
    assert tool_commands.text_preset_app(argv) == 0
    out = capsys.readouterr().out
    assert f"Wrote {output}" in out and "RANDOM weights" in out
    assert presets.is_random_preset(str(output))

    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(str(output))
    for word in CAPITALISED:
        # One token each, at the start of a text and after a space.
        assert len(np.asarray(tokenizer(word))) == 1, word
        assert len(np.asarray(tokenizer(f"the {word}"))) == 2, word
    assert tokenizer.detokenize(np.asarray(tokenizer("SSG Paris"))) in ("SSG Paris", b"SSG Paris")
    backbone = keras_hub.models.Backbone.from_preset(str(output))
    assert backbone.hidden_dim == 16 and backbone.max_sequence_length == 32
    assert backbone.vocabulary_size == tokenizer.vocabulary_size()

    # An existing preset is kept unless --overwrite.
    assert tool_commands.text_preset_app(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert tool_commands.text_preset_app(argv[:2] + ["--output", str(tmp_path / "x"), "--num-heads", "3"]) == 2
    assert "--num-heads 3 must divide --hidden-dim 32" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
