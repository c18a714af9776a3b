"""End-to-end tests of the text apps (`apps/ag_news.py`, `imdb.py`, `yelp.py`, `text_folder.py`)."""

import json
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import dreamkeras
from apps import ag_news
from apps import imdb
from apps import text_folder
from apps import yelp
from dreamkeras import data as dk_data
from dreamkeras import text as dk_text
from dreamkeras import training
from dreamkeras.text.testing import DEMO_WORDS
from dreamkeras.text.testing import save_tiny_preset
from dreamkeras.text.testing import synthetic_texts
from dreamkeras.text.testing import tiny_roberta
from tests.test_apps import Interrupt
from tests.test_training import read_events

pytestmark = pytest.mark.app

BACKEND = keras.backend.backend()
MAX_LENGTH = 16
# The cheapest settings: one block, width 8, two steps, one eval batch.
TINY = [
    "--backend", BACKEND, "--blocks", "1", "--width", "8",
    "--max-length", str(MAX_LENGTH), "--batch-size", "8", "--epochs", "1",
    "--steps-per-epoch", "2", "--eval-steps", "1", "--verbose", "0",
]


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """A local RoBERTa preset (random weights, small BPE vocabulary)."""
    directory = str(tmp_path_factory.mktemp("tiny_roberta"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer, masked_lm = tiny_roberta(DEMO_WORDS, max_sequence_length=32, seed=3)
    return save_tiny_preset(directory, tokenizer, masked_lm, sequence_length=32)


def paths(tmp_path, name="run"):
    return [
        "--output", str(tmp_path / f"{name}.keras"),
        "--logdir", str(tmp_path / f"{name}_logs"),
    ]


def report(tmp_path, name="run"):
    with open(tmp_path / f"{name}.json") as f:
        return json.load(f)


def write_text_folder(root, texts, labels, class_names, split=None):
    """Writes texts as root/[split/]<class>/<i>.txt."""
    for i, (text, label) in enumerate(zip(texts, labels)):
        folder = os.path.join(root, *([split] if split else []), class_names[label])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:04d}.txt"), "w") as f:
            f.write(text)


def test_ag_news_dreamnet_on_tfds_mock_data(tmp_path, preset):
    """DreamNet-1 end to end: report, dreams, TensorBoard, saving round trip."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=16):
        status = ag_news.main(
            TINY + ["--model", "dreamnet", "--encoder", preset] + paths(tmp_path)
        )
        data = dk_text.load_tfds_text("ag_news_subset", ("title", "description"))
        samples = [t.numpy().decode() for t, _ in data.eval.take(3)]
    assert status == 0
    result = report(tmp_path)
    assert result["model"] == "TextDreamNet" and result["num_classes"] == 4
    assert result["encoder_random_weights"] and not result["fast_dev_run"]
    assert result["epochs_completed"] == 1 and result["optimizer_steps"] == 2
    assert 0.0 <= result["test_accuracy"] <= 1.0
    params = result["params"]
    assert params["trainable"] + params["non_trainable"] == params["total"]

    model = keras.saving.load_model(tmp_path / "run.keras")
    assert isinstance(model, dreamkeras.models.TextDreamNet)
    # The frozen masked LM stays frozen after reloading and holds all the
    # non-trainable weights the report counted.
    assert all(not w.trainable for w in model.masked_lm.weights)
    assert params["frozen"] == params["encoder"] == sum(
        int(np.prod(w.shape)) for w in model.masked_lm.weights
    )

    # Dreams: one row per sample text (the first test texts), one decoded
    # dream per connection, the same strings as the reloaded model's.
    assert len(result["dreams"]) == 3
    assert all(len(row["dreams"]) == 1 for row in result["dreams"])
    preprocessor = dk_text.make_preprocessor(
        keras_hub_tokenizer(preset), MAX_LENGTH, model.masked_lm.backbone
    )
    again = dk_text.dream_texts(model, samples, preprocessor)
    assert again == result["dreams"]
    tags = read_events(str(tmp_path / "run_logs"))
    assert "dreams" in tags and "epoch_accuracy" in tags


def keras_hub_tokenizer(preset):
    import keras_hub

    return keras_hub.tokenizers.Tokenizer.from_preset(preset)


def test_imdb_lstm_baseline_with_augmentation(tmp_path, preset):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        status = imdb.main(
            TINY + ["--model", "lstm", "--encoder", preset, "--augment"]
            + paths(tmp_path)
        )
    assert status == 0
    result = report(tmp_path)
    assert result["model"] == "LSTMClassifier" and result["num_classes"] == 2
    assert result["augment"] and result["params"]["frozen"] == 0
    assert result["dataset"] == "imdb_reviews"


@pytest.mark.saving
def test_text_folder_resume_after_a_kill_with_empty_and_long_texts(tmp_path, preset):
    """A run killed after its first epoch resumes at the second and finishes.

    The folder holds an empty text and a 5000-word one: the empty text is
    just `<s></s>`, the long one is truncated to --max-length, and the
    saved model classifies both.
    """
    texts, labels = synthetic_texts(3, 24, seed=1)
    texts[0] = ""
    texts[1] = " ".join(["market"] * 5000)
    folder = tmp_path / "texts"
    write_text_folder(folder, texts, labels, ["news", "sport", "tech"])
    argv = TINY + [
        "--model", "textcnn", "--encoder", preset, "--data-dir", str(folder),
        "--epochs", "2",
    ] + paths(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        text_folder.main(argv, callbacks=[Interrupt(after_epoch=0)])
    assert not os.path.exists(tmp_path / "run.keras")
    recorder = training.EpochRecorder()
    assert text_folder.main(argv + ["--resume"], callbacks=[recorder]) == 0
    assert recorder.started == [1]
    result = report(tmp_path)
    assert result["resumed_from_epoch"] == 1 and result["optimizer_steps"] == 4
    assert result["class_names"] == ["news", "sport", "tech"]
    assert result["eval_split"] == "held-out 20%"
    assert result["train_examples"] + result["eval_examples"] == 24

    preprocessor = dk_text.make_preprocessor(keras_hub_tokenizer(preset), MAX_LENGTH)
    ds = dk_text.build_text_pipeline(
        tf.data.Dataset.from_tensor_slices((texts[:2], labels[:2])),
        preprocessor, 3, batch_size=2, training=False,
    )
    x, _ = next(iter(ds))
    assert tuple(x["token_ids"].shape) == (2, MAX_LENGTH)
    assert list(np.sum(np.asarray(x["padding_mask"]), axis=1)) == [2, MAX_LENGTH]
    model = keras.saving.load_model(tmp_path / "run.keras")
    assert isinstance(model, dreamkeras.models.TextCNNClassifier)
    inputs = {k: np.asarray(v) for k, v in x.items()}
    probabilities = keras.ops.convert_to_numpy(model.predict(inputs, verbose=0))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_yelp5_csv_label_out_of_range(tmp_path, preset, capsys):
    """Yelp-5 CSV: stars 1-5 become 0-4; a 7 stops with a clear error."""
    folder = tmp_path / "yelp5"
    folder.mkdir()
    rows = ['"{}","text number {} is ""quoted"", ok"'.format(1 + i % 5, i) for i in range(20)]
    (folder / "test.csv").write_text("\n".join(rows) + "\n")
    (folder / "train.csv").write_text("\n".join(rows[:10] + ['"7","bad"'] + rows[10:]) + "\n")
    data = dk_text.load_text_csv(str(folder), num_classes=5)
    text, label = next(iter(data.eval))
    assert text.numpy() == b'text number 0 is "quoted", ok' and int(label) == 0
    status = yelp.main(
        TINY + ["--model", "textcnn", "--encoder", preset, "--yelp5", str(folder)]
        + paths(tmp_path)
    )
    assert status == 2
    err = capsys.readouterr().err
    assert "label" in err and "[0, 5)" in err and "6" in err
    assert not os.path.exists(tmp_path / "run.keras")


def test_fast_dev_run_says_it_is_not_real(tmp_path, capsys):
    status = yelp.main(
        ["--backend", BACKEND, "--fast-dev-run", "--model", "textcnn", "--epochs", "1", "--verbose", "0"]
        + paths(tmp_path)
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "NOT a real run" in out and "RANDOM" in out
    result = report(tmp_path)
    assert result["fast_dev_run"] and result["synthetic_data"]
    assert result["encoder_random_weights"]
    assert result["reload_check"]["abs_loss_diff"] < 1e-5


def test_clear_errors_for_bad_inputs(tmp_path, preset, capsys):
    def error(argv):
        assert text_folder.main(argv) == 2
        return capsys.readouterr().err

    base = ["--backend", BACKEND, "--verbose", "0", "--max-length", "16"] + paths(tmp_path)
    assert "--data-dir" in error(base + ["--encoder", preset])
    missing = str(tmp_path / "no_such_preset")
    assert "no_such_preset" in error(
        base + ["--encoder", missing, "--data-dir", str(tmp_path)]
    )
    one_class = tmp_path / "one"
    write_text_folder(one_class, ["a b", "c d"], [0, 0], ["only"])
    assert "at least 2" in error(base + ["--encoder", preset, "--data-dir", str(one_class)])
    # The tiny preset's encoder takes 32 positions.
    assert "max_sequence_length" in error(
        base + ["--encoder", preset, "--data-dir", str(one_class), "--max-length", "33"]
    )
    assert "--blocks must be 1 to 4" in error(base + ["--blocks", "5"])
    (tmp_path / "run.keras").write_text("keep me")
    assert "--overwrite" in error(base + ["--encoder", preset])
    assert (tmp_path / "run.keras").read_text() == "keep me"


def test_text_datasets_are_registered_with_shared_flags():
    for name in ("ag_news", "imdb", "yelp", "text_folder"):
        args = training.parse_args(name, ["--model", "lstm", "--max-train-examples", "5"])
        assert args.train_subset == 5 and args.model == "lstm"
        assert args.token_mode == "straight_through"
    args = training.parse_args("yelp", ["--sleep-mode", "argmax", "--yelp5", "x"])
    assert args.token_mode == "argmax" and args.yelp5 == "x"
    with pytest.raises(SystemExit):
        training.parse_args("imdb", ["--yelp5", "x"])
    assert isinstance(dk_data.DataError("x"), ValueError)
