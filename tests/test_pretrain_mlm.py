"""Masked-LM pretraining (`apps/pretrain_mlm.py`, `dreamkeras pretrain-mlm`).

One tiny run on a generated folder of texts: the held-out masked-token
accuracy rises, and the preset it writes is the `--encoder` of a text
DreamNet. The other tests are the splits and the errors that stop a run
before anything is imported.
"""

import contextlib
import json
import os

import numpy as np
import pytest

import dreamkeras
from apps import pretrain_mlm
from dreamkeras import training
from dreamkeras.text.presets import corpus_texts
from dreamkeras.training.mlm_task import split_corpus
from dreamkeras.text.synthetic import synthetic_texts
from dreamkeras_cli import commands
from tests.app_helpers import BACKEND
from tests.test_text_apps import write_text_folder

SUBJECTS = ("the cat", "the dog", "a bird", "the old man", "my friend")
VERBS = ("sat on", "ran to", "looked at", "slept under")
PLACES = ("the mat", "the sofa", "the big tree", "the house", "the river")


def write_corpus(folder, count=240, seed=0):
    """Texts with a grammar to learn: subject, verb, place, in two files."""
    rng = np.random.default_rng(seed)
    texts = [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)} ."
        for _ in range(count)
    ]
    os.makedirs(folder / "a", exist_ok=True)
    for name, part in (("a/one.txt", texts[: count // 2]), ("two.txt", texts[count // 2:])):
        (folder / name).write_text("\n\n".join(part) + "\n")
    return texts


@pytest.mark.app
def test_pretraining_raises_heldout_accuracy_and_the_preset_is_an_encoder(tmp_path, capsys):
    texts = write_corpus(tmp_path / "corpus")
    output = tmp_path / "preset"
    argv = [
        "--backend", BACKEND, "--corpus", str(tmp_path / "corpus"), "--output", str(output),
        "--logdir", str(tmp_path / "logs"), "--hidden-dim", "32", "--num-layers", "1",
        "--num-heads", "2", "--max-sequence-length", "32", "--max-length", "16",
        "--batch-size", "16", "--epochs", "4", "--lr", "0.005", "--warmup-epochs", "0.5",
        "--verbose", "0",
    ]
    assert pretrain_mlm.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("dreamkeras pretrain-mlm: masked-LM pretraining of a RoBERTa")
    with open(str(output) + ".json") as f:
        report = json.load(f)
    result = report["heldout_masked_accuracy"]
    assert report["train_examples"] + report["eval_examples"] == len(texts)
    assert report["eval_examples"] == 24 and result["tokens"] > 0
    assert result["trained"] > result["initial"] + 0.2, result
    assert result["trained"] > result["most_frequent_token_reference"], result
    assert report["epochs_completed"] == 4 and not report["fast_dev_run"]
    assert not os.path.exists(output / "RANDOM_WEIGHTS.txt")

    # The preset is the frozen masked LM of a text DreamNet, as --encoder.
    labels = [0 if "cat" in t or "dog" in t else 1 for t in texts[:24]]
    write_text_folder(tmp_path / "labelled", texts[:24], labels, ["pets", "other"])
    config = commands.run_config(
        "text_folder",
        ["--model", "dreamnet", "--encoder", str(output), "--data-dir",
         str(tmp_path / "labelled"), "--blocks", "1", "--width", "4", "--max-length", "16",
         "--batch-size", "4"],
    )
    run = training.TextClassification().prepare(config, contextlib.nullcontext())
    assert isinstance(run.model, dreamkeras.models.TextDreamNet)
    assert f"encoder {output}: pretrained, frozen" in run.lines[0]
    assert not run.report["encoder_random_weights"]
    assert all(not w.trainable for w in run.model.masked_lm.weights)


def test_corpus_split_is_by_content_and_stable():
    texts, _ = synthetic_texts(3, 50, seed=2)
    corpus = split_corpus("x", texts, 0.2)
    assert (corpus.train_size, corpus.eval_size) == (40, 10)
    assert sorted(corpus.train + corpus.eval) == sorted(texts)
    again = split_corpus("x", list(reversed(texts)), 0.2)
    assert sorted(again.eval) == sorted(corpus.eval)  # Not by position.


def test_corpus_texts_are_paragraphs(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("one\ntwo\n\n\n  three  \n\n")
    (tmp_path / "b.md").write_text("not read")
    assert corpus_texts(str(tmp_path)) == (["one\ntwo", "three"], 1)


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "--corpus DIR is required"),
        (["--corpus", "{empty}"], "holds no .txt file"),
        (["--corpus", "{missing}"], "is not a folder"),
        (["--corpus", "{corpus}", "--num-heads", "3"], "must divide --hidden-dim"),
        (["--corpus", "{corpus}", "--max-length", "200"], "--max-sequence-length"),
        (["--corpus", "{corpus}", "--mask-ratio", "1"], "--mask-ratio"),
        (["--corpus", "{corpus}", "--validation-split", "0"], "--validation-split"),
    ],
)
def test_bad_flags_are_one_line_errors_before_any_import(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    write_corpus(tmp_path / "corpus", count=10)
    names = {k: str(tmp_path / k) for k in ("empty", "missing", "corpus")}
    argv = [a.format(**names) for a in argv] + ["--output", str(tmp_path / "out")]
    assert pretrain_mlm.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not os.path.exists(tmp_path / "out")
