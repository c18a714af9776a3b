"""`main(dataset, argv)`: the command line of every training app."""

import os
import sys

import keras

from dreamkeras.data import DataError
from dreamkeras.training.config import build_parser
from dreamkeras.training.config import build_text_parser
from dreamkeras.training.datasets import DATASETS
from dreamkeras.training.datasets import TEXT_DATASETS
from dreamkeras.training.trainer import IMAGE_TASK
from dreamkeras.training.trainer import TrainingSetupError
from dreamkeras.training.trainer import train
from dreamkeras.utils.memory import release_host_memory_after_compiles


def _dataset(name):
    """Returns `(defaults, load_data, build_parser, task)` of a dataset."""
    if name in DATASETS:
        return DATASETS[name] + (build_parser, IMAGE_TASK)
    if name in TEXT_DATASETS:
        from dreamkeras.training.text_trainer import TEXT_TASK

        return TEXT_DATASETS[name] + (build_text_parser, TEXT_TASK)
    raise TrainingSetupError(
        f"Unknown dataset {name!r}. Known datasets: "
        f"{sorted(DATASETS) + sorted(TEXT_DATASETS)}; for your own images use "
        f"apps/image_folder.py --data-dir DIR, for texts apps/text_folder.py."
    )


def parse_args(dataset, argv=None, prog=None):
    """Parses an app's flags.

    Args:
        dataset: str. A key of `DATASETS` or `TEXT_DATASETS`.
        argv: list of str or None (`sys.argv[1:]`).
        prog: str or None. Program name for `--help`.

    Returns:
        An `argparse.Namespace`.
    """
    defaults, _, parser, _ = _dataset(dataset)
    return parser(defaults, prog=prog).parse_args(argv)


def adopt_running_backend(args, command, error=TrainingSetupError):
    """Checks `--backend` against the backend Keras runs on, and records it.

    The backend is fixed when Keras is first imported; the scripts set
    `KERAS_BACKEND` from `--backend` before that. Called from Python after
    Keras is imported, a different `--backend` is an error, not a silent
    switch.

    Args:
        args: parsed flags with a `backend` attribute (`None`: any).
        command: str. The command to rerun in a new process, for the message.
        error: exception class to raise. Defaults to `TrainingSetupError`.

    Example:

    ```python
    adopt_running_backend(args, "python apps/cifar100.py")
    ```
    """
    backend = keras.backend.backend()
    if args.backend is not None and args.backend != backend:
        raise error(
            f"--backend {args.backend} was asked for, but Keras was already "
            f"imported with the {backend} backend in this process. Run "
            f"{command} --backend {args.backend} in a new process or set "
            f"KERAS_BACKEND={args.backend}."
        )
    args.backend = backend


def enable_jax_compilation_cache():
    """Turns on JAX's persistent compilation cache for the apps.

    Compiling (even the weight initialisers of a new model) dominates short
    runs on CPU; with the cache, a rerun (a resumed run, the next smoke
    test) reuses the compiled programs. The folder is
    `$DREAMKERAS_JAX_CACHE` (empty: off), else `~/.cache/dreamkeras/jax`.
    A cache folder the user already configured is left alone.

    Returns:
        str or None. The cache folder in use.
    """
    if keras.backend.backend() != "jax":
        return None
    import jax

    folder = os.environ.get(
        "DREAMKERAS_JAX_CACHE",
        os.path.join(os.path.expanduser("~"), ".cache", "dreamkeras", "jax"),
    )
    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    if not folder:
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return folder


def run(dataset, argv=None, callbacks=None, prog=None):
    """Parses the flags and trains; raises on errors. Returns the report.

    Args:
        dataset: str. A key of `DATASETS` (`"cifar100"`, `"tiny_imagenet"`,
            `"imagenet"`, `"image_folder"`, `"fashion_mnist"`) or of
            `TEXT_DATASETS` (`"ag_news"`, `"imdb"`, `"yelp"`, `"text_folder"`).
        argv: list of str or None. Command-line flags.
        callbacks: list of extra `keras.callbacks.Callback` for `fit`.
        prog: str or None. Program name for `--help`.

    Returns:
        The report dict (also written as JSON next to the model).

    Example:

    ```python
    report = dreamkeras.training.run("cifar100", ["--fast-dev-run"])
    ```
    """
    defaults, load_data, parser, task = _dataset(dataset)
    args = parser(defaults, prog=prog).parse_args(argv)
    adopt_running_backend(args, "python apps/<app>.py")
    enable_jax_compilation_cache()
    release_host_memory_after_compiles()
    return train(args, defaults, load_data, callbacks=callbacks, task=task)


def main(dataset, argv=None, callbacks=None, prog=None):
    """Command-line entry point: like `run`, but prints clear errors.

    Bad flags, missing data or encoders, out-of-range labels and existing
    outputs print one `error:` line on stderr and return 2, instead of a
    stack trace.

    Args:
        dataset: str. A key of `DATASETS` or `TEXT_DATASETS`.
        argv: list of str or None. Command-line flags.
        callbacks: list of extra `keras.callbacks.Callback` for `fit`.
        prog: str or None. Program name for `--help`.

    Returns:
        int. The exit status: 0 on success, 2 on a user error.

    Example:

    ```python
    sys.exit(dreamkeras.training.main("fashion_mnist", sys.argv[1:]))
    ```
    """
    try:
        run(dataset, argv, callbacks=callbacks, prog=prog)
    except (TrainingSetupError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
