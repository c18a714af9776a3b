"""The tools' entry points: the search, the benchmark, the dream grid, text presets."""

import os

from dreamkeras_cli import checks
from dreamkeras_cli import startup
from dreamkeras_cli import tool_builders
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.datasets import DATASETS
from dreamkeras_cli.flags import build_parser
from dreamkeras_cli.runner import run_command


def search_app(argv=None, callbacks=None, prog=None, family="search"):
    """Runs a hyperparameter search (`tuning/search.py`); returns the exit status.

    Args:
        argv: list of str or None (`sys.argv[1:]`).
        callbacks: list of extra `keras.callbacks.Callback` for every trial.
        prog: str or None. Program name for `--help` and messages.
        family: `"search"` (the vision apps' models) or `"search-text"`
            (the text apps' TextSleepNet / TextDreamNet).

    Example:

    ```python
    sys.exit(search_app(["--max-trials", "2", "--encoder", "vit-tiny-32"]))
    ```
    """
    apps = "text" if family == "search-text" else "vision"
    description = (
        f"KerasTuner search over {'text ' if apps == 'text' else ''}SleepNet / DreamNet "
        f"hyperparameters. Each trial trains like the {apps} apps (same flags) and "
        f"validates on a part of the training split (--validation-split); the best "
        f"model is evaluated on the test split. Rerunning the same command resumes."
    )

    def prepare(args, command):
        info = _dataset_of(args.dataset, apps)
        search = tool_builders.search_config(args, info, command)
        checks.check_data_flags(search.run.data, info.name, info.default_data_dir)
        title = (
            f"dreamkeras {family}: {search.tuner} search over {','.join(search.search_space)} "
            f"of --model {search.run.model.kind} on {args.dataset}, up to "
            f"{search.max_trials} trials of {search.run.schedule.epochs} epoch(s)."
        )

        def run():
            from dreamkeras.training.runtime import setup_app_process
            from dreamkeras.tuning import run_search

            setup_app_process()
            run_search(search, callbacks=callbacks)

        return title, run

    return run_command(
        family, argv, prog, lambda p: build_parser(family, prog=p, description=description),
        prepare, libraries=("dreamkeras", "keras_tuner"),
    )


def search_text_app(argv=None, callbacks=None, prog=None):
    """Runs a text hyperparameter search (`dreamkeras search-text`).

    Example:

    ```python
    sys.exit(search_text_app(["--dataset", "text_folder", "--data-dir", "texts/",
                              "--model", "sleepnet", "--encoder", "presets/tiny"]))
    ```
    """
    return search_app(argv, callbacks=callbacks, prog=prog, family="search-text")


def _dataset_of(name, family):
    info = DATASETS.get(name)
    if info is None or info.family != family:
        names = sorted(k for k, v in DATASETS.items() if v.family == family)
        raise TrainingSetupError(f"--dataset must be one of {names}. Received: {name!r}.")
    return info


def benchmark_app(argv=None, prog=None):
    """Runs the benchmark (`apps/benchmark.py`); returns the exit status.

    Example:

    ```python
    sys.exit(benchmark_app(["--encoder", "mae-tiny-32", "--width", "8"]))
    ```
    """
    description = (
        "Parameters, FLOPs, train and inference throughput, the share of a measured "
        "matmul peak and peak memory of SleepNet, DreamNet or the plain chain, printed "
        "and written to JSON (--output)."
    )

    def prepare(args, command):
        config = tool_builders.benchmark_config(args, startup.select_backend(args.backend))
        model = config.model
        title = (
            f"dreamkeras benchmark: {model.kind}-{model.blocks} on {model.encoder}, batch "
            f"{config.batch_size}, {config.steps} timed steps."
        )

        def run():
            from dreamkeras.training.benchmark import run_benchmark

            run_benchmark(config)

        return title, run

    return run_command(
        "benchmark", argv, prog,
        lambda p: build_parser("benchmark", prog=p, description=description), prepare,
    )


def dream_app(argv=None, prog=None):
    """Draws a saved DreamNet's dreams (`apps/dream.py`); returns the exit status.

    Example:

    ```python
    sys.exit(dream_app(["--model", "dreamnet.keras", "--images", "photos/"]))
    ```
    """
    from dreamkeras_cli import dream

    description = (
        "Saves a PNG grid of a trained DreamNet's inputs and their reconstructions "
        "(dreams), one row per image."
    )

    def prepare(args, command):
        dream.check_args(args)
        title = f"dreamkeras dream: the dreams of {os.path.abspath(args.model)}."
        return title, lambda: dream.draw(args)

    return run_command(
        "dream", argv, prog, lambda p: build_parser("dream", prog=p, description=description),
        prepare,
    )


def text_preset_app(argv=None, prog=None):
    """Builds a random-weight text preset from a corpus; returns the exit status.

    Example:

    ```python
    sys.exit(text_preset_app(["--corpus", "texts/", "--output", "presets/tiny"]))
    ```
    """
    description = (
        "Writes a small RoBERTa preset with RANDOM weights whose byte-level BPE "
        "vocabulary keeps the most frequent words of a folder of .txt files whole, with "
        "their case. The text apps load it with --encoder DIR; it measures "
        "architectures, not pretraining."
    )

    def prepare(args, command):
        corpus, output = check_text_preset(args)
        title = f"dreamkeras text-preset: a RANDOM-weight RoBERTa from {corpus}."
        return title, lambda: build_text_preset(args, corpus, output)

    return run_command(
        "text-preset", argv, prog,
        lambda p: build_parser("text-preset", prog=p, description=description), prepare,
    )


def check_text_preset(args):
    """Checks the preset flags; returns the absolute `(corpus, output)`."""
    if not args.corpus or not args.output:
        raise TrainingSetupError("--corpus DIR and --output DIR are both required.")
    corpus, output = (os.path.abspath(os.path.expanduser(p)) for p in (args.corpus, args.output))
    checks.check_writable(output, "--output")
    if not os.path.isdir(corpus):
        raise TrainingSetupError(
            f"--corpus {args.corpus!r} is not a folder; pass a folder of .txt files."
        )
    if os.path.exists(output) and not args.overwrite:
        raise TrainingSetupError(
            f"--output {args.output!r} exists. Pass --overwrite to replace it, or a new folder."
        )
    if args.hidden_dim % args.num_heads:
        raise TrainingSetupError(
            f"--num-heads {args.num_heads} must divide --hidden-dim {args.hidden_dim}."
        )
    return corpus, output


def build_text_preset(args, corpus, output):
    """Builds the preset `check_text_preset` accepted (after `start_backend`).

    The preset is written to a temporary folder next to `output` and swapped
    in whole: an older preset stays until the new one is complete.
    """
    from dreamkeras.text.presets import build_random_preset
    from dreamkeras.utils import atomic

    os.makedirs(os.path.dirname(output), exist_ok=True)
    try:
        with atomic.replacing(output) as temporary:
            built = build_random_preset(
                temporary, corpus=corpus, max_words=args.words, hidden_dim=args.hidden_dim,
                num_layers=args.num_layers, num_heads=args.num_heads,
                max_sequence_length=args.max_sequence_length, seed=args.seed,
            )
    except ValueError as error:
        if isinstance(error, TrainingSetupError):
            raise
        raise TrainingSetupError(str(error)) from None
    print(
        f"Wrote {output}: {built['vocabulary_size']:,} tokens keeping {built['words']} "
        f"words whole, hidden size {built['hidden_dim']}, RANDOM weights. Use it with "
        f"--encoder {output}."
    )
    return built


def check_gpu_app(argv=None, prog=None):
    """`dreamkeras check-gpu` (`apps/check_gpu.py`); see `dreamkeras_cli.check_gpu`."""
    from dreamkeras_cli.check_gpu import check_gpu_app as app

    return app(argv, prog=prog)


COMMANDS = {
    "check-gpu": check_gpu_app,
    "search": search_app,
    "search-text": search_text_app,
    "benchmark": benchmark_app,
    "dream": dream_app,
    "text-preset": text_preset_app,
}


