"""The text apps' training protocol and their `--chain` flag.

The defaults are the paper's shared protocol (30 epochs of Adam, lr 0.005,
betas 0.9 / 0.999, eps 1e-5, the 10% word-edit augmentation for every
model); the older defaults stay one flag away. `--chain` picks the chain of
TextSleepNet / TextDreamNet and reaches the model and the report.
"""

import contextlib

import pytest

import dreamkeras
from dreamkeras import training
from dreamkeras.text.presets import build_random_preset
from dreamkeras.text.synthetic import DEMO_WORDS
from dreamkeras.text.synthetic import synthetic_texts
from dreamkeras_cli import commands
from dreamkeras_cli.config import TrainingSetupError
from tests.test_text_apps import write_text_folder

TEXT_APPS = ("ag_news", "imdb", "yelp", "text_folder")


@pytest.mark.parametrize("app", TEXT_APPS)
def test_text_defaults_are_the_papers_protocol(app):
    config = commands.run_config(app)
    optimizer = config.optimizer
    assert config.schedule.epochs == 30
    assert (optimizer.lr, optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (
        0.005, 0.9, 0.999, 1e-5
    )
    assert config.augment.augment and config.augment.rate == 0.1
    assert optimizer.weight_decay == 0.0 and optimizer.label_smoothing == 0.0
    # Ours where the paper says nothing (docs/text.md says why).
    assert config.schedule.batch_size == 32 and optimizer.lr_schedule == "cosine"
    assert config.model.chain == "lstm" and config.model.max_length == 128
    # The same for every model, the baselines included.
    for model in ("lstm", "textcnn", "charcnn", "sleepnet"):
        other = commands.run_config(app, ["--model", model])
        assert other.augment == config.augment and other.optimizer == optimizer


def test_the_old_text_defaults_are_one_flag_each():
    config = commands.run_config("imdb", ["--epochs", "10", "--lr", "1e-3", "--no-augment"])
    assert config.schedule.epochs == 10 and config.optimizer.lr == 1e-3
    assert not config.augment.augment


def test_chain_flag_reaches_the_config():
    assert commands.run_config("cifar100").model.chain == "resnet18"
    config = commands.run_config("ag_news", ["--model", "dreamnet", "--chain", "textcnn"])
    assert config.model.chain == "textcnn"
    fast = commands.run_config(
        "ag_news", ["--fast-dev-run", "--model", "sleepnet", "--chain", "charcnn"]
    )
    assert fast.model.chain == "charcnn" and fast.model.max_length >= 27
    with pytest.raises(SystemExit):  # argparse: a vision chain is no text chain.
        commands.run_config("imdb", ["--chain", "resnet18"])


def test_charcnn_size_flag_reaches_the_config():
    from dreamkeras.models.text_baselines import CHARCNN_SIZES
    from dreamkeras_cli.flags.base import CHARCNN_SIZES as FLAG_SIZES

    assert FLAG_SIZES == tuple(CHARCNN_SIZES)  # The flags name them without Keras.
    assert commands.run_config("ag_news", ["--model", "charcnn"]).model.charcnn_size == "small"
    config = commands.run_config("ag_news", ["--model", "charcnn", "--charcnn-size", "large"])
    assert config.model.kind == "charcnn" and config.model.charcnn_size == "large"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "lstm", "--chain", "textcnn"], "the baselines are --model lstm"),
        (["--model", "sleepnet", "--chain", "charcnn", "--blocks", "4"], "1 to 3"),
        (["--model", "dreamnet", "--chain", "textcnn", "--block-depth", "2"],
         "applies to --chain lstm only"),
        (["--model", "sleepnet", "--chain", "charcnn", "--max-length", "20"],
         "at least 27"),
        (["--model", "charcnn", "--max-length", "20"],
         "--model charcnn pools .* at least 27, got 20"),
        (["--model", "charcnn", "--chain", "charcnn"], "the baselines are --model lstm"),
    ],
)
def test_bad_chain_flags_are_one_line_errors(argv, message):
    with pytest.raises(TrainingSetupError, match=message) as error:
        commands.run_config("text_folder", argv)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kind, chain", [("sleepnet", "textcnn"), ("dreamnet", "charcnn")])
def test_chain_reaches_the_model_and_the_report(tmp_path, kind, chain):
    preset = str(tmp_path / "preset")
    build_random_preset(preset, words=DEMO_WORDS, hidden_dim=16, max_sequence_length=32, seed=3)
    texts, labels = synthetic_texts(3, 24, seed=1)
    write_text_folder(tmp_path / "texts", texts, labels, ["a", "b", "c"])
    config = commands.run_config(
        "text_folder",
        ["--model", kind, "--chain", chain, "--encoder", preset, "--data-dir",
         str(tmp_path / "texts"), "--blocks", "1", "--width", "4", "--max-length", "27",
         "--batch-size", "4"],
    )
    run = training.TextClassification().prepare(config, contextlib.nullcontext())
    cls = dreamkeras.models.TextSleepNet if kind == "sleepnet" else dreamkeras.models.TextDreamNet
    assert isinstance(run.model, cls) and run.model.chain == chain
    name = {"textcnn": "TextCNN", "charcnn": "CharCNN"}[chain]
    assert f"1 {name} block(s) of width 4" in run.lines[0]
    assert run.report["chain"] == chain and run.report["augment"]
