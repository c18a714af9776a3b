"""The run's files before training: writable folders, locks, the resume check.

`prepare_outputs` applies `--restart`, reads the backup of an interrupted run
(`dreamkeras.training.backup`), checks that it was made with the same
settings (`run_fingerprint`) and refuses to overwrite an output; `lock_run`
locks `--logdir` and `--output` against a second live run. The engine
(`dreamkeras.training.engine`) calls them before it builds anything.
"""

import os
import shutil

from dreamkeras.training import backup as backups
from dreamkeras.training import report as reporting
from dreamkeras.training.backup import read_state
from dreamkeras.utils import atomic
from dreamkeras.utils.run_lock import RunLock
from dreamkeras_cli.config import TrainingSetupError


def check_writable(path, flag):
    """Raises unless `path`'s folder exists or can be created, writable."""
    from dreamkeras_cli import checks

    checks.check_writable(path, flag)


# The settings a backup must be resumed with: they change the data, the
# model or the steps. The number of epochs, the optimiser (a lower --lr after
# a divergence), --verbose and the paths may change.
_RESUMABLE_SCHEDULE = ("batch_size", "steps_per_epoch", "seed", "train_subset", "eval_subset")


def run_fingerprint(config):
    """The settings of `config` a resumed run must share with the interrupted one.

    Example:

    ```python
    run_fingerprint(config)["model"]["blocks"]
    ```
    """
    settings = reporting.jsonable(config.to_dict())
    return {
        "task": config.task,
        "data": {k: v for k, v in settings["data"].items() if k != "data_dir"},
        "model": settings["model"],
        "schedule": {k: settings["schedule"][k] for k in _RESUMABLE_SCHEDULE},
        "augment": settings["augment"],
    }


def _flat(settings, prefix=""):
    flat = {}
    for key, value in (settings or {}).items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_fingerprint(state, config):
    if not state.fingerprint:
        return
    before, now = _flat(state.fingerprint), _flat(run_fingerprint(config))
    changed = [
        f"{key} {before.get(key)!r} -> {now.get(key)!r}"
        for key in sorted(set(before) | set(now))
        if before.get(key) != now.get(key)
    ]
    if changed:
        raise TrainingSetupError(
            f"The backup in {config.files.backup!r} ({state.epochs_done} epochs) was made "
            f"with other settings ({'; '.join(changed)}). Run with the interrupted run's "
            f"settings to resume it, pass --restart to discard it, or pass another --logdir."
        )


def lock_run(files, stack):
    """Locks the run's --logdir and --output; returns the takeover lines."""
    locks = [
        RunLock(os.path.join(files.logdir, "run.lock"), f"--logdir {files.logdir}"),
        RunLock(files.output.rstrip(os.sep) + ".lock", f"--output {files.output}"),
    ]
    lines = []
    for lock in locks:
        try:
            stack.enter_context(lock)
        except OSError as error:
            raise TrainingSetupError(
                f"Cannot create the run lock {lock.path!r} ({atomic.describe(error)}). "
                f"Pass --logdir / --output somewhere you can write."
            ) from None
        line = lock.takeover_line()
        if line and reporting.line("lock", line) not in lines:
            lines.append(reporting.line("lock", line))
    return lines


def _output_is_this_runs(files, state):
    """True when the output exists because the interrupted run wrote it."""
    return state is not None and backups.file_signature(files.output) != state.output_before


def prepare_outputs(files, config=None, writes=True):
    """Applies `--restart`, reads the backup and refuses to overwrite; returns the state.

    Call it holding the run's locks: it removes what killed runs left
    (temporaries, uncommitted best checkpoints) and finishes a committed
    best-checkpoint rename. With `writes=False` (the other processes of a
    multi-process run, after the chief's) it only reads and checks.
    """
    if writes and files.restart and os.path.isdir(files.backup):
        shutil.rmtree(files.backup)
    state = read_state(files.backup)
    if files.resume and state is None:
        raise TrainingSetupError(
            f"--resume: no interrupted run to resume in {files.backup!r}. Check "
            f"--logdir, or run without --resume to start afresh."
        )
    if state is not None and config is not None:
        _check_fingerprint(state, config)
    if os.path.exists(files.output) and not files.overwrite and not _output_is_this_runs(files, state):
        raise TrainingSetupError(
            f"The output {files.output!r} already exists. Pass --overwrite to "
            f"replace it, or --output to write elsewhere."
        )
    if not writes:
        return state
    for path in (files.output, files.report, files.best):
        if path:
            atomic.remove_leftovers(path)
    backups.settle_best(state, files.best)
    return state


def write_advice(files, what):
    """The fix a failed write of the run names: free space, then rerun."""
    return (
        f"Nothing older was changed and the backup {files.backup} keeps {what}: free "
        f"space (or pass --output / --logdir on another disk) and run the same command "
        f"again to finish without repeating finished epochs."
    )
