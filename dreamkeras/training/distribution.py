"""Scaling a run out over several processes (hosts).

- `initialize_multi_host` joins a multi-process JAX run
  (`keras.distribution.initialize`) from flags or the usual environment
  variables; `is_chief` is true on process 0 only, the one that writes.
- The device mesh (`--mesh`, the encoder's layout) is in
  `dreamkeras.training.mesh`.
- `shard_for_process` gives each process its own part of a dataset
  (`process_shard`: the part alone).

JAX only: the torch and tensorflow backends are refused with the supported
way (`docs/distributed.md`).
"""

import contextlib
import os
import shutil
import tempfile

import keras

from dreamkeras_cli.config import TrainingSetupError

# (flag, environment variables read in this order, type).
_MULTI_HOST_SETTINGS = (
    ("--coordinator-address", ("JAX_COORDINATOR_ADDRESS", "KERAS_DISTRIBUTION_JOB_ADDRESSES"), str),
    ("--num-processes", ("JAX_NUM_PROCESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES"), int),
    ("--process-id", ("JAX_PROCESS_ID", "KERAS_DISTRIBUTION_PROCESS_ID"), int),
)

_initialized = None


def multi_host_settings(coordinator_address=None, num_processes=None, process_id=None):
    """The multi-process settings: flags first, then the environment.

    Reads `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`
    (or Keras' `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `..._NUM_PROCESSES`,
    `..._PROCESS_ID`) for what the flags leave out.

    Returns:
        dict with `coordinator_address`, `num_processes`, `process_id`, or
        None when nothing asks for several processes.

    Raises:
        TrainingSetupError: an incomplete or inconsistent set.

    Example:

    ```python
    multi_host_settings("10.0.0.1:1234", 2, 0)
    ```
    """
    given = [coordinator_address, num_processes, process_id]
    for index, (flag, names, cast) in enumerate(_MULTI_HOST_SETTINGS):
        for name in names:
            if given[index] is None and os.environ.get(name):
                try:
                    given[index] = cast(os.environ[name])
                except ValueError:
                    raise TrainingSetupError(
                        f"{name}={os.environ[name]!r} is not a valid {flag[2:]}; set "
                        f"it to a {cast.__name__} or pass {flag}."
                    ) from None
    coordinator_address, num_processes, process_id = given
    if all(value is None for value in given) or num_processes == 1:
        return None
    missing = [flag for (flag, _, _), value in zip(_MULTI_HOST_SETTINGS, given) if value is None]
    if missing:
        raise TrainingSetupError(
            f"A multi-process run needs {', '.join(missing)} too (or "
            f"{', '.join(_MULTI_HOST_SETTINGS[i][1][0] for i, v in enumerate(given) if v is None)}"
            f" in the environment): pass all of --coordinator-address, "
            f"--num-processes and --process-id on every process."
        )
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise TrainingSetupError(
            f"--process-id must be in 0..{num_processes - 1} for --num-processes "
            f"{num_processes}, got {process_id}."
        )
    return dict(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )


def initialize_multi_host(coordinator_address=None, num_processes=None, process_id=None):
    """Joins a multi-process JAX run (once per process); a no-op for one process.

    Call it before any JAX computation. On CPUs it selects JAX's gloo
    collectives, so that several local processes can train together (the
    tests do).

    Args:
        coordinator_address: str or None. `host:port` of process 0.
        num_processes: int or None. Number of processes.
        process_id: int or None. This process's index (0 writes).

    Returns:
        dict of the settings used, or None for a single-process run.

    Raises:
        TrainingSetupError: not the jax backend, incomplete settings, or
            JAX already started.

    Example:

    ```python
    initialize_multi_host("10.0.0.1:1234", num_processes=2, process_id=0)
    ```
    """
    global _initialized
    settings = multi_host_settings(coordinator_address, num_processes, process_id)
    if settings is None:
        return None
    if _initialized is not None:
        if settings != _initialized:
            raise TrainingSetupError(
                f"This process already joined the multi-process run {_initialized}; "
                f"start a new process for {settings}."
            )
        return settings
    backend = keras.backend.backend()
    if backend != "jax":
        raise TrainingSetupError(
            f"Multi-process runs (--num-processes) are supported on the jax backend "
            f"only, not on {backend}: pass --backend jax (on torch and tensorflow, "
            f"use --distribute on one machine; see docs/distributed.md)."
        )
    import jax

    if jax.config.jax_cpu_collectives_implementation in (None, "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize(
            settings["coordinator_address"], settings["num_processes"], settings["process_id"]
        )
    except RuntimeError as error:
        raise TrainingSetupError(
            f"Could not join the multi-process run at {settings['coordinator_address']} "
            f"({str(error).splitlines()[0]}). Join before any JAX computation, with "
            f"the same --coordinator-address and --num-processes on every process."
        ) from None
    _initialized = settings
    return settings


def process_index():
    """This process's index in a multi-process run (0 otherwise).

    Example:

    ```python
    process_index()  # 0 on the chief
    ```
    """
    if _initialized is None:
        return 0
    return _initialized["process_id"]


def process_count():
    """The number of processes of the run (1 for a single-process run).

    Example:

    ```python
    process_count()
    ```
    """
    if _initialized is None:
        return 1
    return _initialized["num_processes"]


def is_chief():
    """True on the process that writes models, reports, logs and backups (index 0).

    Example:

    ```python
    if is_chief():
        model.save("model.keras")
    ```
    """
    return process_index() == 0


def barrier(name):
    """Waits until every process reaches `name` (nothing for one process).

    Example:

    ```python
    barrier("outputs_prepared")
    ```
    """
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


@contextlib.contextmanager
def undistributed():
    """Builds and saves in this process alone, outside the run's distribution.

    For work only one process does (the chief writing a file): under the
    run's distribution, creating and saving variables runs collectives that
    every process would have to join.

    Example:

    ```python
    with undistributed():
        build_random_preset(folder)
    ```
    """
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


@contextlib.contextmanager
def throwaway_path(path):
    """A path named like `path` in a new temporary folder, removed afterwards.

    The processes other than the chief save there: Keras' saving runs JAX
    collectives (variables it creates, arrays it reads) that every process
    of a multi-process run must join, but only the chief keeps the file.

    Example:

    ```python
    with throwaway_path("runs/m.keras") as scratch:
        model.save(scratch)  # every process takes part; nothing is kept
    ```
    """
    folder = tempfile.mkdtemp(prefix="dreamkeras-throwaway-")
    try:
        yield os.path.join(folder, os.path.basename(path))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_target(path, writes=None, advice=None, point=None):
    """Where this process saves `path`: atomically if it writes, else a throwaway file.

    Every process of a multi-process run takes part in each save (Keras'
    saving runs JAX collectives); only the writer (the chief, by default)
    keeps the file, through `dreamkeras.utils.atomic.replacing`.

    Args:
        path: str. The file to write.
        writes: bool or None. Whether this process keeps the file; defaults
            to `is_chief()`.
        advice, point: passed to `atomic.replacing`.

    Example:

    ```python
    with save_target("runs/m.keras") as target:
        model.save(target)
    ```
    """
    from dreamkeras.utils import atomic

    if writes is None:
        writes = is_chief()
    if writes:
        return atomic.replacing(path, advice=advice, point=point)
    return throwaway_path(path)


def shard_for_process(dataset, global_batch_size, size=None, training=False):
    """This process's share of an unbatched dataset: `(dataset, batch size, shard)`.

    The dataset itself is not split here: pass `shard` to
    `dreamkeras.data.build_pipeline`, which keeps this process's block of
    every global batch *after* the shuffle (the same seed on every process),
    so that the processes' batches side by side are exactly the
    single-process run's global batches, example for example (the same
    losses, also for a loss that depends on the position in the batch, such
    as the MAE's random masks), at the price of
    every process reading the whole dataset. Every process runs the same
    number of steps: a training part stops after `size // global_batch_size`
    batches (the single-process run's, with `drop_remainder`); a held-out
    part (not shuffled) keeps `size - size % global_batch_size` examples.

    Args:
        dataset: unbatched `tf.data.Dataset`.
        global_batch_size: int. The batch of all processes together.
        size: int or None. The number of examples (default: the dataset's
            cardinality).
        training: bool. The shuffled training part.

    Returns:
        `(dataset, per_process_batch_size, shard)`: `shard` is
        `(num_processes, process_index, batches)` (`batches`: the number of
        batches of a training part, or None), or None (and the dataset
        unchanged) for one process.

    Raises:
        TrainingSetupError: a batch that does not split over the processes.

    Example:

    ```python
    part, batch_size, shard = shard_for_process(data.train, 64, training=True)
    ```
    """
    count = process_count()
    if size is None and count > 1:
        size = int(dataset.cardinality())
    shard = process_shard(global_batch_size, size, training)
    if shard is None:
        return dataset, global_batch_size, None
    if size >= 0 and not training:
        dataset = dataset.take(size - size % global_batch_size)
    return dataset, global_batch_size // count, shard


def process_shard(global_batch_size, size, training=False):
    """This process's `(num_processes, process_index, batches)`, or None.

    The `shard` of `shard_for_process`, for a pipeline that shards batches
    itself (the MLM's masked batches). `batches` is the number of global
    batches of a training part of `size` examples (None for a held-out part
    or an unknown size, negative).

    Raises:
        TrainingSetupError: a batch that does not split over the processes.
    """
    count = process_count()
    if count == 1:
        return None
    if global_batch_size % count:
        raise TrainingSetupError(
            f"--batch-size {global_batch_size} does not split over {count} processes: "
            f"pass a multiple of {count}."
        )
    # Of unknown size, the parts may differ by a batch: --steps-per-epoch and
    # --eval-steps keep the processes in step.
    batches = size // global_batch_size if size >= 0 and training else None
    return count, process_index(), batches
