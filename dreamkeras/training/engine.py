"""The one training engine behind every app: paths, resume, callbacks, fit, report.

`train(config)` runs a `RunConfig` with the task its `config.task` names:
`ImageClassification` (the vision apps), `TextClassification` (the text
apps), `MAEPretraining` (`apps/pretrain_mae.py`) or `MLMPretraining`
(`apps/pretrain_mlm.py`). A task prepares the
model and its input pipelines and knows how to evaluate and save them; the
engine does the rest the same way for all three: it locks the run's folders
against a second live run, refuses to overwrite an output
(`dreamkeras.training.run_files`), resumes an
interrupted run from its backup (`dreamkeras.training.backup`), says where
everything goes, fits with TensorBoard, HParams, throughput and epoch
callbacks, and writes the model and the JSON report atomically
(`dreamkeras.utils.atomic`) before it removes the backup. A run killed at
any point, rerun with the same command, finishes without repeating a
finished epoch (`docs/crash_safety.md`).
"""

import contextlib
import dataclasses
import datetime
import importlib
import logging
import math
import os
import sys
import time

import keras

from dreamkeras.data.pipeline import label_error_from
from dreamkeras.training import backup as backups
from dreamkeras.training import distribution
from dreamkeras.training import report as reporting
from dreamkeras.training import run_files
from dreamkeras.training.backup import RunBackup
from dreamkeras.training.backup import read_state
from dreamkeras.training.callbacks import EpochRecorder
from dreamkeras.training.callbacks import HParamsLogger
from dreamkeras.training.callbacks import Throughput
from dreamkeras.training.callbacks import tensorboard_callback
from dreamkeras.training.runtime import check_backend
from dreamkeras.training.runtime import run_scope
from dreamkeras.utils import faults
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
    """The number of epochs a run's backup holds (the zero-based epoch to resume at), or None.

    Example:

    ```python
    backup_epoch("runs/cifar100_dreamnet3/backup")  # 2: epochs 1 and 2 done
    ```
    """
    state = read_state(backup_dir)
    return None if state is None else state.epochs_done


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


# Task name -> (module of dreamkeras.training, class), imported when used.
_TASKS = {
    "image": ("image_task", "ImageClassification"),
    "text": ("text_task", "TextClassification"),
    "mae": ("mae_task", "MAEPretraining"),
    "mlm": ("mlm_task", "MLMPretraining"),
}


def _task(name):
    if name not in _TASKS:
        raise ValueError(f"Unknown task {name!r}; expected one of {sorted(_TASKS)}.")
    module, cls = _TASKS[name]
    return getattr(importlib.import_module(f"dreamkeras.training.{module}"), cls)()


def train(config, callbacks=None, task=None):
    """Runs one training run; returns its report (also written as JSON).

    The run holds a lock on its `--logdir` and `--output` (a second live run
    is refused), resumes from the backup an interrupted run left (without
    repeating a finished epoch, wherever it was killed), writes every file
    atomically and removes the backup only once the model and the report
    are written.

    Args:
        config: `dreamkeras_cli.config.RunConfig`.
        callbacks: list of extra `keras.callbacks.Callback` for `fit`.
        task: the task object; defaults to the one `config.task` names.

    Returns:
        dict. The report.

    Raises:
        TrainingSetupError: the run cannot start (an existing output, a
            missing encoder, another live run, ...), diverged, or could not
            write an output (a full disk).
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
    files = config.files
    run_files.check_writable(files.output, "--output")
    run_files.check_writable(os.path.join(files.logdir, "backup"), "--logdir")
    chief = distribution.is_chief()
    with contextlib.ExitStack() as locks:
        # In a multi-process run only the chief (process 0) locks and writes;
        # the others read the backup it prepared, so every process resumes
        # from the same epoch.
        lock_lines = run_files.lock_run(files, locks) if chief else []
        state = run_files.prepare_outputs(files, config) if chief else None
        distribution.barrier("dreamkeras_outputs_prepared")
        if not chief:
            state = run_files.prepare_outputs(files, config, writes=False)
        lines = [reporting.replaced_line(config)] + lock_lines
        lines += reporting.file_lines(config, state.epochs_done if state else None)
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
                    config, task, run, callbacks or [], state, devices, started
                )
        finally:
            logging.getLogger("dreamkeras").removeFilter(quiet)


def _fit_and_report(config, task, run, extra_callbacks, state, devices, started):
    files, schedule = config.files, config.schedule
    model, data = run.model, run.data
    hparams = {k: v for k, v in config.flat().items() if k != "schedule.verbose"}
    hparams.update(dataset=data.name, num_classes=data.num_classes)
    recorder = EpochRecorder()
    train_speed = Throughput(schedule.batch_size, mode="train")
    hparams_logger = HParamsLogger(files.logdir, hparams)
    chief = distribution.is_chief()
    backup = RunBackup(
        files.backup, state, best_path=files.best, monitor="val_accuracy", mode="max",
        fingerprint=run_files.run_fingerprint(config),
        output_before=backups.file_signature(files.output),
        advice=run_files.write_advice(files, "the last finished epoch"), writes=chief,
    )
    backup.restore(model)
    for folder in (os.path.dirname(files.output), files.logdir):
        os.makedirs(folder, exist_ok=True)

    timings = {"setup": time.perf_counter() - started}
    tick = time.perf_counter()
    history = None
    if backup.epochs_done < schedule.epochs:
        # TensorBoard logs and the task's callbacks (dream pictures) come from
        # the chief only.
        writers = [tensorboard_callback(files.logdir), hparams_logger, *run.callbacks]
        fit_callbacks = [
            *(writers if chief else []), keras.callbacks.TerminateOnNaN(), recorder,
            train_speed, backup, *extra_callbacks,
        ]
        history = reraise_data_errors(
            model.fit,
            run.train_ds,
            epochs=schedule.epochs,
            initial_epoch=backup.epochs_done,
            steps_per_epoch=run.steps_per_epoch or schedule.steps_per_epoch,
            validation_data=run.eval_ds,
            validation_steps=schedule.eval_steps if run.eval_ds is not None else None,
            callbacks=fit_callbacks,
            verbose=schedule.verbose,
            shuffle=False,
        )
    timings["fit"] = time.perf_counter() - tick
    if history is not None:
        check_losses_finite(
            history,
            f"{task.divergence_advice} The backup keeps the last finite epoch "
            f"({backup.epochs_done}): run again with the fix to resume from it, or pass "
            f"--restart to start afresh.",
        )
    faults.reached("after_fit")

    tick = time.perf_counter()
    results = reraise_data_errors(run.evaluate, model)
    timings["evaluate"] = time.perf_counter() - tick
    tick = time.perf_counter()
    advice = run_files.write_advice(files, f"all {backup.epochs_done} trained epochs")
    # Every process saves (Keras' saving runs JAX collectives that all must
    # join); only the chief keeps the file.
    with distribution.save_target(
        files.output, writes=chief, advice=advice, point="final_write"
    ) as temporary:
        run.save(model, temporary)
    # The other processes may read the output (the fast dev run's reload check).
    distribution.barrier("dreamkeras_output_written")
    faults.reached("final_written")
    timings["save"] = time.perf_counter() - tick

    full_history = backup.history
    resumed_at = backup.state.resumed_at
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
        "processes": distribution.process_count(),
        "mesh": list(config.hardware.mesh) if config.hardware.mesh else None,
        "mixed_precision": config.hardware.mixed_precision,
        "epochs_completed": len(full_history.get("loss", [])),
        "epochs_this_process": len(recorder.finished),
        "optimizer_steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "resumed_from_epoch": resumed_at[-1] if resumed_at else None,
        "resumed_at_epochs": list(resumed_at),
        "history": full_history,
        f"train_{task.unit}_per_second": train_speed.images_per_second,
        "hparams_written_with": hparams_logger.written_with,
        "output": files.output,
        "best_model": files.best if files.best and os.path.exists(files.best) else None,
        "best_epoch": backup.state.best_epoch,
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
    if chief:
        reporting.write_json(files.report, report, advice=advice)
    faults.reached("report_written")
    backup.remove()
    lines = run.summary(report) if run.summary else []
    if not chief:
        # Only the chief wrote: the others say so instead of "Saved ...".
        lines = [line for line in lines if not line.startswith("Saved")]
        lines.append(
            f"Process {distribution.process_index()} of {distribution.process_count()}: "
            f"the chief (process 0) wrote {files.output}, {files.report} and the logs "
            f"in {files.logdir}."
        )
    if config.fast_dev_run:
        lines.append("FAST DEV RUN finished: NOT a real run (generated data, random weights).")
    print("\n".join(lines), flush=True)
    return report
