"""One live run per run directory: a lock file with its holder's pid, host and start.

`RunLock(path)` holds an exclusive `flock` on `path` (e.g.
`runs/cifar100_dreamnet3/run.lock`) for as long as the run lives; the
kernel drops it when the process ends, however it ends (even `kill -9`), so
a lock whose holder died is found free and taken over, with a message naming
the dead holder. The file says who holds it (pid, host, start time,
command), for the error a second run gets. Where `fcntl` is missing
(Windows), the lock falls back to the pid in the file.
"""

import datetime
import json
import os
import socket
import sys

from dreamkeras_cli.config import TrainingSetupError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows.
    fcntl = None


class RunLockedError(TrainingSetupError):
    """Another live run holds the lock (a one-line message with its pid and the fix)."""


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _read(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    try:
        holder = json.loads(data.decode("utf-8")) if data.strip() else None
    except ValueError:
        holder = {"unreadable": data[:200].decode("utf-8", "replace")}
    return holder if isinstance(holder, dict) else None


def describe_holder(holder):
    """`"process 123 on host, started 2025-01-01T10:00:00 (python apps/x.py)"`."""
    if not holder:
        return "an unknown process"
    text = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"
    if holder.get("started"):
        text += f", started {holder['started']}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


class RunLock:
    """An exclusive lock on a run's folder or output, held while the run lives.

    Args:
        path: str. The lock file (created with its folder if needed).
        what: str. What the lock protects, for messages (`"--logdir
            runs/x"`).
        advice: str. How to run both anyway (the error's last sentence).

    Attributes:
        took_over: dict or None. The holder of a stale lock (its process
            ended without releasing it) that `acquire` took over.

    Example:

    ```python
    with RunLock("runs/exp1/run.lock", "--logdir runs/exp1") as lock:
        ...  # the run
    ```
    """

    def __init__(self, path, what, advice="Pass another --logdir / --output to run both."):
        self.path = os.path.abspath(path)
        self.what = what
        self.advice = advice
        self.took_over = None
        self._fd = None
        self._created = []

    def _refuse(self, holder):
        pid = (holder or {}).get("pid")
        stop = f" or stop it (kill {pid})" if pid else ""
        return RunLockedError(
            f"{self.what} is in use by another run: {describe_holder(holder)} holds "
            f"{self.path}. Wait for it to finish{stop}; {self.advice}"
        )

    def acquire(self):
        """Takes the lock; returns `self`.

        Raises:
            RunLockedError: a live process holds it.
        """
        folder = os.path.dirname(self.path)
        created = []
        while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
            created.append(folder)
            folder = os.path.dirname(folder)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._created = created
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise self._refuse(_read(fd)) from None
                    # A holder that released (and removed) the file between our
                    # open and flock: lock the file that is now there instead.
                    try:
                        same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                    except FileNotFoundError:
                        same = False
                    if not same:
                        os.close(fd)
                        continue
                holder = _read(fd)
                if holder and fcntl is None and holder.get("pid") not in (None, os.getpid()):
                    if holder.get("host") == socket.gethostname() and _pid_alive(holder["pid"]):
                        raise self._refuse(holder)
                if holder and holder.get("pid") != os.getpid():
                    self.took_over = holder
                record = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.datetime.now().isoformat(timespec="seconds"),
                    "command": " ".join(sys.argv) if sys.argv and sys.argv[0] else "python",
                }
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, json.dumps(record).encode("utf-8"))
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                for created in self._created:
                    try:
                        os.rmdir(created)
                    except OSError:
                        break
                raise
            self._fd = fd
            return self

    def release(self):
        """Removes the lock file (and the folders it created, if still empty).

        Idempotent.
        """
        if self._fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
        for folder in self._created:  # Innermost first; kept once anything is in it.
            try:
                os.rmdir(folder)
            except OSError:
                break
        self._created = []

    def takeover_line(self):
        """The message about a stale lock taken over, or None."""
        if not self.took_over:
            return None
        return (
            f"took over the lock of {describe_holder(self.took_over)}, which ended "
            f"without releasing it"
        )

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
