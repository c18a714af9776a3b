"""Atomic writes: a file or folder appears whole under its name, or not at all.

Every output of the apps, the tuner and the pretraining app (models, best
checkpoints, backups, presets, reports) is written to a temporary name in
the same folder (`run.incomplete-1234.keras`: the writer's pid, the same
extension, so Keras accepts it), flushed to disk, then renamed over the
final name with `os.replace`, which is atomic. A process killed while
writing leaves the older file as it was plus a temporary that is never
taken for a finished output (and is cleared by the next run of the same
output); a failed write (a full disk) removes its temporary and raises a
one-line `WriteError` that names the path.

Folders (presets) are swapped whole: on Linux with `renameat2`'s
`RENAME_EXCHANGE`, elsewhere by renaming the older folder aside
(`NAME.replaced-<pid>`) for the instant of the swap.
"""

import contextlib
import ctypes
import errno
import glob
import os
import shutil

from dreamkeras_cli.config import TrainingSetupError

INCOMPLETE = ".incomplete-"
_DOUBLE_EXTENSIONS = (".weights.h5",)


class WriteError(TrainingSetupError):
    """An output could not be written (full disk, no permission, ...).

    The message is one line naming the path, the cause and the fix; the
    older file under that name (if any) is untouched.

    Example:

    ```python
    try:
        with replacing("out/model.keras") as temporary:
            model.save(temporary)
    except WriteError as error:
        print(error)
    ```
    """


def split_extension(path):
    """`(stem, extension)`, keeping `.weights.h5` whole.

    Example:

    ```python
    split_extension("a/run.weights.h5")  # ("a/run", ".weights.h5")
    ```
    """
    for extension in _DOUBLE_EXTENSIONS:
        if path.endswith(extension):
            return path[: -len(extension)], extension
    return os.path.splitext(path)


def temporary_name(path, pid=None):
    """The temporary name `path` is written under: same folder, same extension.

    Example:

    ```python
    temporary_name("out/run.keras")  # "out/run.incomplete-1234.keras"
    ```
    """
    stem, extension = split_extension(os.fspath(path).rstrip(os.sep))
    return f"{stem}{INCOMPLETE}{os.getpid() if pid is None else pid}{extension}"


def remove_leftovers(path):
    """Removes the temporaries of `path` that killed writers left; returns them.

    Call it only while holding the run's lock: a temporary of another live
    writer would go too.
    """
    stem, extension = split_extension(os.fspath(path).rstrip(os.sep))
    found = glob.glob(glob.escape(stem + INCOMPLETE) + "*" + glob.escape(extension))
    found += glob.glob(glob.escape(os.fspath(path).rstrip(os.sep)) + ".replaced-*")
    for leftover in found:
        _remove(leftover)
    return found


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        try:
            os.remove(path)
        except OSError:
            pass


def _sync(path):
    """Flushes a file, or every file of a folder, to the disk."""
    paths = [path]
    if os.path.isdir(path):
        paths = [os.path.join(root, name) for root, _, names in os.walk(path) for name in names]
    for name in paths:
        fd = os.open(name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sync_folder(folder):
    """Flushes a folder's entries (the rename) to the disk, where supported."""
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # Windows and some file systems cannot sync folders.
        pass
    finally:
        os.close(fd)


def _exchange(first, second):
    """Swaps two paths atomically (Linux `renameat2`); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(
        at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange
    )
    return result == 0


def replace_folder(source, destination):
    """Puts the folder `source` at `destination`, replacing an older one.

    The older folder is swapped out atomically where the system allows it,
    else renamed aside (`destination.replaced-<pid>`) for the instant of
    the swap; it is deleted once the new one is in place.
    """
    if not os.path.lexists(destination):
        os.rename(source, destination)
        return
    if _exchange(source, destination):
        shutil.rmtree(source)
        return
    aside = f"{destination.rstrip(os.sep)}.replaced-{os.getpid()}"
    os.rename(destination, aside)
    os.rename(source, destination)
    _remove(aside)


def describe(error):
    """`error`'s cause in words, saying when the disk is full."""
    if getattr(error, "errno", None) == errno.ENOSPC:
        return "no space left on the device (errno 28)"
    reason = getattr(error, "strerror", None) or str(error)
    number = getattr(error, "errno", None)
    return f"{reason} (errno {number})" if number else reason


def write_error(path, error, advice=None):
    """The `WriteError` for `error` while writing `path`, with `advice` (the fix)."""
    if advice is None:
        advice = "Nothing older was changed. Free space or choose another folder, then run again."
    return WriteError(f"Could not write {path!r}: {describe(error)}. {advice}")


@contextlib.contextmanager
def replacing(path, advice=None, point=None):
    """Yields a temporary name to write `path` to; renames it over `path` after.

    The temporary is in the same folder, with the same extension (Keras
    checks `.keras` and `.weights.h5`). When the block finishes, the file
    (or folder) is flushed to the disk and atomically renamed to `path`; if
    the block fails, the temporary is removed and `path` is left as it was.

    Args:
        path: str. The file or folder to write.
        advice: optional str. The fix a `WriteError` names (default: free
            space and run again).
        point: optional str. The `dreamkeras.utils.faults` point reached
            after writing, before the rename (tests).

    Raises:
        WriteError: writing or renaming failed with an `OSError` (a full
            disk, no permission).

    Example:

    ```python
    with replacing("outputs/run.keras") as temporary:
        model.save(temporary)
    ```
    """
    from dreamkeras.utils import faults

    path = os.fspath(path)
    temporary = temporary_name(path)
    _remove(temporary)
    try:
        yield temporary
        if point:
            faults.reached(point, partial=temporary)
        _sync(temporary)
        if os.path.isdir(temporary):
            replace_folder(temporary, path)
        else:
            os.replace(temporary, path)
        _sync_folder(os.path.dirname(path))
    except OSError as error:
        _remove(temporary)
        raise write_error(path, error, advice) from None
    except BaseException:
        _remove(temporary)
        raise


def write_text(path, text, advice=None):
    """Writes `text` to `path` atomically (see `replacing`).

    Example:

    ```python
    write_text("runs/best_trials.md", "| trial | score |")
    ```
    """
    with replacing(path, advice=advice) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
