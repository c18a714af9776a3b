"""Scaling a run out: several processes (hosts), a `batch` x `model` device mesh.

- `initialize_multi_host` joins a multi-process JAX run
  (`keras.distribution.initialize`) from flags or the usual environment
  variables; `is_chief` is true on process 0 only, the one that writes.
- `make_distribution` turns a mesh shape `(batch, model)` into
  `keras.distribution.DataParallel` (`model == 1`) or `ModelParallel`, whose
  `encoder_layout_map` shards the attention and MLP kernels of the frozen
  encoder (KerasHub ViT, our MAE, RoBERTa) over the `model` axis.
- `shard_for_process` gives each process its own part of a dataset.

JAX only: the torch and tensorflow backends are refused with the supported
way (`docs/distributed.md`).
"""

import argparse
import contextlib
import os
import re
import shutil
import tempfile

import keras

from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.flags.base import mesh_shape

BATCH_AXIS = "batch"
MODEL_AXIS = "model"

# (flag, environment variables read in this order, type).
_MULTI_HOST_SETTINGS = (
    ("--coordinator-address", ("JAX_COORDINATOR_ADDRESS", "KERAS_DISTRIBUTION_JOB_ADDRESSES"), str),
    ("--num-processes", ("JAX_NUM_PROCESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES"), int),
    ("--process-id", ("JAX_PROCESS_ID", "KERAS_DISTRIBUTION_PROCESS_ID"), int),
)

_ATTENTION = r".*/(?:mha|self_attention_layer)/"
_MLP_IN = r".*/(?:mlp/dense_1|feedforward_intermediate_dense)/"
_MLP_OUT = r".*/(?:mlp/dense_2|feedforward_output_dense)/"
# Variable path (full match) -> axes: Megatron-style sharding of the heads
# and the MLP's hidden units; every other variable is replicated.
ENCODER_LAYOUT = {
    _ATTENTION + r"(?:query|key|value)/kernel": (None, MODEL_AXIS, None),
    _ATTENTION + r"(?:query|key|value)/bias": (MODEL_AXIS, None),
    _ATTENTION + r"attention_output/kernel": (MODEL_AXIS, None, None),
    _MLP_IN + "kernel": (None, MODEL_AXIS),
    _MLP_IN + "bias": (MODEL_AXIS,),
    _MLP_OUT + "kernel": (MODEL_AXIS, None),
}

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


def batch_shards():
    """How many parts the current `keras.distribution` splits a batch into (1 without one).

    Example:

    ```python
    batch_shards()  # 4 under DataParallel on 4 devices, 2 on a 2x4 mesh
    ```
    """
    current = keras.distribution.distribution()
    if current is None:
        return 1
    mesh = current.device_mesh
    names = list(mesh.axis_names)
    return int(mesh.shape[names.index(BATCH_AXIS)]) if BATCH_AXIS in names else 1


def sample_count(count, available=None):
    """`count` rounded up to whole batches of the devices (dream samples).

    Args:
        count: int. The samples wanted.
        available: int or None. The samples there are; the result is then
            rounded down to a multiple of the devices (0: none fit).

    Example:

    ```python
    sample_count(3)  # 4 on 2 devices
    ```
    """
    shards = batch_shards()
    count = -(-count // shards) * shards
    if available is not None and available < count:
        count = available - available % shards
    return count


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


def parse_mesh(text):
    """`"2x4"` -> `(2, 4)`: the `batch` and `model` sizes of the device mesh.

    Raises:
        ValueError: not two positive integers joined by `x`.

    Example:

    ```python
    parse_mesh("2x2")  # (2, 2)
    ```
    """
    try:
        return mesh_shape(text)
    except argparse.ArgumentTypeError as error:
        raise ValueError(f"--mesh {error}.") from None


def encoder_layout_map(device_mesh):
    """The `keras.distribution.LayoutMap` that shards an encoder over `model`.

    The query, key and value kernels and biases are split by attention
    head, the attention output kernel by head, the first MLP kernel by its
    hidden units and the second by its input units (KerasHub `ViTBackbone`
    and so our MAE encoder; the `TransformerEncoder` blocks of RoBERTa and
    of the MAE decoder). Every other variable is replicated.

    Args:
        device_mesh: `keras.distribution.DeviceMesh` with a `model` axis.

    Returns:
        `keras.distribution.LayoutMap`.

    Example:

    ```python
    mesh = keras.distribution.DeviceMesh((2, 2), ("batch", "model"))
    layout_map = encoder_layout_map(mesh)
    ```
    """
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in ENCODER_LAYOUT.items():
        layout_map[pattern] = axes
    return layout_map


def check_divisible(mesh_shape, num_heads=None, mlp_dim=None, what="the encoder"):
    """Raises unless the heads and the MLP units split evenly over `model`.

    Example:

    ```python
    check_divisible((2, 2), num_heads=12, mlp_dim=3072)
    ```
    """
    model = mesh_shape[1]
    for count, name in ((num_heads, "attention heads"), (mlp_dim, "MLP units")):
        if model > 1 and count and count % model:
            raise TrainingSetupError(
                f"--mesh {mesh_shape[0]}x{model} splits the {count} {name} of {what} "
                f"over {model} devices: choose a model size that divides {count}."
            )


class _CheckedModelParallel(keras.distribution.ModelParallel):
    """`ModelParallel` that checks each sharded variable against the mesh.

    As the model is built, every variable the layout map splits over
    `model` goes through `check_divisible` (its heads or MLP units), so a
    `--mesh` that does not fit the encoder is one `TrainingSetupError`, not
    a JAX sharding error.
    """

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        mesh_shape = tuple(self.device_mesh.shape)
        for axis, name in enumerate(getattr(layout, "axes", None) or ()):
            if name == MODEL_AXIS and axis < len(variable.shape):
                count = variable.shape[axis]
                if re.match(_ATTENTION, variable.path):
                    check_divisible(mesh_shape, num_heads=count, what=variable.path)
                else:
                    check_divisible(mesh_shape, mlp_dim=count, what=variable.path)
        return layout


def make_distribution(mesh_shape=None, devices=None):
    """The Keras distribution of a `(batch, model)` mesh over all devices.

    Args:
        mesh_shape: `(batch, model)` or None (all devices on `batch`).
            `batch * model` must be the number of devices (of every process).
        devices: list of device names or None (`keras.distribution.list_devices()`).

    Returns:
        `keras.distribution.DataParallel` when `model == 1`, else a
        `keras.distribution.ModelParallel` with `encoder_layout_map`. Each
        process feeds its own part of the batch (`shard_for_process`), so
        Keras' own dataset sharding is off.

    Raises:
        TrainingSetupError: a mesh that does not fit the devices.

    Example:

    ```python
    keras.distribution.set_distribution(make_distribution((2, 2)))
    ```
    """
    devices = devices or keras.distribution.list_devices()
    if mesh_shape is None:
        mesh_shape = (len(devices), 1)
    batch, model = mesh_shape
    if batch * model != len(devices):
        raise TrainingSetupError(
            f"--mesh {batch}x{model} needs {batch * model} devices, but this run has "
            f"{len(devices)}: choose BATCHxMODEL with a product of {len(devices)}."
        )
    if model == 1:
        mesh = keras.distribution.DeviceMesh((batch,), (BATCH_AXIS,), devices)
        return keras.distribution.DataParallel(device_mesh=mesh, auto_shard_dataset=False)
    if process_count() > 1:
        raise TrainingSetupError(
            f"--mesh {batch}x{model} with --num-processes {process_count()}: the encoder "
            f"is sharded within one process only; use --mesh {batch * model}x1 "
            f"(data parallel) across processes."
        )
    mesh = keras.distribution.DeviceMesh((batch, model), (BATCH_AXIS, MODEL_AXIS), devices)
    return _CheckedModelParallel(
        layout_map=encoder_layout_map(mesh), batch_dim_name=BATCH_AXIS,
        auto_shard_dataset=False,
    )


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
    if count == 1:
        return dataset, global_batch_size, None
    if global_batch_size % count:
        raise TrainingSetupError(
            f"--batch-size {global_batch_size} does not split over {count} processes: "
            f"pass a multiple of {count}."
        )
    if size is None:
        size = int(dataset.cardinality())
    # Of unknown size, the parts may differ by a batch: --steps-per-epoch and
    # --eval-steps keep the processes in step.
    batches = None
    if size >= 0 and training:
        batches = size // global_batch_size
    elif size >= 0:
        dataset = dataset.take(size - size % global_batch_size)
    return dataset, global_batch_size // count, (count, process_index(), batches)
