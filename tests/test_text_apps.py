"""The text apps (`apps/ag_news.py`, `imdb.py`, `yelp.py`, `text_folder.py`).

The default suite runs one fast dev run, builds the header of every model
kind on a random preset (which says RANDOM only where the encoder's weights
are used, and matches the baselines' embedding width), and the errors that
stop before training; the other end-to-end runs are `large`.
"""

import contextlib
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import dreamkeras
from apps import ag_news
from apps import imdb
from apps import text_folder
from apps import yelp
from dreamkeras import text as dk_text
from dreamkeras import training
from dreamkeras.text.presets import build_random_preset
from dreamkeras.text.synthetic import DEMO_WORDS
from dreamkeras.text.synthetic import synthetic_texts
from dreamkeras_cli import commands
from tests.app_helpers import BACKEND
from tests.app_helpers import FIRST_LINE
from tests.app_helpers import Interrupt
from tests.app_helpers import header
from tests.app_helpers import paths
from tests.app_helpers import read_events
from tests.app_helpers import report

pytestmark = pytest.mark.app

MAX_LENGTH = 16
# The cheapest settings: one block, width 8, two steps, one eval batch.
TINY = [
    "--backend", BACKEND, "--blocks", "1", "--width", "8",
    "--max-length", str(MAX_LENGTH), "--batch-size", "8", "--epochs", "1",
    "--steps-per-epoch", "2", "--eval-steps", "1", "--verbose", "0",
]


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """A local RoBERTa preset (random weights, hidden size 16)."""
    directory = str(tmp_path_factory.mktemp("tiny_roberta") / "preset")
    build_random_preset(directory, words=DEMO_WORDS, hidden_dim=16, max_sequence_length=32, seed=3)
    return directory


def write_text_folder(root, texts, labels, class_names, split=None):
    """Writes texts as root/[split/]<class>/<i>.txt."""
    for i, (text, label) in enumerate(zip(texts, labels)):
        folder = os.path.join(root, *([split] if split else []), class_names[label])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:04d}.txt"), "w") as f:
            f.write(text)


def keras_hub_tokenizer(preset):
    import keras_hub

    return keras_hub.tokenizers.Tokenizer.from_preset(preset)


def test_fast_dev_run_says_it_is_not_real_and_dreams(tmp_path, capsys):
    argv = ["--backend", BACKEND, "--fast-dev-run", "--blocks", "1", "--verbose", "0"]
    assert yelp.main(argv + paths(tmp_path)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert FIRST_LINE.match(lines[0]) and "NOT a real run" in lines[0]
    head = header(out)
    preset = str(tmp_path / "run_logs" / "fast_dev_run_random_roberta")
    assert head["replaces"].startswith(f"--encoder roberta_base_en -> {preset}")
    assert head["model"].startswith("TextDreamNet, 1 LSTM block(s) of width 8, embedding width 32")
    assert f"encoder {preset}: RANDOM weights" in head["model"]
    assert head["data"].startswith(
        "yelp (synthetic): 86 training / 10 validation / 16 test texts, 2 classes"
    )
    assert "Dreams (original, then one per dream connection):" in out

    result = report(tmp_path)
    assert result["fast_dev_run"] and result["synthetic_data"] and result["encoder_random_weights"]
    assert result["uses_encoder_weights"] and result["embedding_dim"] == 32
    assert result["epochs_completed"] == 2 and result["optimizer_steps"] == 4
    assert result["reload_check"]["abs_loss_diff"] < 1e-5
    # One decoded dream per connection for each sample text, as the saved
    # model decodes them.
    model = keras.saving.load_model(tmp_path / "run.keras")
    assert isinstance(model, dreamkeras.models.TextDreamNet)
    assert all(not w.trainable for w in model.masked_lm.weights)
    preprocessor = dk_text.make_preprocessor(keras_hub_tokenizer(preset), MAX_LENGTH)
    samples = [row["original"] for row in result["dreams"]]
    assert len(samples) == 3 and all(len(row["dreams"]) == 1 for row in result["dreams"])
    assert dreamkeras.dreams.dream_texts(model, samples, preprocessor) == result["dreams"]
    tags = read_events(str(tmp_path / "run_logs"))
    assert "dreams" in tags and "epoch_accuracy" in tags


@pytest.mark.large  # About 140 s on two busy CPU cores.
def test_charcnn_baseline_fast_dev_run_reloads_with_the_same_predictions(tmp_path, capsys):
    from dreamkeras.training.text_task import load_text_training_data
    from dreamkeras.training.text_task import text_pipelines

    argv = ["--backend", BACKEND, "--fast-dev-run", "--model", "charcnn", "--verbose", "0"]
    assert ag_news.main(argv + paths(tmp_path)) == 0
    head = header(capsys.readouterr().out)
    # The chain's fast dev run length: the three poolings need 27 tokens.
    assert "--max-length 128 -> 32" in head["replaces"]
    assert head["model"].startswith(
        "CharCNNClassifier, Zhang et al.'s small CharCNN, embedding width 32"
    )
    result = report(tmp_path)
    assert result["model"] == "CharCNNClassifier" and not result["uses_encoder_weights"]
    assert result["flops_per_text"]["by_kind"]["conv"] > 0
    assert result["reload_check"]["abs_loss_diff"] < 1e-5

    model = keras.saving.load_model(tmp_path / "run.keras")
    assert isinstance(model, dreamkeras.models.CharCNNClassifier)
    assert (model.size, model.padding, model.sequence_length) == ("small", "same", 32)
    # The reloaded model predicts the test texts as the trained one did.
    config = commands.run_config("ag_news", argv + paths(tmp_path / "again"))
    preset = str(tmp_path / "run_logs" / "fast_dev_run_random_roberta")
    preprocessor = dk_text.make_preprocessor(keras_hub_tokenizer(preset), 32)
    _, test_ds, _, _ = text_pipelines(
        config, load_text_training_data(config), preprocessor, train=False
    )
    labels = np.concatenate([y for _, y in test_ds.as_numpy_iterator()])
    probabilities = model.predict(test_ds, verbose=0)
    picked = probabilities[np.arange(len(labels)), labels.reshape(-1).astype(int)]
    assert abs(-np.log(picked).mean() - result["test_loss"]) < 1e-4
    accuracy = (probabilities.argmax(-1) == labels.reshape(-1)).mean()
    assert accuracy == pytest.approx(result["test_accuracy"])


def test_charcnn_baseline_refuses_a_max_length_its_poolings_cannot_take(
    tmp_path, preset, capsys
):
    argv = ["--backend", BACKEND, "--model", "charcnn", "--encoder", preset,
            "--data-dir", str(tmp_path), "--max-length", "26"]
    assert text_folder.main(argv + paths(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: --model charcnn pools the sequence by 3") and (
        "at least 27, got 26" in err
    ), err


@pytest.mark.parametrize(
    "kind, random_shown",
    [
        ("lstm", False),
        ("charcnn", False),
        pytest.param("textcnn", False, marks=pytest.mark.large),
        pytest.param("sleepnet", True, marks=pytest.mark.large),
    ],
)
def test_header_says_random_only_where_the_encoder_weights_are_used(
    tmp_path, preset, kind, random_shown
):
    """The fast dev run above shows RANDOM for a DreamNet; a baseline does not."""
    texts, labels = synthetic_texts(3, 24, seed=1)
    write_text_folder(tmp_path / "texts", texts, labels, ["a", "b", "c"])
    # The CharCNN's three poolings need 27 tokens.
    max_length = "32" if kind == "charcnn" else "16"
    config = commands.run_config(
        "text_folder",
        ["--model", kind, "--encoder", preset, "--data-dir", str(tmp_path / "texts"),
         "--blocks", "1", "--max-length", max_length, "--batch-size", "4"],
    )
    run = training.TextClassification().prepare(config, contextlib.nullcontext())
    model_line = run.lines[0]
    assert ("RANDOM" in model_line) == random_shown, model_line
    if not random_shown:
        assert model_line.endswith(f"tokenizer of {preset} (its weights are not used)")
    # Matched baselines: every model's token embedding is the encoder's width.
    assert "embedding width 16" in model_line
    assert run.report["embedding_dim"] == 16
    assert run.report["uses_encoder_weights"] == (kind == "sleepnet")
    embeddings = [w for w in run.model.weights if "embedding" in w.path and w.shape[-1] == 16]
    assert embeddings, [w.path for w in run.model.weights]


def test_baselines_take_the_connected_models_embedding_width():
    from dreamkeras.training.text_task import embedding_width
    from dreamkeras_cli.config import TextModel

    for kind in ("lstm", "textcnn", "charcnn"):
        assert embedding_width(TextModel(kind=kind, width=64), 768) == 768
        assert embedding_width(TextModel(kind=kind, embedding_dim=100), 768) == 100
    assert embedding_width(TextModel(kind="sleepnet", width=64), 768) == 768
    random = TextModel(kind="dreamnet", width=64, embedding="random")
    assert embedding_width(random, 768) == 64


def test_errors_before_training_are_one_line(tmp_path, preset, capsys):
    def error(argv):
        assert text_folder.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return err

    base = ["--backend", BACKEND, "--verbose", "0", "--max-length", "16"] + paths(tmp_path)
    assert "--data-dir" in error(base + ["--encoder", preset])
    assert "no_such_preset" in error(
        base + ["--encoder", str(tmp_path / "no_such_preset"), "--data-dir", str(tmp_path)]
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
    assert "--overwrite" in error(base + ["--encoder", preset, "--data-dir", str(one_class)])
    assert (tmp_path / "run.keras").read_text() == "keep me"


@pytest.mark.large
def test_ag_news_dreamnet_on_tfds_mock_data(tmp_path, preset):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=16):
        status = ag_news.main(TINY + ["--model", "dreamnet", "--encoder", preset] + paths(tmp_path))
    assert status == 0
    result = report(tmp_path)
    assert result["model"] == "TextDreamNet" and result["num_classes"] == 4
    assert result["encoder_random_weights"] and not result["fast_dev_run"]
    assert result["epochs_completed"] == 1 and result["optimizer_steps"] == 2
    model = keras.saving.load_model(tmp_path / "run.keras")
    params = result["params"]
    assert params["frozen"] == params["encoder"] == sum(
        int(np.prod(w.shape)) for w in model.masked_lm.weights
    )


@pytest.mark.large
def test_imdb_lstm_baseline_with_augmentation(tmp_path, preset, capsys):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        status = imdb.main(TINY + ["--model", "lstm", "--encoder", preset, "--augment"] + paths(tmp_path))
    assert status == 0
    assert "RANDOM" not in capsys.readouterr().out
    result = report(tmp_path)
    assert result["model"] == "LSTMClassifier" and result["num_classes"] == 2
    assert result["augment"] and result["params"]["frozen"] == 0
    assert result["dataset"] == "imdb_reviews" and not result["uses_encoder_weights"]


@pytest.mark.large
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
        "--model", "textcnn", "--encoder", preset, "--data-dir", str(folder), "--epochs", "2",
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
    probabilities = keras.ops.convert_to_numpy(
        model.predict({k: np.asarray(v) for k, v in x.items()}, verbose=0)
    )
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.large
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
        TINY + ["--model", "textcnn", "--encoder", preset, "--yelp5", str(folder)] + paths(tmp_path)
    )
    assert status == 2
    err = capsys.readouterr().err
    assert "label" in err and "[0, 5)" in err and "6" in err
    assert not os.path.exists(tmp_path / "run.keras")
