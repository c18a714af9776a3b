"""Tests of the KerasTuner searches (`dreamkeras.tuning`, `tuning/search.py`).

The default suite runs the HyperModels' builds and one small search; the
killed-and-resumed search is `large`.
"""

import json
import os

import keras
import keras_tuner
import numpy as np
import pytest

import dreamkeras
from dreamkeras import tuning
from dreamkeras.data import from_arrays
from dreamkeras.text.presets import build_random_preset
from dreamkeras_cli import tool_builders
from dreamkeras_cli import commands
from dreamkeras_cli.datasets import DATASETS
from dreamkeras_cli.flags import build_parser
from tests.app_helpers import BACKEND
from tests.app_helpers import OTHER_BACKEND
from tests.app_helpers import header
from tests.app_helpers import read_events
from tests.helpers import assert_bitwise_equal
from tests.helpers import assert_some_changed
from tests.helpers import snapshot
from tests.test_data_pipeline import write_fashion_mnist
from tuning import search as search_script
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


def _search(argv):
    args = build_parser("search").parse_args(argv)
    return tool_builders.search_config(args, DATASETS[args.dataset])


@pytest.mark.app
def test_one_small_search_reports_and_saves_the_best_model(tmp_path, capsys):
    argv = _argv(tmp_path, "--max-trials", "1")
    argv[argv.index("blocks=1,2")] = "blocks=1"
    assert search_script.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("dreamkeras search: random search over blocks,unfreeze")
    head = header(out)
    project = tmp_path / "runs" / "p"
    assert head["project"].startswith(f"{project} (0 trial(s) finished before)")
    assert "vit-tiny-32: RANDOM weights" in head["model"]
    assert head["data"].startswith("fashion_mnist: 36 training / 4 validation / 16 test examples")
    with open(project / "best_trials.json") as f:
        summary = json.load(f)
    assert summary["trials_finished"] == 1 and summary["encoder_random_weights"]
    best = summary["best"]
    assert best["hyperparameters"]["blocks"] == 1
    assert summary["fixed"]["lr"] == 0.005 and summary["fixed"]["chain"] == "resnet18"
    model = keras.saving.load_model(best["model_path"])
    assert isinstance(model, dreamkeras.SleepNet) and model.num_blocks == 1
    assert model.trainable_encoder == best["hyperparameters"]["unfreeze"]
    # The test accuracy in the summary is the saved best model's.
    config = commands.run_config("fashion_mnist", ["--batch-size", "8", "--data-dir", str(tmp_path / "fmnist")])
    data = dreamkeras.data.load_fashion_mnist(str(tmp_path / "fmnist"))
    _, test_ds = dreamkeras.training.make_pipelines(config, data, (32, 32, 3))
    result = model.evaluate(test_ds, return_dict=True, verbose=0)
    np.testing.assert_allclose(result["accuracy"], best["test_accuracy"], atol=1e-6)
    with open(project / "best_trials.md") as f:
        assert "| rank | trial | blocks | unfreeze |" in f.read()


@pytest.mark.app
@pytest.mark.large
def test_killed_search_resumes_and_best_model_loads(tmp_path, monkeypatch):
    project = str(tmp_path / "runs" / "p")
    # Run 1: killed during the second trial.
    monkeypatch.setattr(CountFits, "fits", 0)
    monkeypatch.setattr(CountFits, "kill_at_fit", 2)
    with pytest.raises(KeyboardInterrupt):
        tuning.run_search(_search(_argv(tmp_path, "--max-trials", "2")), callbacks=[CountFits()])
    first = _completed(project)
    assert len(first) == 1
    (first_id, first_trial), = first.items()
    checkpoint = os.path.join(project, f"trial_{first_id}", "checkpoint.weights.h5")
    stamp = os.path.getmtime(checkpoint)

    # Run 2: the same command continues; only the killed trial runs again.
    monkeypatch.setattr(CountFits, "fits", 0)
    monkeypatch.setattr(CountFits, "kill_at_fit", None)
    summary = tuning.run_search(_search(_argv(tmp_path, "--max-trials", "2")), callbacks=[CountFits()])
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

    # --report-only runs no trial and reports the same best trial.
    monkeypatch.setattr(CountFits, "fits", 0)
    report = tuning.run_search(
        _search(_argv(tmp_path, "--max-trials", "3", "--report-only")), callbacks=[CountFits()]
    )
    assert CountFits.fits == 0 and report["trials_finished"] == 2
    assert report["best"]["trial_id"] == best["trial_id"]

    # Another command on the same project is refused, with the fix named.
    with pytest.raises(dreamkeras.training.TrainingSetupError, match="--overwrite"):
        tuning.run_search(_search(_argv(tmp_path, "--max-trials", "2", "--width", "16")))


def _tiny_data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3))
    labels = rng.integers(0, 4, 16)
    return from_arrays("toy", images, labels, images[:8], labels[:8], num_classes=4)


def test_vision_hyperparameters_change_the_model():
    config = commands.run_config(
        "fashion_mnist", ["--model", "sleepnet", "--encoder", "vit-tiny-32", "--width", "8"]
    )
    hypermodel = tuning.VisionHyperModel(
        config, _tiny_data(), search_space=("blocks", "unfreeze", "weight_decay", "lr")
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
    # The searched rate is the schedule's peak (warm-up starts below it).
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, dreamkeras.training.WarmupSchedule)
    assert schedule.learning_rate == pytest.approx(1e-3)
    # Unsearched hyperparameters are recorded as fixed at the flags' values.
    assert hp.get("chain") == "resnet18" and hp.get("mixup_alpha") == config.augment.mixup_alpha
    trial = hypermodel.trial_config(hp)
    assert (trial.model.blocks, trial.optimizer.lr, trial.optimizer.weight_decay) == (1, 1e-3, 1e-4)
    assert config.model.blocks == 3 and config.optimizer.lr == 0.005  # Unchanged.

    _, model = build(blocks=3, unfreeze=True, lr=1e-3, weight_decay=1e-4)
    connections = [l for l in model.layers if "connection" in l.name]
    assert model.num_blocks == 3 and len(connections) == 3
    assert model.trainable_encoder
    assert len(model.trainable_weights) > frozen_trainable + len(model.encoder.weights) - 1

    with pytest.raises(ValueError, match="Searchable"):
        tuning.VisionHyperModel(config, _tiny_data(), search_space=("depth",))
    with pytest.raises(ValueError, match="not searched"):
        tuning.VisionHyperModel(config, _tiny_data(), values={"lr": [0.1]})
    baseline = commands.run_config("fashion_mnist", ["--model", "baseline"])
    with pytest.raises(ValueError, match="no encoder connection"):
        tuning.VisionHyperModel(baseline, _tiny_data(), search_space=("unfreeze",))


def test_search_errors_are_one_line(tmp_path, capsys):
    assert search_script.main(_argv(tmp_path, "--search-space", "blocks,depth")) == 2
    assert "unknown hyperparameter" in capsys.readouterr().err
    assert search_script.main(_argv(tmp_path, "--backend", OTHER_BACKEND)) == 2
    err = capsys.readouterr().err
    assert "new process" in err and "tuning/search.py" in err
    assert not (tmp_path / "runs").exists()


def test_text_hyperparameters_change_the_model(tmp_path):
    preset = str(tmp_path / "roberta")
    build_random_preset(preset, words=["the", "cat", "sat", "on", "mat"], hidden_dim=16, seed=0)
    config = commands.run_config(
        "text_folder",
        ["--model", "sleepnet", "--encoder", preset, "--width", "8", "--embedding", "random"],
    )
    hypermodel = tuning.TextHyperModel(
        config, num_classes=2, search_space=("blocks", "token_mode", "unfreeze")
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
        "token_ids": np.array([[0, 5, 6, 7, 2, 1], [0, 8, 9, 2, 1, 1]] * 2, "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]] * 2, "int32"),
    }
    y = np.array([0, 1, 0, 1])
    frozen, trained = snapshot(model.backbone.weights), snapshot(model.trainable_weights)
    history = hypermodel.fit(hp, model, x, y, epochs=2, batch_size=4, verbose=0)
    assert len(history.history["loss"]) == 2
    assert_bitwise_equal(frozen, model.backbone.weights)  # The encoder stays frozen,
    assert_some_changed(trained, model.trainable_weights)  # the rest trains.
    with pytest.raises(ValueError, match="sleepnet or dreamnet"):
        tuning.TextHyperModel(commands.run_config("text_folder", ["--model", "lstm"]), 2)
