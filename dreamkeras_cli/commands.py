"""The entry points of the apps, the tuner, the benchmark and the tools.

Every command runs in the same order: parse the flags (standard library
only, so `--help` answers at once), build and check the typed configuration,
print the run's first line, set the environment and import Keras, dreamkeras
and the backend quietly (`dreamkeras_cli.startup`), say which backend and
device run, then hand the configuration to the library. User errors (bad
flags, a missing dataset or encoder, an existing output) print one
`error: ...` line and return exit status 2, never a traceback.

Example:

```python
from dreamkeras_cli import commands

status = commands.training_app("cifar100", ["--fast-dev-run"])
```
"""

import os
import sys

from dreamkeras_cli import builders
from dreamkeras_cli import startup
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.datasets import DATASETS
from dreamkeras_cli.flags import build_parser

TOOLS = ("pretrain-mae", "search", "benchmark", "dream", "text-preset")


def _command(prog, name):
    if prog and prog.endswith(".py"):
        return f"python {prog}"
    return prog or f"dreamkeras {name}"


def _fail(error):
    print(f"error: {error}", file=sys.stderr, flush=True)
    return 2


def run_guarded(run):
    """Runs `run()`; user errors become one `error:` line and status 2."""
    try:
        run()
    except TrainingSetupError as error:
        return _fail(error)
    except Exception as error:
        errors = sys.modules.get("dreamkeras.data.errors")
        if errors is not None and isinstance(error, errors.DataError):
            return _fail(error)
        raise
    return 0


def start_backend(args, command, libraries=("dreamkeras",)):
    """Sets the environment, imports the backend quietly and prints its line.

    Args:
        args: parsed flags with `backend` and `debug` (and maybe `remat`).
        command: str. The command, for the error message.
        libraries: tuple of str. Modules to import with the backend.

    Returns:
        str. The backend.

    Raises:
        TrainingSetupError: Keras already runs another backend here.
    """
    backend = startup.prepare_process(
        args.backend, remat=getattr(args, "remat", False), debug=args.debug
    )
    try:
        device = startup.import_backend(backend, debug=args.debug, libraries=libraries)
    except RuntimeError as running:
        raise TrainingSetupError(
            f"--backend {backend} was asked for, but Keras was already imported with "
            f"the {running} backend in this process. Run {command} --backend "
            f"{backend} in a new process or set KERAS_BACKEND={backend}."
        ) from None
    import keras

    print(startup.header_line("backend", f"{backend} (Keras {keras.__version__}) on {device}"),
          flush=True)
    return backend


def _training_title(name, config):
    model = config.model
    if config.fast_dev_run:
        what = "images" if config.task != "text" else "texts"
        encoder = "a tiny random RoBERTa preset" if config.task == "text" else (
            "a tiny random encoder" if config.task == "image" else "mae-tiny-32"
        )
        return (
            f"dreamkeras {name} --fast-dev-run: a smoke test, NOT a real run "
            f"(generated {what}, {encoder}, {config.schedule.epochs} epochs of "
            f"{config.schedule.steps_per_epoch} steps)."
        )
    if config.task == "mae":
        what = f"MAE pretraining of {model.encoder} on {config.data.dataset}"
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
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(prog, dataset)

    def run():
        info = _dataset(dataset)
        args = _app_parser(info, prog or f"dreamkeras {dataset}").parse_args(argv)
        build = builders.text_run_config if info.family == "text" else builders.image_run_config
        config = build(args, info, command=command)
        print(_training_title(dataset, config), flush=True)
        start_backend(args, command)
        from dreamkeras.training import train
        from dreamkeras.training.runtime import setup_app_process

        setup_app_process()
        train(config, callbacks=callbacks)

    return run_guarded(run)


def pretrain_app(argv=None, callbacks=None, prog=None):
    """Runs the MAE pretraining app (`apps/pretrain_mae.py`); returns the exit status.

    Example:

    ```python
    sys.exit(pretrain_app(["--fast-dev-run"]))
    ```
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(prog, "pretrain-mae")

    def run():
        parser = build_parser(
            "mae", prog=prog or "dreamkeras pretrain-mae",
            description="Self-supervised MAE pretraining on unlabelled images. Writes "
            "a preset folder (--output) that SleepNet / DreamNet load as their frozen "
            "encoder (--encoder FOLDER in the training apps) and a JSON report with "
            "the held-out masked reconstruction loss of the trained and of the "
            "initial model. Rerunning an interrupted command resumes it.",
        )
        args = parser.parse_args(argv)
        config = builders.mae_run_config(args, command=command)
        print(_training_title("pretrain-mae", config), flush=True)
        start_backend(args, command)
        from dreamkeras.training import train
        from dreamkeras.training.runtime import setup_app_process

        setup_app_process()
        train(config, callbacks=callbacks)

    return run_guarded(run)


def search_app(argv=None, callbacks=None, prog=None):
    """Runs a hyperparameter search (`tuning/search.py`); returns the exit status.

    Example:

    ```python
    sys.exit(search_app(["--max-trials", "2", "--encoder", "vit-tiny-32"]))
    ```
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(prog, "search")

    def run():
        parser = build_parser(
            "search", prog=prog or "dreamkeras search",
            description="KerasTuner search over SleepNet / DreamNet hyperparameters. "
            "Each trial trains like the vision apps (same flags) and validates on a "
            "part of the training split (--validation-split); the best model is "
            "evaluated on the test split. Rerunning the same command resumes.",
        )
        args = parser.parse_args(argv)
        search = builders.search_config(args, _vision_dataset(args.dataset), command=command)
        print(
            f"dreamkeras search: {search.tuner} search over {','.join(search.search_space)} "
            f"of --model {search.run.model.kind} on {args.dataset}, up to "
            f"{search.max_trials} trials of {search.run.schedule.epochs} epoch(s).",
            flush=True,
        )
        start_backend(args, command, libraries=("dreamkeras", "keras_tuner"))
        from dreamkeras.training.runtime import setup_app_process
        from dreamkeras.tuning import run_search

        setup_app_process()
        run_search(search, callbacks=callbacks)

    return run_guarded(run)


def _vision_dataset(name):
    info = DATASETS.get(name)
    if info is None or info.family != "vision":
        vision = sorted(k for k, v in DATASETS.items() if v.family == "vision")
        raise TrainingSetupError(f"--dataset must be one of {vision}. Received: {name!r}.")
    return info


def benchmark_app(argv=None, prog=None):
    """Runs the benchmark (`apps/benchmark.py`); returns the exit status.

    Example:

    ```python
    sys.exit(benchmark_app(["--encoder", "mae-tiny-32", "--width", "8"]))
    ```
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(prog, "benchmark")

    def run():
        parser = build_parser(
            "benchmark", prog=prog or "dreamkeras benchmark",
            description="Parameters, FLOPs, train and inference throughput, the "
            "share of a measured matmul peak and peak memory of SleepNet, DreamNet "
            "or the plain chain, printed and written to JSON (--output).",
        )
        args = parser.parse_args(argv)
        config = builders.benchmark_config(args, startup.select_backend(args.backend))
        model = config.model
        print(
            f"dreamkeras benchmark: {model.kind}-{model.blocks} on {model.encoder}, "
            f"batch {config.batch_size}, {config.steps} timed steps.",
            flush=True,
        )
        start_backend(args, command)
        from dreamkeras.training.benchmark import run_benchmark

        run_benchmark(config)

    return run_guarded(run)


def dream_app(argv=None, prog=None):
    """Draws a saved DreamNet's dreams (`apps/dream.py`); returns the exit status.

    Example:

    ```python
    sys.exit(dream_app(["--model", "dreamnet.keras", "--images", "photos/"]))
    ```
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(prog, "dream")

    def run():
        from dreamkeras_cli import dream

        parser = build_parser(
            "dream", prog=prog or "dreamkeras dream",
            description="Saves a PNG grid of a trained DreamNet's inputs and their "
            "reconstructions (dreams), one row per image.",
        )
        args = parser.parse_args(argv)
        dream.check_args(args)
        print(f"dreamkeras dream: the dreams of {os.path.abspath(args.model)}.", flush=True)
        start_backend(args, command)
        dream.draw(args)

    return run_guarded(run)


def text_preset_app(argv=None, prog=None):
    """Builds a random-weight text preset from a corpus; returns the exit status.

    Example:

    ```python
    sys.exit(text_preset_app(["--corpus", "texts/", "--output", "presets/tiny"]))
    ```
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(prog, "text-preset")

    def run():
        parser = build_parser(
            "text-preset", prog=prog or "dreamkeras text-preset",
            description="Writes a small RoBERTa preset with RANDOM weights whose "
            "byte-level BPE vocabulary keeps the most frequent words of a folder of "
            ".txt files whole, with their case. The text apps load it with "
            "--encoder DIR; it measures architectures, not pretraining.",
        )
        args = parser.parse_args(argv)
        build_text_preset(args, command)

    return run_guarded(run)


def build_text_preset(args, command):
    """Checks the preset flags, then builds the preset (`text_preset_app`)."""
    if not args.corpus or not args.output:
        raise TrainingSetupError("--corpus DIR and --output DIR are both required.")
    corpus, output = (os.path.abspath(os.path.expanduser(p)) for p in (args.corpus, args.output))
    if not os.path.isdir(corpus):
        raise TrainingSetupError(f"--corpus {args.corpus!r} is not a folder; pass a folder of .txt files.")
    if os.path.exists(output) and not args.overwrite:
        raise TrainingSetupError(
            f"--output {args.output!r} exists. Pass --overwrite to replace it, or a new folder."
        )
    if args.hidden_dim % args.num_heads:
        raise TrainingSetupError(
            f"--num-heads {args.num_heads} must divide --hidden-dim {args.hidden_dim}."
        )
    print(f"dreamkeras text-preset: a RANDOM-weight RoBERTa from {corpus}.", flush=True)
    start_backend(args, command)
    import shutil

    from dreamkeras.text.presets import build_random_preset

    if os.path.exists(output):
        shutil.rmtree(output)
    try:
        built = build_random_preset(
            output, corpus=corpus, max_words=args.words, hidden_dim=args.hidden_dim,
            num_layers=args.num_layers, num_heads=args.num_heads,
            max_sequence_length=args.max_sequence_length, seed=args.seed,
        )
    except ValueError as error:
        raise TrainingSetupError(str(error)) from None
    print(
        f"Wrote {output}: {built['vocabulary_size']:,} tokens keeping {built['words']} "
        f"words whole, hidden size {built['hidden_dim']}, RANDOM weights. Use it with "
        f"--encoder {output}."
    )
    return built


COMMANDS = {
    "pretrain-mae": pretrain_app,
    "search": search_app,
    "benchmark": benchmark_app,
    "dream": dream_app,
    "text-preset": text_preset_app,
}


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
            "\n  search         KerasTuner search over SleepNet / DreamNet hyperparameters"
            "\n  benchmark      parameters, FLOPs, throughput and memory of one model"
            "\n  dream          a PNG grid of a saved DreamNet's dreams"
            "\n  text-preset    a small random-weight text preset from a folder of .txt files"
        )
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    prog = f"dreamkeras {name}"
    if name in DATASETS:
        return training_app(name, rest, prog=prog)
    if name in COMMANDS:
        return COMMANDS[name](rest, prog=prog)
    return _fail(f"unknown command {name!r}; one of: {', '.join(names)}.")
