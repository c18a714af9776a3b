"""Runs that survive crashes (issue #19): kills at every point, full disks, locks.

A tiny run of the real engine (`tests/crash_child.py`: the vision app's
configuration, a one-layer model, 2 epochs of 2 steps) is killed with
SIGKILL at each named point (`dreamkeras.utils.faults`) in a child process;
the children start together when the first kill test runs and the reruns
happen in this process. Each rerun must finish the run with the optimizer
steps of an uninterrupted run, without repeating a finished epoch, with a
loadable model, a complete report and nothing older destroyed.

The runs are marked `app` (CI runs them on jax only); the lock, atomic-write
and best-value tests run on every backend.
"""

import concurrent.futures
import errno
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from dreamkeras.training import EpochRecorder
from dreamkeras.training import backup as backups
from dreamkeras.training import train
from dreamkeras.utils import atomic
from dreamkeras.utils import faults
from dreamkeras.utils.run_lock import RunLock
from dreamkeras.utils.run_lock import RunLockedError
from tests import crash_child
from tests.app_helpers import BACKEND
from tests.app_helpers import REPO
from tests.app_helpers import report as read_report
from tests.app_helpers import run_script

OLDER_MODEL = b"an older model, kept until the new one is whole"
OLDER_REPORT = {"older": True}
# Kill point -> the epochs (zero-based) the rerun trains: never a finished one.
KILLS = {
    "train_step:3": [1],  # During the second epoch.
    "best_write:1": [0, 1],  # While the first best checkpoint is written.
    "backup_write:2": [1],  # While the second epoch's backup is written.
    "best_rename:1": [1],  # Best epoch committed, its checkpoint not yet renamed.
    "epoch_end:1": [1],  # Between the epochs.
    "after_fit": [],  # After the last epoch, before the evaluation.
    "final_write": [],  # While the final model is written.
    "final_written": [],  # Model written, report not yet.
    "report_written": [],  # Report written, backup not yet removed.
}
# Points before which the older model / report must be untouched.
MODEL_WRITTEN_AT = ("final_written", "report_written")
REPORT_WRITTEN_AT = ("report_written",)


def _with_older_outputs(folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "run.keras"), "wb") as f:
        f.write(OLDER_MODEL)
    with open(os.path.join(folder, "run.json"), "w") as f:
        json.dump(OLDER_REPORT, f)


def _child(folder, point):
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    env[faults.KILL_AT] = point
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "tests.crash_child", folder, "--overwrite"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The report of the same run, never interrupted (in this process)."""
    folder = str(tmp_path_factory.mktemp("uninterrupted"))
    return train(crash_child.tiny_config(folder), task=crash_child.TinyTask())


@pytest.fixture(scope="module")
def killed_children(tmp_path_factory):
    """Starts one child per kill point, all at once; yields {point: (folder, future)}."""
    root = tmp_path_factory.mktemp("kills")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    children = {}
    for point in KILLS:
        folder = str(root / point.replace(":", "_"))
        _with_older_outputs(folder)
        children[point] = (folder, pool.submit(_child, folder, point))
    yield children
    pool.shutdown(wait=True)


def _listing(folder):
    return sorted(os.listdir(folder))


def _tiny_eval_accuracy(model):
    rng = np.random.default_rng(0)
    images = rng.random((48, 8, 8, 3), dtype=np.float32)
    labels = keras.utils.to_categorical(rng.integers(0, 4, 48), 4)
    # The child's validation part (`tests/crash_child.py`).
    return model.evaluate(
        images[32:40], labels[32:40], batch_size=8, verbose=0, return_dict=True
    )


@pytest.mark.app
@pytest.mark.parametrize("point", list(KILLS))
def test_a_kill_at_any_point_resumes_without_losing_work(
    killed_children, uninterrupted, point, capsys
):
    folder, future = killed_children[point]
    child = future.result()
    assert child.returncode == -9, child.stdout[-2000:] + child.stderr[-3000:]
    assert f"at {point}" in child.stdout

    # Nothing older destroyed by the kill.
    name = point.split(":")[0]
    with open(os.path.join(folder, "run.keras"), "rb") as f:
        model_bytes = f.read()
    assert (model_bytes == OLDER_MODEL) == (name not in MODEL_WRITTEN_AT)
    with open(os.path.join(folder, "run.json")) as f:
        assert (json.load(f) == OLDER_REPORT) == (name not in REPORT_WRITTEN_AT)

    recorder = EpochRecorder()
    report = train(
        crash_child.tiny_config(folder, ["--overwrite"]), task=crash_child.TinyTask(),
        callbacks=[recorder],
    )
    out = capsys.readouterr().out
    assert "took over the lock of process" in out and "ended without releasing it" in out

    # No finished epoch repeated; all of them in the report, steps as uninterrupted.
    assert recorder.started == KILLS[point]
    assert report["epochs_completed"] == 2
    assert all(len(values) == 2 for values in report["history"].values())
    assert set(report["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert report["optimizer_steps"] == uninterrupted["optimizer_steps"] == 2 * 2
    assert report["epochs_completed"] == uninterrupted["epochs_completed"]
    with open(os.path.join(folder, "run.json")) as f:
        assert json.load(f)["optimizer_steps"] == 4  # The report on disk is whole.

    # A loadable model; the best checkpoint is the best epoch of the history.
    model = keras.saving.load_model(os.path.join(folder, "run.keras"))
    assert model.count_params() == 8 * 8 * 3 * 4 + 4
    best = keras.saving.load_model(os.path.join(folder, "run_best.keras"))
    best_accuracy = max(report["history"]["val_accuracy"])
    np.testing.assert_allclose(_tiny_eval_accuracy(best)["accuracy"], best_accuracy)
    assert report["history"]["val_accuracy"][report["best_epoch"] - 1] == best_accuracy

    # Nothing left behind: no backup, lock, temporary or staged checkpoint.
    assert _listing(folder) == ["logs", "run.json", "run.keras", "run_best.keras"]
    assert "backup" not in os.listdir(os.path.join(folder, "logs"))
    assert "run.lock" not in os.listdir(os.path.join(folder, "logs"))


def _fail_writes_of(monkeypatch, fragment):
    """Writes whose temporary name holds `fragment` fail as on a full disk.

    The failure is the kernel's own: the write goes to `/dev/full` (or an
    `OSError(ENOSPC)` where there is none).
    """
    sync = atomic._sync

    def full_disk(path):
        if fragment in os.path.basename(path):
            if os.path.exists("/dev/full"):
                with open("/dev/full", "wb") as f:
                    f.write(b"\0" * 65536)
                    f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        sync(path)

    monkeypatch.setattr(atomic, "_sync", full_disk)


# Where the disk fills up -> the epochs the rerun trains.
FULL_DISK = {
    "run.incomplete-": [],  # The final model (and, the same code, a report).
    "epoch-2.incomplete-": [1],  # The second epoch's backup.
}


@pytest.mark.app
@pytest.mark.parametrize("fragment", list(FULL_DISK))
def test_a_full_disk_is_one_error_line_and_keeps_the_backup(tmp_path, monkeypatch, capsys, fragment):
    folder = str(tmp_path)
    _with_older_outputs(folder)
    _fail_writes_of(monkeypatch, fragment)
    assert crash_child.main([folder, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Could not write ") and err.count("\n") == 1, err
    assert "no space left on the device (errno 28)" in err and folder in err
    assert "backup" in err and "run the same command again" in err
    # Nothing older destroyed, no temporary left, the trained epochs kept.
    with open(os.path.join(folder, "run.keras"), "rb") as f:
        assert f.read() == OLDER_MODEL
    assert not [n for n in _listing(folder) if atomic.INCOMPLETE in n or n.endswith(".lock")]
    kept = backups.read_state(os.path.join(folder, "logs", "backup"))
    assert kept.epochs_done == 2 - len(FULL_DISK[fragment])

    monkeypatch.undo()
    recorder = EpochRecorder()
    report = train(
        crash_child.tiny_config(folder, ["--overwrite"]), task=crash_child.TinyTask(),
        callbacks=[recorder],
    )
    assert recorder.started == FULL_DISK[fragment]
    assert report["optimizer_steps"] == 4 and report["epochs_completed"] == 2


@pytest.mark.app
def test_a_second_live_run_is_refused_and_nothing_is_written(tmp_path, capsys):
    folder = str(tmp_path / "run")
    config = crash_child.tiny_config(folder)
    with RunLock(os.path.join(config.files.logdir, "run.lock"), "--logdir"):
        assert crash_child.main([folder]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"process {os.getpid()} on " in err
    assert "in use by another run" in err and f"kill {os.getpid()}" in err
    # The holder made the folders for its lock and removed them when it let go.
    assert not os.path.exists(folder)


def test_the_run_lock_takes_over_a_dead_holder_and_refuses_a_live_one(tmp_path):
    path = str(tmp_path / "run.lock")
    with open(path, "w") as f:
        json.dump({"pid": 999999999, "host": "somewhere", "started": "yesterday"}, f)
    with RunLock(path, "--logdir x") as lock:
        assert "process 999999999 on somewhere, started yesterday" in lock.takeover_line()
        with open(path) as f:
            assert json.load(f)["pid"] == os.getpid()
        with pytest.raises(RunLockedError, match=r"--logdir x is in use by another run"):
            RunLock(path, "--logdir x").acquire()
    assert not os.path.exists(path)
    with RunLock(path, "--logdir x") as lock:  # Released cleanly: no takeover.
        assert lock.takeover_line() is None


def test_a_resumed_run_keeps_the_best_value(tmp_path):
    """The first epoch after a resume cannot replace `_best.keras` with a worse model."""
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="adam", loss="mse")
    best = str(tmp_path / "run_best.keras")
    state = backups.BackupState(epochs_done=1, best_value=0.75, best_epoch=1)
    backup = backups.RunBackup(str(tmp_path / "backup"), state, best_path=best)
    backup.set_model(model)
    backup.on_epoch_end(1, {"loss": 1.0, "val_accuracy": 0.5})
    assert not os.path.exists(best) and backup.state.best_value == 0.75
    backup.on_epoch_end(2, {"loss": 1.0, "val_accuracy": 0.8})
    assert os.path.exists(best) and backup.state.best_epoch == 3
    assert backups.read_state(str(tmp_path / "backup")).history["val_accuracy"] == [0.5, 0.8]
    assert backups.read_state(str(tmp_path / "backup")).epochs_done == 3
    # A NaN epoch is not committed: the backup keeps the last finite one.
    backup.on_epoch_end(3, {"loss": float("nan"), "val_accuracy": 0.9})
    assert backups.read_state(str(tmp_path / "backup")).epochs_done == 3


def test_atomic_writes_of_files_and_folders(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"older")
    with pytest.raises(RuntimeError):
        with atomic.replacing(str(target)) as temporary:
            assert temporary == str(tmp_path / f"model.incomplete-{os.getpid()}.keras")
            with open(temporary, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"older" and _listing(tmp_path) == ["model.keras"]
    with atomic.replacing(str(target)) as temporary:
        with open(temporary, "wb") as f:
            f.write(b"newer")
    assert target.read_bytes() == b"newer" and _listing(tmp_path) == ["model.keras"]
    assert atomic.temporary_name("a/b.weights.h5", pid=7) == "a/b.incomplete-7.weights.h5"

    preset = tmp_path / "preset"
    for content in ("first", "second"):
        with atomic.replacing(str(preset)) as temporary:
            os.makedirs(temporary)
            (tmp_path / temporary / "config.json").write_text(content)
        assert (preset / "config.json").read_text() == content
    assert _listing(tmp_path) == ["model.keras", "preset"]
    # What a killed writer leaves is cleared by the next run of the same output.
    (tmp_path / "model.incomplete-123.keras").write_bytes(b"partial")
    (tmp_path / "preset.incomplete-123").mkdir()
    atomic.remove_leftovers(str(target))
    atomic.remove_leftovers(str(preset))
    assert _listing(tmp_path) == ["model.keras", "preset"]


@pytest.mark.app
@pytest.mark.large
@pytest.mark.parametrize("point", ["train_step:3", "final_write"])
def test_the_vision_app_killed_and_rerun_as_a_user_would(tmp_path, point):
    """`python apps/cifar100.py --fast-dev-run ...` killed, then the same command again."""
    argv = ["--backend", BACKEND, "--fast-dev-run", "--model", "baseline", "--blocks", "1",
            "--verbose", "0", "--output", str(tmp_path / "run.keras"),
            "--logdir", str(tmp_path / "run_logs")]
    killed = run_script("apps/cifar100.py", argv, cwd=tmp_path, env={faults.KILL_AT: point})
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (tmp_path / "run.keras").exists()
    again = run_script("apps/cifar100.py", argv, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "took over the lock of process" in again.stdout
    result = read_report(tmp_path)
    assert result["optimizer_steps"] == 4 and result["epochs_completed"] == 2
    assert result["epochs_this_process"] == (1 if point.startswith("train_step") else 0)
    keras.saving.load_model(tmp_path / "run.keras")
    assert _listing(tmp_path) == ["run.json", "run.keras", "run_best.keras", "run_logs"]


@pytest.mark.app
@pytest.mark.large
def test_pretraining_killed_while_writing_its_preset_keeps_the_older_one(tmp_path):
    from dreamkeras.encoders import load_autoencoder

    argv = ["--backend", BACKEND, "--fast-dev-run", "--verbose", "0", "--overwrite",
            "--output", str(tmp_path / "mae"), "--logdir", str(tmp_path / "mae_logs")]
    (tmp_path / "mae").mkdir()
    (tmp_path / "mae" / "older.txt").write_text("an older preset")
    killed = run_script("apps/pretrain_mae.py", argv, cwd=tmp_path,
                        env={faults.KILL_AT: "final_write"})
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert _listing(tmp_path / "mae") == ["older.txt"]  # The older preset, whole.
    again = run_script("apps/pretrain_mae.py", argv, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "no epoch repeated" in again.stdout
    assert "older.txt" not in os.listdir(tmp_path / "mae")
    assert load_autoencoder(str(tmp_path / "mae")).image_shape == (32, 32, 3)
    assert _listing(tmp_path) == ["mae", "mae.json", "mae_logs"]
