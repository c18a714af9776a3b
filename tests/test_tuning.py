"""Tests of the KerasTuner searches (`dreamkeras.tuning`, `tuning/search.py`)."""

import json
import os

import keras
import keras_tuner
import numpy as np
import pytest

import dreamkeras
from dreamkeras import tuning
from dreamkeras.data import from_arrays
from tests.test_data_pipeline import write_fashion_mnist
from tests.test_training import read_events

BACKEND = keras.backend.backend()
# SleepNet on a random ViT, M in {1, 2}: the cheapest model with connections.
TINY = [
    "--backend", BACKEND, "--dataset", "fashion_mnist", "--model", "sleepnet",
    "--encoder", "vit-tiny-32", "--width", "8", "--batch-size", "8",
    "--epochs", "1", "--search-space", "blocks,unfreeze", "--values",
    "blocks=1,2", "--no-randaugment", "--verbose", "0", "--tuner-seed", "3",
]


class CountFits(keras.callbacks.Callback):
    """Counts trainings; class attributes survive KerasTuner's deep copies."""

    fits = 0
    kill_at_fit = None

    def on_train_begin(self, logs=None):
        type(self).fits += 1

    def on_epoch_end(self, epoch, logs=None):
        if type(self).fits == type(self).kill_at_fit:
            raise KeyboardInterrupt("simulated kill during a trial")


def _argv(tmp_path, *extra):
    data_dir = tmp_path / "fmnist"
    if not data_dir.exists():
        write_fashion_mnist(str(data_dir), n_train=40, n_test=16)
    return TINY + [
        "--data-dir", str(data_dir), "--directory", str(tmp_path / "runs"),
        "--project-name", "p",
    ] + list(extra)


def _completed(project):
    """{trial_id: trial.json} of the completed trials of a project."""
    trials = {}
    for name in os.listdir(project):
        if name.startswith("trial_"):
            with open(os.path.join(project, name, "trial.json")) as f:
                trial = json.load(f)
            if trial["status"] == "COMPLETED":
                trials[trial["trial_id"]] = trial
    return trials


@pytest.mark.app
def test_killed_search_resumes_and_best_model_loads(tmp_path, monkeypatch):
    project = str(tmp_path / "runs" / "p")
    # Run 1: killed during the second trial.
    monkeypatch.setattr(CountFits, "fits", 0)
    monkeypatch.setattr(CountFits, "kill_at_fit", 2)
    with pytest.raises(KeyboardInterrupt):
        tuning.run_search(_argv(tmp_path, "--max-trials", "2"), callbacks=[CountFits()])
    first = _completed(project)
    assert len(first) == 1
    (first_id, first_trial), = first.items()
    checkpoint = os.path.join(project, f"trial_{first_id}", "checkpoint.weights.h5")
    stamp = os.path.getmtime(checkpoint)

    # Run 2: the same command continues; only the killed trial runs again.
    monkeypatch.setattr(CountFits, "fits", 0)
    monkeypatch.setattr(CountFits, "kill_at_fit", None)
    summary = tuning.run_search(_argv(tmp_path, "--max-trials", "2"), callbacks=[CountFits()])
    assert CountFits.fits == 1
    assert summary["trials_finished_before_this_run"] == 1
    assert summary["trials_finished"] == 2
    again = _completed(project)
    assert again[first_id]["score"] == first_trial["score"]
    assert again[first_id]["hyperparameters"] == first_trial["hyperparameters"]
    assert os.path.getmtime(checkpoint) == stamp
    hps = [t["hyperparameters"]["values"] for t in again.values()]
    assert all(h["blocks"] in (1, 2) for h in hps)
    assert all(h["chain"] == "resnet18" and h["lr"] == 0.005 for h in hps)  # fixed

    # The table and JSON, best first.
    rows = summary["trials"]
    assert [r["rank"] for r in rows] == [1, 2]
    assert rows[0]["metrics"]["val_accuracy"] >= rows[1]["metrics"]["val_accuracy"]
    with open(os.path.join(project, "best_trials.md")) as f:
        table = f.read()
    assert "RANDOM weights" in table and "| rank | trial | blocks | unfreeze |" in table
    with open(os.path.join(project, "best_trials.json")) as f:
        assert json.load(f)["best"]["trial_id"] == rows[0]["trial_id"]

    # Per-trial TensorBoard logs with the run's hyperparameters.
    for row in rows:
        tags = read_events(row["logdir"])
        assert "epoch_val_accuracy" in tags or "epoch_accuracy" in tags
        assert any("hparams" in tag for tag in tags) or tags.get("hparams")

    # The best model reloads as a SleepNet with the best trial's M and gives
    # the same test accuracy.
    best = summary["best"]
    model = keras.saving.load_model(best["model_path"])
    assert isinstance(model, dreamkeras.SleepNet)
    assert model.num_blocks == best["hyperparameters"]["blocks"]
    assert model.trainable_encoder == best["hyperparameters"]["unfreeze"]
    data = dreamkeras.data.load_fashion_mnist(str(tmp_path / "fmnist"))
    args = tuning.vision_settings("fashion_mnist", batch_size=8)
    _, test_ds = dreamkeras.training.make_pipelines(args, data, (32, 32, 3))
    result = model.evaluate(test_ds, return_dict=True, verbose=0)
    np.testing.assert_allclose(result["accuracy"], best["test_accuracy"], atol=1e-6)

    # --report-only runs no trial and reports the same best trial.
    monkeypatch.setattr(CountFits, "fits", 0)
    report = tuning.run_search(
        _argv(tmp_path, "--max-trials", "3", "--report-only"), callbacks=[CountFits()]
    )
    assert CountFits.fits == 0 and report["trials_finished"] == 2
    assert report["best"]["trial_id"] == best["trial_id"]

    # Another command on the same project is refused, with the fix named.
    with pytest.raises(tuning.SearchSetupError, match="--overwrite"):
        tuning.run_search(_argv(tmp_path, "--max-trials", "2", "--width", "16"))


def _tiny_data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3))
    labels = rng.integers(0, 4, 16)
    return from_arrays("toy", images, labels, images[:8], labels[:8], num_classes=4)


def test_vision_hyperparameters_change_the_model():
    settings = tuning.vision_settings(
        "fashion_mnist", model="sleepnet", encoder="vit-tiny-32", width=8,
        weight_decay=0.0,
    )
    hypermodel = tuning.VisionHyperModel(
        settings, _tiny_data(), search_space=("blocks", "unfreeze", "weight_decay", "lr")
    )

    def build(**values):
        hp = keras_tuner.HyperParameters()
        for name, value in values.items():
            hp.values[name] = value
        hypermodel.declare_hyperparameters(hp)
        return hp, hypermodel.build(hp)

    hp, model = build(blocks=1, unfreeze=False, lr=1e-3, weight_decay=1e-4)
    connections = [l for l in model.layers if "connection" in l.name]
    assert model.num_blocks == 1 and len(connections) == 1
    frozen_trainable = len(model.trainable_weights)
    assert all(not w.trainable for w in model.encoder.weights)
    assert model.optimizer.weight_decay == pytest.approx(1e-4)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    # Unsearched hyperparameters are recorded as fixed at the flags' values.
    assert hp.get("chain") == "resnet18" and hp.get("mixup_alpha") == settings.mixup_alpha

    _, model = build(blocks=3, unfreeze=True, lr=1e-3, weight_decay=1e-4)
    connections = [l for l in model.layers if "connection" in l.name]
    assert model.num_blocks == 3 and len(connections) == 3
    assert model.trainable_encoder
    assert len(model.trainable_weights) > frozen_trainable + len(model.encoder.weights) - 1

    with pytest.raises(ValueError, match="Searchable"):
        tuning.VisionHyperModel(settings, _tiny_data(), search_space=("depth",))
    with pytest.raises(ValueError, match="not searched"):
        tuning.VisionHyperModel(settings, _tiny_data(), values={"lr": [0.1]})


@pytest.mark.app
def test_search_flags_are_checked(tmp_path, capsys):
    parser = tuning.build_search_parser()
    args = parser.parse_args([])
    assert (args.tuner, args.search_space, args.dataset) == ("random", "blocks,unfreeze", "fashion_mnist")
    for flag in ("--tuner", "--max-trials", "--executions-per-trial", "--directory",
                 "--project-name", "--overwrite", "--search-space", "--blocks", "--lr"):
        assert any(flag in action.option_strings for action in parser._actions)
    assert tuning.main(_argv(tmp_path, "--search-space", "blocks,depth")) == 2
    assert "unknown hyperparameter" in capsys.readouterr().err
    assert tuning.main(_argv(tmp_path, "--values", "lr=0.1")) == 2
    assert "not searched" in capsys.readouterr().err
    other = next(b for b in ("jax", "tensorflow", "torch") if b != BACKEND)
    assert tuning.main(_argv(tmp_path, "--backend", other)) == 2
    err = capsys.readouterr().err
    assert "new process" in err and "tuning/search.py" in err


def test_text_hyperparameters_change_the_model(tmp_path):
    from dreamkeras.text import testing

    words = ["the", "cat", "sat", "on", "mat"]
    tokenizer, masked_lm = testing.tiny_roberta(words, seed=0)
    preset = testing.save_tiny_preset(str(tmp_path / "roberta"), tokenizer, masked_lm)
    hypermodel = tuning.TextHyperModel(
        preset, num_classes=2, model="sleepnet",
        settings={"width": 8, "embedding": "random"},
        search_space=("blocks", "token_mode", "unfreeze"),
    )
    hp = keras_tuner.HyperParameters()
    hp.values.update(blocks=2, token_mode="argmax", unfreeze=False)
    hypermodel.declare_hyperparameters(hp)
    model = hypermodel.build(hp)
    assert isinstance(model, dreamkeras.models.TextSleepNet)
    assert model.num_blocks == 2 and model.token_mode == "argmax"
    assert len([l for l in model.layers if "connection" in l.name]) == 2
    assert all(not w.trainable for w in model.backbone.weights)
    x = {
        "token_ids": np.ones((4, 6), "int32"),
        "padding_mask": np.ones((4, 6), "int32"),
    }
    y = np.array([0, 1, 0, 1])
    history = hypermodel.fit(hp, model, x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="sleepnet"):
        tuning.TextHyperModel(preset, 2, model="lstm")
