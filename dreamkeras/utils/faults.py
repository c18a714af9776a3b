"""Named points where a test can kill a run, as a crash or `kill -9` would.

The crash-safety tests (`tests/test_crash_safety.py`) start a run in a child
process with `DREAMKERAS_TEST_KILL_AT=<point>` (or `<point>:<n>`, the n-th
time the point is reached) in its environment; the run then sends itself
SIGKILL at that point: no `finally`, no `atexit`, no flushing, like a power
cut of the process. A point reached while a file is being written first
truncates the half-written file to half its size, as a kill in the middle
of the write would leave it. Without the variable (every normal run)
`reached` does nothing.

The points, in the order a run reaches them (`KILL_POINTS`):

- `train_step`: after an optimizer step (`train_step:3` is during the second
  epoch of 2-step epochs);
- `best_write`: while the best-epoch checkpoint (`_best.keras`) is written;
- `backup_write`: while the end-of-epoch backup is written;
- `best_rename`: the backup records the new best epoch, whose checkpoint is
  not yet renamed into place;
- `epoch_end`: between epochs, the epoch's backup complete;
- `after_fit`: after the last epoch, before the evaluation;
- `final_write`: while the final model (or preset) is written;
- `final_written`: the final model in place, the report not yet written;
- `report_written`: the report written, the backup not yet removed.
"""

import os
import signal
import sys

KILL_AT = "DREAMKERAS_TEST_KILL_AT"
KILL_POINTS = (
    "train_step",
    "best_write",
    "backup_write",
    "best_rename",
    "epoch_end",
    "after_fit",
    "final_write",
    "final_written",
    "report_written",
)
_times_reached = {}


def reached(point, partial=None):
    """Kills this process if `DREAMKERAS_TEST_KILL_AT` names `point` (tests only).

    Args:
        point: str. One of `KILL_POINTS`.
        partial: optional str. A file being written: truncated to half its
            size before the kill.

    Example:

    ```python
    reached("after_fit")  # a no-op unless DREAMKERAS_TEST_KILL_AT=after_fit
    ```
    """
    spec = os.environ.get(KILL_AT)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _times_reached[point] = _times_reached.get(point, 0) + 1
    if _times_reached[point] != int(nth or 1):
        return
    if partial and os.path.isfile(partial):
        with open(partial, "r+b") as f:
            f.truncate(os.path.getsize(partial) // 2)
    print(f"[{KILL_AT}] killing process {os.getpid()} at {spec}", flush=True)
    sys.stderr.flush()
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
