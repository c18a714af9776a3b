"""The one training engine behind every app: paths, resume, callbacks, fit, report.

`train(config)` runs a `RunConfig` with the task its `config.task` names:
`ImageClassification` (the vision apps), `TextClassification` (the text
apps) or `MAEPretraining` (`apps/pretrain_mae.py`). A task prepares the
model and its input pipelines and knows how to evaluate and save them; the
engine does the rest the same way for all three: it refuses to overwrite an
output, resumes an interrupted run from its `BackupAndRestore` backup, says
where everything goes, fits with TensorBoard, HParams, throughput and
epoch callbacks, and writes the JSON report.
"""

import dataclasses
import datetime
import json
import logging
import math
import os
import shutil
import sys
import time

import keras

from dreamkeras.data.pipeline import label_error_from
from dreamkeras.training import report as reporting
from dreamkeras.training.callbacks import EpochRecorder
from dreamkeras.training.callbacks import HParamsLogger
from dreamkeras.training.callbacks import Throughput
from dreamkeras.training.callbacks import tensorboard_callback
from dreamkeras.training.runtime import check_backend
from dreamkeras.training.runtime import run_scope
from dreamkeras.utils.memory import release_host_memory
from dreamkeras_cli.config import TrainingSetupError


@dataclasses.dataclass
class PreparedRun:
    """A task's compiled model and input pipelines, ready for the engine.

    Attributes:
        model: compiled `keras.Model`.
        train_ds: `tf.data.Dataset` of training batches.
        data: the dataset (`ImageDataset` or `TextDataset`).
        lines: list of str. Header lines about the model and the data.
        evaluate: callable `(model) -> dict` of held-out results (report
            entries).
        save: callable `(model, path)`: writes the final output.
        eval_ds: `tf.data.Dataset` of held-out batches, or None (no
            validation during `fit`).
        steps_per_epoch: int or None. Overrides the schedule's.
        report: dict. Task entries of the report.
        callbacks: list of task callbacks for `fit`.
        finish: callable or None. `finish(model, report, timings)` adds
            entries computed after saving (FLOPs, dream texts).
        summary: callable `(report) -> list of str`: the closing lines.

    Example:

    ```python
    run = task.prepare(config, contextlib.nullcontext())
    run.model.summary()
    ```
    """

    model: object
    train_ds: object
    data: object
    lines: list
    evaluate: object
    save: object
    eval_ds: object = None
    steps_per_epoch: int = None
    report: dict = dataclasses.field(default_factory=dict)
    callbacks: list = dataclasses.field(default_factory=list)
    finish: object = None
    summary: object = None


def backup_epoch(backup_dir):
    """The zero-based epoch a `BackupAndRestore` backup resumes at, or None.

    Example:

    ```python
    backup_epoch("runs/cifar100_dreamnet3/backup")  # 2: epochs 1 and 2 done
    ```
    """
    metadata = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(metadata):
        return None
    with open(metadata) as f:
        return int(json.load(f).get("epoch", -1)) + 1


def check_losses_finite(history, advice):
    """Raises `TrainingSetupError` if `fit` stopped on a NaN/inf loss.

    `keras.callbacks.TerminateOnNaN` ends training quietly; this turns its
    outcome into an error that names the losses and `advice` (the fix).

    Example:

    ```python
    check_losses_finite(model.fit(ds, epochs=3), "Lower --lr.")
    ```
    """
    losses = history.history.get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        raise TrainingSetupError(
            f"Training stopped on a NaN/inf loss (losses per epoch: {losses}). {advice}"
        )


def reraise_data_errors(fn, *args, **kwargs):
    """Calls `fn`; a label-range failure of the pipeline becomes a `DataError`."""
    try:
        return fn(*args, **kwargs)
    except Exception as error:
        data_error = label_error_from(error)
        if data_error is not None:
            raise data_error from None
        raise


class _SameAsHeader(logging.Filter):
    """Drops the encoder loader's RANDOM-weights warning: the header says it."""

    def filter(self, record):
        from dreamkeras.encoders.loader import RANDOM_WEIGHTS_WARNING

        prefix = RANDOM_WEIGHTS_WARNING.split("{name}")[0]
        suffix = RANDOM_WEIGHTS_WARNING.split("{name}")[-1]
        message = record.getMessage()
        return not (message.startswith(prefix) and message.endswith(suffix))


def _task(name):
    if name == "image":
        from dreamkeras.training.image_task import ImageClassification

        return ImageClassification()
    if name == "text":
        from dreamkeras.training.text_task import TextClassification

        return TextClassification()
    if name == "mae":
        from dreamkeras.training.mae_task import MAEPretraining

        return MAEPretraining()
    raise ValueError(f"Unknown task {name!r}; expected 'image', 'text' or 'mae'.")


def _check_writable(path, flag):
    """Raises unless `path`'s folder exists or can be created, writable."""
    folder = os.path.dirname(path) or "."
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise TrainingSetupError(
            f"{flag} {path!r} cannot be written: {folder!r} is not a writable folder. "
            f"Pass {flag} somewhere you can write."
        )


def _prepare_outputs(files):
    """Refuses to overwrite; applies `--restart`; returns the resume epoch."""
    _check_writable(files.output, "--output")
    _check_writable(os.path.join(files.logdir, "backup"), "--logdir")
    if os.path.exists(files.output) and not files.overwrite:
        raise TrainingSetupError(
            f"The output {files.output!r} already exists. Pass --overwrite to "
            f"replace it, or --output to write elsewhere."
        )
    if files.restart and os.path.isdir(files.backup):
        shutil.rmtree(files.backup)
    resume_epoch = backup_epoch(files.backup)
    if files.resume and resume_epoch is None:
        raise TrainingSetupError(
            f"--resume: no interrupted run to resume in {files.backup!r}. Check "
            f"--logdir, or run without --resume to start afresh."
        )
    return resume_epoch


def train(config, callbacks=None, task=None):
    """Runs one training run; returns its report (also written as JSON).

    Args:
        config: `dreamkeras_cli.config.RunConfig`.
        callbacks: list of extra `keras.callbacks.Callback` for `fit`.
        task: the task object; defaults to the one `config.task` names.

    Returns:
        dict. The report.

    Raises:
        TrainingSetupError: the run cannot start (an existing output, a
            missing encoder, ...) or diverged.
        dreamkeras.data.DataError: bad or missing data.

    Example:

    ```python
    from dreamkeras_cli import commands

    config = commands.run_config("cifar100", ["--fast-dev-run"])
    report = dreamkeras.training.train(config)
    ```
    """
    task = task or _task(config.task)
    check_backend(config.hardware, config.command)
    resume_epoch = _prepare_outputs(config.files)
    lines = [reporting.replaced_line(config)] + reporting.file_lines(config, resume_epoch)
    print("\n".join(line for line in lines if line), flush=True)

    keras.utils.set_random_seed(config.schedule.seed)
    quiet = _SameAsHeader()
    logging.getLogger("dreamkeras").addFilter(quiet)
    try:
        with run_scope(config.hardware, config.schedule.batch_size) as (scope, devices):
            started = time.perf_counter()
            run = task.prepare(config, scope)
            print("\n".join(run.lines), flush=True)
            # What building the model left (its initialisers' compiled programs,
            # freed heap) goes back to the system before the train step compiles.
            release_host_memory(clear_jax_caches=True)
            return _fit_and_report(
                config, task, run, callbacks or [], resume_epoch, devices, started
            )
    finally:
        logging.getLogger("dreamkeras").removeFilter(quiet)


def _fit_and_report(config, task, run, extra_callbacks, resume_epoch, devices, started):
    files, schedule = config.files, config.schedule
    model, data = run.model, run.data
    hparams = {k: v for k, v in config.flat().items() if k != "schedule.verbose"}
    hparams.update(dataset=data.name, num_classes=data.num_classes)
    recorder = EpochRecorder()
    train_speed = Throughput(schedule.batch_size, mode="train")
    hparams_logger = HParamsLogger(files.logdir, hparams)
    fit_callbacks = [
        keras.callbacks.BackupAndRestore(files.backup, delete_checkpoint=True),
        tensorboard_callback(files.logdir),
        hparams_logger,
    ]
    if files.best:
        fit_callbacks.append(
            keras.callbacks.ModelCheckpoint(
                files.best, monitor="val_accuracy", mode="max", save_best_only=True
            )
        )
    fit_callbacks += [keras.callbacks.TerminateOnNaN(), recorder, train_speed]
    fit_callbacks += list(run.callbacks) + list(extra_callbacks)
    for folder in (os.path.dirname(files.output), files.logdir):
        os.makedirs(folder, exist_ok=True)

    timings = {"setup": time.perf_counter() - started}
    tick = time.perf_counter()
    history = reraise_data_errors(
        model.fit,
        run.train_ds,
        epochs=schedule.epochs,
        steps_per_epoch=run.steps_per_epoch or schedule.steps_per_epoch,
        validation_data=run.eval_ds,
        validation_steps=schedule.eval_steps if run.eval_ds is not None else None,
        callbacks=fit_callbacks,
        verbose=schedule.verbose,
        shuffle=False,
    )
    timings["fit"] = time.perf_counter() - tick
    check_losses_finite(history, task.divergence_advice)

    tick = time.perf_counter()
    results = reraise_data_errors(run.evaluate, model)
    timings["evaluate"] = time.perf_counter() - tick
    tick = time.perf_counter()
    run.save(model, files.output)
    timings["save"] = time.perf_counter() - tick

    report = {
        "fast_dev_run": config.fast_dev_run,
        "not_a_real_run": config.fast_dev_run,
        "dataset": data.name,
        "synthetic_data": bool(data.synthetic),
        "eval_split": data.eval_split,
        "num_classes": data.num_classes,
        "train_examples": data.train_size,
        "eval_examples": data.eval_size,
        "model": type(model).__name__,
        **run.report,
        **results,
        "backend": keras.backend.backend(),
        "devices": devices,
        "mixed_precision": config.hardware.mixed_precision,
        "epochs_completed": len(recorder.finished),
        "optimizer_steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "resumed_from_epoch": (
            recorder.started[0] if recorder.started and recorder.started[0] else None
        ),
        "history": history.history,
        f"train_{task.unit}_per_second": train_speed.images_per_second,
        "hparams_written_with": hparams_logger.written_with,
        "output": files.output,
        "best_model": files.best if files.best and os.path.exists(files.best) else None,
        "logdir": files.logdir,
        "config": config.to_dict(),
        "keras_version": keras.__version__,
        "python": sys.version.split()[0],
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if run.finish is not None:
        run.finish(model, report, timings)
    timings["total"] = time.perf_counter() - started
    report["seconds"] = timings
    reporting.write_json(files.report, report)
    lines = run.summary(report) if run.summary else []
    if config.fast_dev_run:
        lines.append("FAST DEV RUN finished: NOT a real run (generated data, random weights).")
    print("\n".join(lines), flush=True)
    return report
