"""The comparison command and its statistics, and the SmallCNN baseline."""

import json
import os

import keras
import numpy as np
import pytest
from scipy import stats

import dreamkeras
from dreamkeras.tuning import comparison
from dreamkeras_cli.compare import compare_app
from dreamkeras_cli.compare import parse_variants
from dreamkeras_cli.compare import run_paths
from dreamkeras_cli.config import TrainingSetupError
from tests.app_helpers import read_events


def _runs(table):
    return [
        {"variant": name, "seed": seed, "selected_test_accuracy": value,
         "best_val_accuracy": value + 0.01}
        for name, values in table.items() for seed, value in values.items()
    ]


def test_summary_statistics_match_an_independent_computation():
    table = {
        "chain": {1: 0.80, 2: 0.70, 3: 0.75, 4: 0.78},
        "sleep": {1: 0.82, 2: 0.74, 3: 0.74, 4: 0.83},
        "cnn": {1: 0.90, 3: 0.88},
    }
    summary = comparison.summarize(_runs(table), ["chain", "sleep", "cnn"])
    rows = {row["name"]: row for row in summary["variants"]}
    assert summary["reference"] == "chain"
    sleep = np.array([0.82, 0.74, 0.74, 0.83])
    np.testing.assert_allclose(rows["sleep"]["mean"], sleep.mean())
    np.testing.assert_allclose(rows["sleep"]["std"], np.std(sleep, ddof=1))
    differences = sleep - np.array([0.80, 0.70, 0.75, 0.78])
    low, high = stats.t.interval(
        0.95, len(differences) - 1, loc=differences.mean(), scale=stats.sem(differences)
    )
    np.testing.assert_allclose(rows["sleep"]["difference"]["ci95"], [low, high])
    assert rows["sleep"]["difference"]["wins"] == 3
    # Paired on the seeds both variants have (1 and 3) only.
    assert rows["cnn"]["difference"]["n"] == 2
    np.testing.assert_allclose(rows["cnn"]["difference"]["mean"], ((0.9 - 0.8) + (0.88 - 0.75)) / 2)
    assert rows["chain"]["difference"] is None
    np.testing.assert_allclose(rows["chain"]["val_mean"], np.mean([0.81, 0.71, 0.76, 0.79]))

    text = comparison.markdown_table(summary, {"sleep": "--model sleepnet"})
    assert "| sleep | 4 | 78.2 +- 4.9 |" in text
    assert f"{100 * differences.mean():+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]" in text
    assert "`--model sleepnet`" in text


def test_a_single_seed_has_no_interval_and_the_metric_is_checked():
    summary = comparison.summarize(_runs({"a": {1: 0.5}, "b": {1: 0.6}}), ["a", "b"])
    difference = summary["variants"][1]["difference"]
    assert difference["ci95"] is None and difference["n"] == 1
    assert summary["variants"][0]["std"] is None
    with pytest.raises(ValueError, match="metric"):
        comparison.summarize([], ["a"], metric="loss")


def test_run_metrics_select_on_validation():
    report = {"test_accuracy": 0.7, "best_model_test_accuracy": 0.75,
              "best_val_accuracy": 0.76, "params": {"trainable": 5, "frozen": 3},
              "seconds": {"total": 12.0}}
    metrics = comparison.run_metrics(report)
    assert metrics["selected_test_accuracy"] == 0.75
    assert comparison.run_metrics({"test_accuracy": 0.7})["selected_test_accuracy"] == 0.7
    assert metrics["frozen_params"] == 3


@pytest.mark.parametrize(
    "texts, message",
    [
        ([], "Give the variants"),
        (["chain"], "NAME=FLAGS"),
        (["a b=--model baseline"], "NAME=FLAGS"),
        (["a=--model baseline", "a=--model smallcnn"], "twice"),
    ],
)
def test_bad_variants_get_one_clear_error(texts, message):
    with pytest.raises(TrainingSetupError, match=message):
        parse_variants(texts)


def test_compare_refuses_flags_it_sets_and_flags_the_app_refuses(tmp_path, capsys):
    out = str(tmp_path / "cmp")
    status = compare_app(["--variant", "a=--model baseline --seed 3", "--output", out])
    assert status == 2 and "--seed" in capsys.readouterr().err
    status = compare_app(["--variant", "a=--model nonsense", "--output", out])
    assert status == 2 and "--variant a" in capsys.readouterr().err
    status = compare_app(["--variant", "a=--model baseline", "--reference", "b",
                          "--output", out])
    assert status == 2 and "--reference 'b' is not a variant" in capsys.readouterr().err
    assert not os.path.exists(out)


@pytest.mark.layer
def test_small_cnn_trains_and_round_trips(tmp_path):
    model = dreamkeras.models.SmallCNN(num_classes=3, image_shape=(12, 12, 1), width=4,
                                       hidden_units=8, dropout=0.1)
    assert model.output_shape == (None, 3)
    x = np.random.default_rng(0).random((6, 12, 12, 1)).astype("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, np.array([0, 1, 2, 0, 1, 2]), epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    path = str(tmp_path / "cnn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, dreamkeras.models.SmallCNN) and loaded.width == 4
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    with pytest.raises(ValueError, match="num_classes"):
        dreamkeras.models.SmallCNN(num_classes=1)


@pytest.mark.app
def test_compare_trains_every_variant_and_seed_then_resumes(tmp_path, capsys):
    out = str(tmp_path / "cmp")
    argv = [
        "--dataset", "fashion_mnist", "--seeds", "1", "2", "--output", out,
        "--variant", "cnn=--model smallcnn", "--variant", "chain=--model baseline --blocks 1",
        "--common", "--fast-dev-run --verbose 0",
    ]
    assert compare_app(argv) == 0
    with open(os.path.join(out, "results.json")) as file:
        results = json.load(file)
    assert sorted((r["variant"], r["seed"]) for r in results["runs"]) == [
        ("chain", 1), ("chain", 2), ("cnn", 1), ("cnn", 2)
    ]
    for run in results["runs"]:
        with open(run_paths(out, run["variant"], run["seed"])[1]) as file:
            report = json.load(file)
        assert report["config"]["schedule"]["seed"] == run["seed"]
        assert run["selected_test_accuracy"] == report["best_model_test_accuracy"]
    chain = results["summary"]["variants"][1]
    assert chain["difference"]["n"] == 2
    with open(os.path.join(out, "results.md")) as file:
        assert "| chain | 2 |" in file.read()
    assert os.path.getsize(os.path.join(out, "results.png")) > 1000
    tags = read_events(os.path.join(out, "hparams", "cnn_seed2"))
    assert "compare/selected_test_accuracy" in tags

    # A rerun trains nothing and keeps every finished run.
    capsys.readouterr()
    stamp = os.path.getmtime(run_paths(out, "cnn", 1)[0])
    assert compare_app(argv) == 0
    assert capsys.readouterr().out.count("finished earlier; skipped") == 4
    assert os.path.getmtime(run_paths(out, "cnn", 1)[0]) == stamp
    # The table against another reference, without training.
    assert compare_app(argv + ["--report-only", "--reference", "chain"]) == 0
    with open(os.path.join(out, "results.json")) as file:
        rows = json.load(file)["summary"]["variants"]
    assert rows[0]["difference"]["n"] == 2 and rows[1]["difference"] is None
    # Another budget in the same folder is refused, not mixed in.
    other = argv[:-1] + ["--fast-dev-run --epochs 3"]
    assert compare_app(other) == 2
