"""Starts a training app: sets the Keras backend, then imports Keras.

`KERAS_BACKEND` is read once, when Keras is first imported, and importing
`dreamkeras` imports Keras; so `--backend` is read here, with plain argparse,
before anything else is imported.
"""

import argparse
import os
import sys

BACKENDS = ("jax", "tensorflow", "torch")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def select_backend(argv):
    """Sets `KERAS_BACKEND` from `--backend` (default: the variable, else jax).

    Args:
        argv: list of str. The app's flags.

    Returns:
        str. The backend asked for.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--backend", choices=BACKENDS, default=None)
    known, _ = parser.parse_known_args(argv)
    backend = known.backend or os.environ.get("KERAS_BACKEND") or "jax"
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
    # Otherwise Keras is already imported (e.g. by a test); `run` checks
    # that its backend is the one asked for.
    return backend


def launch(dataset, argv=None, callbacks=None):
    """Runs the app of `dataset` with `argv` (default `sys.argv[1:]`).

    Returns:
        int. The exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    select_backend(argv)
    # Run from a checkout: use this repository's dreamkeras.
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    from dreamkeras.training import main

    prog = f"apps/{dataset}.py"
    return main(dataset, argv, callbacks=callbacks, prog=prog)
