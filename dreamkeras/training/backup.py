"""The resumable backup of a run: weights, epochs, history and best value, written atomically.

Keras' `BackupAndRestore` deletes its backup when `fit` ends (before the
evaluation, the final save and the report), writes its weights in place
(a kill mid-write leaves a damaged backup) and keeps neither the history
nor `ModelCheckpoint`'s best value. `RunBackup` is its equivalent for the
engine, with these differences:

- At the end of each epoch it writes the weights (model and optimizer) to a
  new file, then commits `state.json` (written atomically) naming that
  file, the epochs done, the history of every epoch so far and the best
  value of the monitored metric. A kill at any instant leaves either the
  previous state or the new one, each with its weights.
- It also writes the best-epoch checkpoint (`_best.keras`): staged under a
  temporary name, recorded in the same commit, then renamed into place; a
  resumed run compares against the restored best value, so its first epoch
  cannot replace `_best.keras` with a worse model.
- It stays until the engine has written the final model and the report;
  the engine then removes it (`remove`).
- An epoch whose loss is NaN/inf is not committed: the backup keeps the
  last finite epoch.

A backup written by Keras' `BackupAndRestore` (`training_metadata.json`)
is read too (its history and best value are unknown).
"""

import contextlib
import dataclasses
import glob
import json
import math
import os
import shutil

import keras

from dreamkeras.training import distribution
from dreamkeras.utils import atomic
from dreamkeras.utils import faults
from dreamkeras_cli.config import TrainingSetupError

STATE_FILE = "state.json"
KERAS_METADATA = "training_metadata.json"
KERAS_WEIGHTS = "latest.weights.h5"


@dataclasses.dataclass(frozen=True)
class BackupState:
    """What a backup holds (`state.json`).

    Attributes:
        epochs_done: int. Epochs finished (the zero-based epoch to resume at).
        weights: str or None. The weights file in the backup folder.
        history: dict of str -> list of float. The logs of every finished
            epoch, across resumes.
        best_value: float or None. Best value of the monitored metric.
        best_epoch: int or None. Its epoch (one-based).
        best_pending: str or None. A complete best checkpoint committed but
            maybe not yet renamed into place.
        output_before: list or None. `[inode, size, mtime_ns]` of the output
            when the run first started (None: there was none); a resumed run
            may replace its own output without `--overwrite`, never an older
            one.
        fingerprint: dict or None. The settings that must not change on
            resume.
        resumed_at: list of int. Epochs done at each resume.
        keras_backup: bool. Read from a Keras `BackupAndRestore` backup.

    Example:

    ```python
    state = read_state("runs/cifar100_dreamnet3/backup")
    state.epochs_done if state else 0
    ```
    """

    epochs_done: int = 0
    weights: str = None
    history: dict = dataclasses.field(default_factory=dict)
    best_value: float = None
    best_epoch: int = None
    best_pending: str = None
    output_before: list = None
    fingerprint: dict = None
    resumed_at: list = dataclasses.field(default_factory=list)
    keras_backup: bool = False


def _damaged(backup_dir, error):
    return TrainingSetupError(
        f"The backup {backup_dir!r} cannot be read ({type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else ''}). Pass --restart to discard "
        f"it and start afresh, or another --logdir."
    )


def read_state(backup_dir):
    """The committed `BackupState` of `backup_dir`, or None when there is none.

    Raises:
        TrainingSetupError: `state.json` cannot be read (it is written
            atomically, so only outside damage does this).
    """
    path = os.path.join(backup_dir, STATE_FILE)
    if os.path.exists(path):
        try:
            with open(path) as f:
                data = json.load(f)
            fields = {field.name for field in dataclasses.fields(BackupState)}
            return BackupState(**{k: v for k, v in data.items() if k in fields})
        except (OSError, ValueError, TypeError) as error:
            raise _damaged(backup_dir, error) from None
    metadata = os.path.join(backup_dir, KERAS_METADATA)
    if os.path.exists(metadata):  # keras.callbacks.BackupAndRestore's.
        try:
            with open(metadata) as f:
                epoch = int(json.load(f)["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise _damaged(backup_dir, error) from None
        weights = KERAS_WEIGHTS if os.path.exists(os.path.join(backup_dir, KERAS_WEIGHTS)) else None
        return BackupState(epochs_done=epoch if weights else 0, weights=weights, keras_backup=True)
    return None


def write_state(backup_dir, state, advice=None):
    """Commits `state` to `backup_dir/state.json` atomically."""
    from dreamkeras.training.report import jsonable

    os.makedirs(backup_dir, exist_ok=True)
    atomic.write_text(
        os.path.join(backup_dir, STATE_FILE),
        json.dumps(jsonable(dataclasses.asdict(state)), indent=1),
        advice=advice,
    )


def file_signature(path):
    """`[inode, size, mtime_ns]` of a file or folder, or None when absent."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return [info.st_ino, info.st_size, info.st_mtime_ns]


def pending_name(best_path, epoch):
    """Where the best checkpoint of `epoch` (one-based) waits for its commit."""
    stem, extension = atomic.split_extension(best_path)
    return f"{stem}.pending-{epoch}{extension}"


def settle_best(state, best_path):
    """Finishes a committed best-checkpoint rename; drops uncommitted ones.

    Call it at the start of a resumed run, holding its lock.
    """
    if not best_path:
        return
    if state is not None and state.best_pending and os.path.exists(state.best_pending):
        os.replace(state.best_pending, best_path)
    stem, extension = atomic.split_extension(best_path)
    for leftover in glob.glob(glob.escape(stem) + ".pending-*" + glob.escape(extension)):
        os.remove(leftover)


def _distribution_scope(model):
    if keras.backend.backend() == "tensorflow":
        return model.distribute_strategy.scope()
    return contextlib.nullcontext()


class RunBackup(keras.callbacks.Callback):
    """Backs up a run at each epoch's end and keeps its best-epoch checkpoint.

    Args:
        backup_dir: str. The backup folder (`logdir/backup`).
        state: `BackupState` to resume from, or None for a fresh run.
        best_path: str or None. The best-epoch checkpoint (`.keras`).
        monitor: str. Metric of the best epoch (`val_accuracy`).
        mode: `"max"` or `"min"`.
        fingerprint: dict or None. Settings recorded for the resume check.
        output_before: list or None. `file_signature` of the output when the
            run first started.
        advice: str or None. The fix a failed write names.
        writes: bool. False on the processes of a multi-process run other
            than the chief: they keep the state in memory and keep no file
            (they still take part in every save, which Keras runs as JAX
            collectives, saving to a throwaway folder).

    Example:

    ```python
    backup = RunBackup("runs/exp1/backup", read_state("runs/exp1/backup"))
    backup.restore(model)
    model.fit(ds, epochs=3, initial_epoch=backup.epochs_done, callbacks=[backup])
    backup.remove()  # once the final model and report are written
    ```
    """

    def __init__(
        self,
        backup_dir,
        state=None,
        best_path=None,
        monitor="val_accuracy",
        mode="max",
        fingerprint=None,
        output_before=None,
        advice=None,
        writes=True,
    ):
        super().__init__()
        self.writes = writes
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min'. Received: {mode!r}.")
        self.backup_dir = backup_dir
        self.best_path = best_path
        self.monitor = monitor
        self.mode = mode
        self.advice = advice
        if state is None:
            state = BackupState(fingerprint=fingerprint, output_before=output_before)
        elif state.epochs_done:
            state = dataclasses.replace(state, resumed_at=list(state.resumed_at) + [state.epochs_done])
        self.state = state

    @property
    def epochs_done(self):
        """int: epochs finished, across resumes."""
        return self.state.epochs_done

    @property
    def history(self):
        """dict: the logs of every finished epoch, across resumes."""
        return self.state.history

    def restore(self, model):
        """Loads the backed-up weights and optimizer state into `model` (before `fit`).

        Records the resume in the backup (`resumed_at`).
        """
        if not self.state.weights:
            return
        path = os.path.join(self.backup_dir, self.state.weights)
        try:
            with _distribution_scope(model):
                if model.optimizer is not None and not model.optimizer.built:
                    model.optimizer.build(model.trainable_variables)
            model.load_weights(path)
        except Exception as error:  # A missing file, another model's weights.
            raise TrainingSetupError(
                f"Could not restore the backup {path!r} into this model "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). "
                f"Run with the settings of the interrupted run to resume it, or pass "
                f"--restart to discard it."
            ) from None
        if self.writes:
            write_state(self.backup_dir, self.state, advice=self.advice)

    def _improved(self, value):
        if value is None or not math.isfinite(value):
            return False
        best = self.state.best_value
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best

    def on_train_batch_end(self, batch, logs=None):
        faults.reached("train_step")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss = logs.get("loss")
        if loss is None or not math.isfinite(float(loss)):
            return  # TerminateOnNaN stops the run; the backup keeps the last finite epoch.
        done = epoch + 1
        history = {key: list(values) for key, values in self.state.history.items()}
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        value = logs.get(self.monitor)
        value = None if value is None else float(value)
        best = dict(
            best_value=self.state.best_value, best_epoch=self.state.best_epoch, best_pending=None
        )
        # In a multi-process run every process saves (Keras' saving runs JAX
        # collectives that every process must join); only the chief keeps the
        # files, the others save to a throwaway folder.
        if self.best_path and self._improved(value):
            pending = pending_name(self.best_path, done)
            with distribution.save_target(
                pending, self.writes, self.advice, "best_write"
            ) as temporary:
                self.model.save(temporary)
            best = dict(
                best_value=value, best_epoch=done, best_pending=pending if self.writes else None
            )
        weights = f"epoch-{done}.weights.h5"
        path = os.path.join(self.backup_dir, weights)
        previous = self.state.weights
        try:
            if self.writes:
                os.makedirs(self.backup_dir, exist_ok=True)
            with distribution.save_target(
                path, self.writes, self.advice, "backup_write"
            ) as temporary:
                self.model.save_weights(temporary)
            state = dataclasses.replace(
                self.state, epochs_done=done, weights=weights, history=history, **best
            )
            if self.writes:
                write_state(self.backup_dir, state, advice=self.advice)
        except BaseException:
            # Not committed: the previous state and its files stay as they were.
            if self.writes:
                for uncommitted in (best["best_pending"], path if weights != previous else None):
                    if uncommitted and os.path.exists(uncommitted):
                        os.remove(uncommitted)
            raise
        self.state = state
        if self.writes and previous and previous != weights:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(self.backup_dir, previous))
        if self.writes and best["best_pending"]:
            faults.reached("best_rename")
            os.replace(best["best_pending"], self.best_path)
        # Every process leaves the epoch with the chief's backup committed.
        distribution.barrier(f"dreamkeras_epoch_end_{done}")
        faults.reached("epoch_end")

    def remove(self):
        """Deletes the backup (call it once the final model and report are written)."""
        if self.writes and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)
