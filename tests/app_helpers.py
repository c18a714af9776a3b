"""Helpers of the app tests: running an app in a subprocess, reports, kills."""

import glob
import json
import os
import re
import subprocess
import sys

import keras

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = keras.backend.backend()
OTHER_BACKEND = next(b for b in ("jax", "tensorflow", "torch") if b != BACKEND)
# The first line of every command's output (`dreamkeras_cli.commands`).
FIRST_LINE = re.compile(r"^dreamkeras [\w-]+( --fast-dev-run)?: ")


def run_script(script, args, cwd, env=None, timeout=600):
    """Runs `python <script> <args>` from the checkout, as a user would.

    The checkout goes on PYTHONPATH (as `pip install -e .` would put it);
    `KERAS_BACKEND` is removed so that `--backend` (or the default) decides.
    """
    environment = dict(os.environ, **(env or {}))
    environment.pop("KERAS_BACKEND", None)
    environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, os.path.join(REPO, script)] + list(args),
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout,
    )


def run_python(code, cwd=REPO, env=None, timeout=120):
    """Runs `python -c code` with the checkout on PYTHONPATH."""
    environment = dict(os.environ, **(env or {}))
    environment.pop("KERAS_BACKEND", None)
    environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=environment, capture_output=True,
        text=True, timeout=timeout,
    )


def paths(tmp_path, name="run", suffix=".keras"):
    """`--output` and `--logdir` flags inside `tmp_path`."""
    return [
        "--output", str(tmp_path / f"{name}{suffix}"),
        "--logdir", str(tmp_path / f"{name}_logs"),
    ]


def report(tmp_path, name="run"):
    """The JSON report a run wrote next to its output."""
    with open(tmp_path / f"{name}.json") as f:
        return json.load(f)


def header(output):
    """`{label: text}` of the header lines (`  label    text`) of a run's output."""
    lines = {}
    for line in output.splitlines():
        match = re.match(r"^  (\w+) +(.*)$", line)
        if match and match.group(1) not in lines:
            lines[match.group(1)] = match.group(2)
    return lines


def read_events(logdir):
    """Returns {tag: [values]} of the scalar/text summaries under logdir."""
    import tensorflow as tf

    tags = {}
    for path in glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor) if value.HasField("tensor") else None
                tags.setdefault(value.tag, []).append(tensor)
    return tags


class Interrupt(keras.callbacks.Callback):
    """Simulates a killed run: raises at the end of an epoch."""

    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt(f"simulated kill after epoch {epoch}")


class KeepModel(keras.callbacks.Callback):
    """Keeps the trained model to compare it with what was saved."""

    def on_train_end(self, logs=None):
        self.trained = self.model
