"""Starts a training app: sets the Keras backend, then imports Keras.

`KERAS_BACKEND` is read once, when Keras is first imported, and importing
`dreamkeras` imports Keras; so `--backend` is read here, with plain argparse,
before anything else is imported.
"""

import argparse
import importlib.metadata
import os
import sys

BACKENDS = ("jax", "tensorflow", "torch")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# jaxlib 0.10's XLA:CPU hands dots, convolutions and reductions to YNNPACK
# fusions; its own kernels train these models faster on CPU. Alternating raw
# train steps on this project's 2-core machine (2026-11-30), default -> this
# flag: small DreamNet-3 batch 8 123/108/119 -> 109/103/109 ms, batch 128
# 1433 -> 1268 ms; small SleepNet-3 batch 8 76/72/71 -> 65/67/55 ms; SleepNet-3
# at 224 4453/4420 -> 4398/4164 ms. The flag is experimental and XLA aborts on
# flags it does not know, so it is set only for the jaxlib it was measured on.
NO_YNN_FUSIONS = "--xla_cpu_experimental_ynn_fusion_type="
# With `--remat` (memory first), XLA:CPU's memory-optimised schedule: DreamNet-3
# (MAE-B, 224, batch 8) XLA temporaries 0.65 -> 0.50 GiB, step 11.8 -> 11.9 s;
# the small DreamNet-3 at batch 128 ran 3-4% slower with it (1122/1147 ->
# 1166/1190 ms), so plain runs keep XLA's default (concurrency) schedule.
MEMORY_SCHEDULE = "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"
MEASURED_JAXLIB = "0.10."


def select_backend(argv):
    """Sets `KERAS_BACKEND` from `--backend` (default: the variable, else jax).

    Args:
        argv: list of str. The app's flags.

    Returns:
        str. The backend asked for.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--backend", choices=BACKENDS, default=None)
    # Read as the app's parser reads it (abbreviations such as `--rem` too).
    parser.add_argument("--remat", action="store_true")
    known, _ = parser.parse_known_args(argv)
    backend = known.backend or os.environ.get("KERAS_BACKEND") or "jax"
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        prefer_xla_cpu_kernels(backend, memory_first=known.remat)
    # Otherwise Keras is already imported (e.g. by a test); `run` checks
    # that its backend is the one asked for.
    return backend


def prefer_xla_cpu_kernels(backend, memory_first=False):
    """Turns XLA:CPU's YNNPACK fusions off (`XLA_FLAGS`) for a JAX run.

    Only before JAX is imported, only with the jaxlib this was measured on,
    and never over an `XLA_FLAGS` that already sets the fusion types (set
    `XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=dot,...` to choose
    yourself). GPUs ignore the flags.

    Args:
        backend: str. The Keras backend of the run.
        memory_first: bool. Also pick XLA:CPU's memory-optimised schedule
            (`MEMORY_SCHEDULE`; not over a scheduler the user set), as the
            apps do under `--remat`.

    Returns:
        bool. Whether `XLA_FLAGS` was changed.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if backend != "jax" or "jax" in sys.modules or "ynn_fusion_type" in flags:
        return False
    try:
        jaxlib = importlib.metadata.version("jaxlib")
    except importlib.metadata.PackageNotFoundError:
        return False
    if not jaxlib.startswith(MEASURED_JAXLIB):
        return False
    added = NO_YNN_FUSIONS
    if memory_first and "scheduler_type" not in flags:
        added += " " + MEMORY_SCHEDULE
    os.environ["XLA_FLAGS"] = f"{flags} {added}".strip()
    return True


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
