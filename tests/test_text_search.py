"""The text hyperparameter search (`dreamkeras search-text`, `tuning/search_text.py`).

One tiny search (2 trials on generated texts and a random preset) checks the
table, the best model, the HParams logs and the resume; the rest are the
checks that stop a search before anything runs.
"""

import json

import keras
import pytest

import dreamkeras
from dreamkeras.text.presets import build_random_preset
from dreamkeras.text.synthetic import DEMO_WORDS
from dreamkeras.text.synthetic import synthetic_texts
from dreamkeras_cli import tool_builders
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.datasets import DATASETS
from dreamkeras_cli.flags import build_parser
from tests.app_helpers import BACKEND
from tests.app_helpers import header
from tests.app_helpers import read_events
from tests.test_text_apps import write_text_folder
from tuning import search_text


def _search(argv):
    args = build_parser("search-text").parse_args(argv)
    return tool_builders.search_config(args, DATASETS[args.dataset])


def _tiny_search_argv(tmp_path):
    """Two trials (the LSTM and TextCNN chains) on generated texts and a random preset."""
    preset = str(tmp_path / "preset")
    build_random_preset(preset, words=DEMO_WORDS, hidden_dim=16, max_sequence_length=32, seed=3)
    texts, labels = synthetic_texts(3, 40, seed=1)
    write_text_folder(tmp_path / "texts", texts, labels, ["a", "b", "c"])
    return preset, [
        "--backend", BACKEND, "--dataset", "text_folder", "--data-dir", str(tmp_path / "texts"),
        "--model", "sleepnet", "--encoder", preset, "--blocks", "1", "--width", "4",
        "--max-length", "16", "--batch-size", "8", "--epochs", "1", "--steps-per-epoch", "2",
        "--eval-steps", "1", "--search-space", "chain",
        "--values", "chain=lstm,textcnn", "--max-trials", "2", "--verbose", "0",
        "--directory", str(tmp_path / "runs"), "--project-name", "p",
    ]


@pytest.mark.app
@pytest.mark.large  # the tuning family's default run is the vision search
def test_tiny_text_search_reports_and_saves_the_best_model(tmp_path, capsys):
    preset, argv = _tiny_search_argv(tmp_path)
    assert search_text.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("dreamkeras search-text: random search over chain of --model sleepnet")
    head = header(out)
    assert f"{preset}: RANDOM weights" in head["model"]
    assert head["data"].startswith("texts: 29 training / 3 validation / 8 test examples")
    project = tmp_path / "runs" / "p"
    with open(project / "best_trials.json") as f:
        summary = json.load(f)
    assert summary["trials_finished"] == 2 and summary["encoder_random_weights"]
    assert summary["augment"] and summary["max_length"] == 16
    chains = sorted(row["hyperparameters"]["chain"] for row in summary["trials"])
    assert chains == ["lstm", "textcnn"]
    assert summary["fixed"]["lr"] == 0.005 and summary["fixed"]["blocks"] == 1
    best = summary["best"]
    model = keras.saving.load_model(best["model_path"])
    assert isinstance(model, dreamkeras.models.TextSleepNet)
    assert model.chain == best["hyperparameters"]["chain"]
    assert 0.0 <= best["test_accuracy"] <= 1.0
    with open(project / "best_trials.md") as f:
        assert "| rank | trial | chain |" in f.read()
    tags = read_events(summary["trials"][0]["logdir"])
    assert "epoch_val_accuracy" in tags or "epoch_accuracy" in tags
    assert any("hparams" in tag for tag in tags)


@pytest.mark.app
@pytest.mark.large
def test_text_search_resumes_with_the_same_command(tmp_path, capsys):
    _, argv = _tiny_search_argv(tmp_path)
    one = list(argv)
    one[one.index("--max-trials") + 1] = "1"
    assert search_text.main(one) == 0
    assert search_text.main(argv) == 0  # The same project, one more trial.
    out = capsys.readouterr().out
    assert "(resuming: 1 trial(s) finished before)" in out
    with open(tmp_path / "runs" / "p" / "best_trials.json") as f:
        summary = json.load(f)
    assert summary["trials_finished"] == 2 and summary["trials_finished_before_this_run"] == 1
    # Another search on the same project is refused, with the fix named.
    other = argv + ["--lr", "0.001"]
    assert search_text.main(other) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "lstm"], "connected models"),
        (["--search-space", "chain,blocks"], "--values blocks=1,2,3"),
        (["--search-space", "chain,block_depth"], "applies to --chain lstm only"),
        (["--search-space", "blocks,projection"], "unknown hyperparameter"),
    ],
)
def test_text_search_errors_before_anything_runs(tmp_path, argv, message):
    base = ["--model", "sleepnet", "--encoder", "x", "--directory", str(tmp_path)]
    with pytest.raises(TrainingSetupError, match=message):
        _search(base + argv)


def test_search_text_app_refuses_a_vision_dataset(capsys):
    assert search_text.main(["--dataset", "cifar100"]) == 2
    assert "--dataset must be one of ['ag_news', 'imdb', 'text_folder', 'yelp']" in (
        capsys.readouterr().err
    )
