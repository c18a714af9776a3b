"""The entry points of the training apps, and the `dreamkeras` console command.

Every command runs in the same order (`dreamkeras_cli.runner`): parse the
flags (standard library only, so `--help` answers at once), build and check
the typed configuration, print the run's first line, set the environment
and import Keras, dreamkeras and the backend quietly
(`dreamkeras_cli.startup`), say which backend and device run, then hand the
configuration to the library. The tools (search, benchmark, dream grid,
text presets) are in `dreamkeras_cli.tool_commands`.

Example:

```python
from dreamkeras_cli import commands

status = commands.training_app("cifar100", ["--fast-dev-run"])
```
"""

import sys

from dreamkeras_cli import builders
from dreamkeras_cli import checks
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.datasets import DATASETS
from dreamkeras_cli.flags import build_parser
from dreamkeras_cli.runner import fail
from dreamkeras_cli.runner import run_command
from dreamkeras_cli.runner import run_guarded
from dreamkeras_cli.runner import start_backend  # noqa: F401  (part of the API)
from dreamkeras_cli.tool_commands import COMMANDS as TOOL_COMMANDS

TOOLS = (
    "pretrain-mae", "pretrain-mlm", "search", "search-text", "compare", "benchmark", "check-gpu",
    "dream", "text-preset",
)


def _training_title(name, config):
    model = config.model
    if config.fast_dev_run:
        what = "texts" if config.task in ("text", "mlm") else "images"
        encoder = {
            "text": "a tiny random RoBERTa preset", "image": "a tiny random encoder",
            "mlm": "a tiny RoBERTa",
        }.get(config.task, "mae-tiny-32")
        return (
            f"dreamkeras {name} --fast-dev-run: a smoke test, NOT a real run "
            f"(generated {what}, {encoder}, {config.schedule.epochs} epochs of "
            f"{config.schedule.steps_per_epoch} steps)."
        )
    if config.task == "mae":
        what = f"MAE pretraining of {model.encoder} on {config.data.dataset}"
    elif config.task == "mlm":
        what = (
            f"masked-LM pretraining of a RoBERTa (hidden {model.hidden_dim}, "
            f"{model.num_layers} layers) on {config.data.data_dir}"
        )
    else:
        what = f"--model {model.kind} --blocks {model.blocks} on {name}"
    return (
        f"dreamkeras {name}: {what}, {config.schedule.epochs} epochs of batch "
        f"{config.schedule.batch_size}."
    )


def run_config(dataset, argv=()):
    """The `RunConfig` a training app builds from `argv` (nothing runs).

    Args:
        dataset: str. A key of `dreamkeras_cli.datasets.DATASETS`, or
            `"pretrain-mae"`.
        argv: list of str. The app's flags.

    Returns:
        A `dreamkeras_cli.config.RunConfig`.

    Example:

    ```python
    config = run_config("fashion_mnist", ["--encoder", "mae-tiny-32", "--width", "8"])
    ```
    """
    if dataset == "pretrain-mae":
        return builders.mae_run_config(build_parser("mae").parse_args(list(argv)))
    info = _dataset(dataset)
    args = _app_parser(info).parse_args(list(argv))
    build = builders.text_run_config if info.family == "text" else builders.image_run_config
    return build(args, info)


def _dataset(name):
    if name not in DATASETS:
        raise TrainingSetupError(
            f"Unknown dataset {name!r}. Known datasets: {sorted(DATASETS)}; for your own "
            f"images use image_folder --data-dir DIR, for texts text_folder."
        )
    return DATASETS[name]


def _app_parser(info, prog=None):
    family = info.family
    description = (
        f"{info.description} Trains SleepNet / DreamNet (or a baseline) on a frozen "
        f"encoder and writes the model, a JSON report (accuracy, parameters, "
        f"throughput) and TensorBoard logs. Rerunning an interrupted command resumes "
        f"from its last finished epoch."
    )
    return build_parser(
        family, prog=prog, description=description, extra=info.extra_flags,
        defaults={"data_dir": info.default_data_dir},
        helps={"data_dir": info.data_dir_help},
    )


def _train(config, callbacks):
    def run():
        from dreamkeras.training import train
        from dreamkeras.training.runtime import setup_app_process

        setup_app_process()
        train(config, callbacks=callbacks)

    return run


def training_app(dataset, argv=None, callbacks=None, prog=None):
    """Runs a training app (`apps/<dataset>.py`); returns the exit status.

    Args:
        dataset: str. A key of `dreamkeras_cli.datasets.DATASETS`.
        argv: list of str or None (`sys.argv[1:]`).
        callbacks: list of extra `keras.callbacks.Callback` for `fit`.
        prog: str or None. Program name for `--help` and messages.

    Returns:
        int. 0 on success, 2 on a user error.

    Example:

    ```python
    sys.exit(training_app("cifar100", ["--fast-dev-run"]))
    ```
    """
    if dataset not in DATASETS:
        return run_guarded(lambda: _dataset(dataset))
    info = DATASETS[dataset]
    build = builders.text_run_config if info.family == "text" else builders.image_run_config

    def prepare(args, command):
        config = build(args, info, command=command)
        checks.check_data_flags(args, info.name, info.default_data_dir)
        return _training_title(dataset, config), _train(config, callbacks)

    return run_command(dataset, argv, prog, lambda p: _app_parser(info, p), prepare)


def pretrain_app(argv=None, callbacks=None, prog=None):
    """Runs the MAE pretraining app (`apps/pretrain_mae.py`); returns the exit status.

    Example:

    ```python
    sys.exit(pretrain_app(["--fast-dev-run"]))
    ```
    """
    description = (
        "Self-supervised MAE pretraining on unlabelled images. Writes a preset folder "
        "(--output) that SleepNet / DreamNet load as their frozen encoder (--encoder "
        "FOLDER in the training apps) and a JSON report with the held-out masked "
        "reconstruction loss of the trained and of the initial model. Rerunning an "
        "interrupted command resumes it."
    )

    def prepare(args, command):
        config = builders.mae_run_config(args, command=command)
        checks.check_data_flags(args, args.dataset)
        return _training_title("pretrain-mae", config), _train(config, callbacks)

    return run_command(
        "pretrain-mae", argv, prog,
        lambda p: build_parser("mae", prog=p, description=description), prepare,
    )


def pretrain_mlm_app(argv=None, callbacks=None, prog=None):
    """Runs the masked-LM pretraining app (`apps/pretrain_mlm.py`); returns the exit status.

    Example:

    ```python
    sys.exit(pretrain_mlm_app(["--corpus", "texts/", "--output", "presets/mine"]))
    ```
    """
    description = (
        "Pretrains a small RoBERTa masked LM on a folder of .txt files, with a byte-level "
        "BPE vocabulary built from the corpus, and writes a KerasHub preset folder "
        "(--output) that the text apps load with --encoder FOLDER. Its JSON report has the "
        "held-out masked-token accuracy of the initial and the trained model. Rerunning "
        "an interrupted command resumes it."
    )

    def prepare(args, command):
        config = builders.mlm_run_config(args, command=command)
        if not config.fast_dev_run:
            checks.check_corpus(config.data.data_dir, "--corpus")
        return _training_title("pretrain-mlm", config), _train(config, callbacks)

    return run_command(
        "pretrain-mlm", argv, prog,
        lambda p: build_parser("mlm", prog=p, description=description), prepare,
    )


def main(argv=None):
    """`dreamkeras <command> [flags]`: the console entry point.

    Commands: one per dataset app (`cifar100`, `fashion_mnist`, `ag_news`,
    ...), `pretrain-mae`, `search`, `benchmark`, `dream`, `text-preset`.

    Example:

    ```python
    sys.exit(main(["cifar100", "--fast-dev-run"]))
    ```
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    names = sorted(DATASETS) + list(TOOLS)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: dreamkeras COMMAND [flags]   (dreamkeras COMMAND --help for its flags)\n\n"
            "training apps, one per dataset:\n  "
            + "\n  ".join(f"{n:<14} {DATASETS[n].description}" for n in sorted(DATASETS))
            + "\ntools:\n  pretrain-mae   self-supervised MAE pretraining; writes an encoder preset"
            "\n  pretrain-mlm   masked-LM pretraining of a small RoBERTa on .txt files; a text preset"
            "\n  search         KerasTuner search over SleepNet / DreamNet hyperparameters"
            "\n  search-text    the same over text SleepNet / DreamNet (the text apps' flags)"
            "\n  compare        train variants over seeds; a table with paired differences"
            "\n  benchmark      parameters, FLOPs, throughput and memory of one model"
            "\n  check-gpu      run first on a GPU machine: device, precision and XLA per backend"
            "\n  dream          a PNG grid of a saved DreamNet's dreams"
            "\n  text-preset    a small random-weight text preset from a folder of .txt files"
        )
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    prog = f"dreamkeras {name}"
    if name in DATASETS:
        return training_app(name, rest, prog=prog)
    if name == "pretrain-mae":
        return pretrain_app(rest, prog=prog)
    if name == "pretrain-mlm":
        return pretrain_mlm_app(rest, prog=prog)
    if name == "compare":
        from dreamkeras_cli.compare import compare_app

        return compare_app(rest, prog=prog)
    if name in TOOL_COMMANDS:
        return TOOL_COMMANDS[name](rest, prog=prog)
    return fail(f"unknown command {name!r}; one of: {', '.join(names)}.")
