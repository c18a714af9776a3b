"""The process-wide settings of a run: dtype policy, distribution, caches.

`run_scope` sets the run's Keras dtype policy and distribution and restores
the previous ones afterwards, so that a run called from Python leaves the
process as it found it.
"""

import contextlib
import os

import keras

from dreamkeras.training.devices import keep_tensorflow_off_gpus
from dreamkeras.training.distribution import initialize_multi_host
from dreamkeras.training.mesh import make_distribution
from dreamkeras.training.distribution import multi_host_settings
from dreamkeras.training.precision import resolve_policy
from dreamkeras.utils.memory import release_host_memory_after_compiles
from dreamkeras.utils.precision import unsupported_policy_reason
from dreamkeras_cli.config import TrainingSetupError


def check_backend(hardware, command):
    """Checks `--backend` and `--mixed-precision` against the running Keras.

    Also hides the GPUs from TensorFlow for the jax and torch backends
    (`dreamkeras.training.devices.keep_tensorflow_off_gpus`).

    The backend is fixed when Keras is first imported; the apps set
    `KERAS_BACKEND` before that. Called from Python after Keras is
    imported, a different backend is an error, not a silent switch.

    Args:
        hardware: `dreamkeras_cli.config.Hardware`.
        command: str. The command to rerun, for the message.

    Also joins a multi-process run (`--num-processes` or the environment:
    `dreamkeras.training.distribution.initialize_multi_host`).

    Raises:
        TrainingSetupError: another backend, a distribution this backend
            does not run, or a policy this device cannot run (`"auto"` is resolved first:
            `dreamkeras.training.precision.resolve_policy`).

    Example:

    ```python
    check_backend(config.hardware, "python apps/cifar100.py")
    ```
    """
    backend = keras.backend.backend()
    if hardware.backend is not None and hardware.backend != backend:
        raise TrainingSetupError(
            f"--backend {hardware.backend} was asked for, but Keras was already "
            f"imported with the {backend} backend in this process. Run "
            f"{command} --backend {hardware.backend} in a new process or set "
            f"KERAS_BACKEND={hardware.backend}."
        )
    keep_tensorflow_off_gpus(backend)
    if hardware.distribute or multi_host_settings(
        hardware.coordinator_address, hardware.num_processes, hardware.process_id
    ):
        _check_distributable(hardware, backend)
    initialize_multi_host(
        hardware.coordinator_address, hardware.num_processes, hardware.process_id
    )
    reason = unsupported_policy_reason(resolve_policy(hardware.mixed_precision))
    if reason:
        raise TrainingSetupError(f"--mixed-precision: {reason}")


def enable_jax_compilation_cache():
    """Turns on JAX's persistent compilation cache for the apps.

    Compiling (even the weight initialisers of a new model) dominates short
    runs on CPU; with the cache, a rerun (a resumed run, the next smoke
    test) reuses the compiled programs. The folder is
    `$DREAMKERAS_JAX_CACHE` (empty: off), else `~/.cache/dreamkeras/jax`.
    A cache folder the user already configured is left alone.

    Returns:
        str or None. The cache folder in use.

    Example:

    ```python
    enable_jax_compilation_cache()
    ```
    """
    if keras.backend.backend() != "jax":
        return None
    import jax

    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    folder = os.environ.get(
        "DREAMKERAS_JAX_CACHE",
        os.path.join(os.path.expanduser("~"), ".cache", "dreamkeras", "jax"),
    )
    if not folder:
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return folder


def setup_app_process():
    """What the apps do once per process: the JAX cache, memory release.

    Returns:
        dict: `jax_cache` (folder or None) and `releases_memory` (bool).

    Example:

    ```python
    setup_app_process()  # before the first model is built
    ```
    """
    return {
        "jax_cache": enable_jax_compilation_cache(),
        "releases_memory": release_host_memory_after_compiles(),
    }


_TORCH_REFUSAL = (
    "{what} is not available on the torch backend: Keras has no "
    "keras.distribution for torch. Use --backend jax (data and model parallel, "
    "several hosts) or --backend tensorflow (--distribute on one machine); for "
    "torch DDP, launch your own training loop with torchrun as in the Keras guide "
    "'Multi-GPU distributed training with PyTorch' (docs/distributed.md)."
)


def _check_distributable(hardware, backend):
    """Refuses what the backend cannot distribute, naming the supported way."""
    multi = (hardware.num_processes or 1) > 1 or multi_host_settings(
        hardware.coordinator_address, hardware.num_processes, hardware.process_id
    )
    if backend == "torch":
        what = "--num-processes" if multi else ("--mesh" if hardware.mesh else "--distribute")
        raise TrainingSetupError(_TORCH_REFUSAL.format(what=what))
    if backend == "tensorflow" and (multi or (hardware.mesh and hardware.mesh[1] > 1)):
        what = "--num-processes" if multi else f"--mesh {hardware.mesh[0]}x{hardware.mesh[1]}"
        raise TrainingSetupError(
            f"{what} is jax only: tensorflow runs --distribute on the devices of one "
            f"machine (tf.distribute.MirroredStrategy). Pass --backend jax."
        )


def _distribution(hardware, batch_size):
    """Sets up `--distribute` / `--mesh`; returns (scope, number of devices)."""
    if not hardware.distribute:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    _check_distributable(hardware, backend)
    if backend == "jax":
        devices = keras.distribution.list_devices()
        count = len(devices)
        replicas = hardware.mesh[0] if hardware.mesh else count
    else:
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        count = replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise TrainingSetupError(
            f"--distribute splits each batch over {replicas} devices: --batch-size "
            f"must be a multiple of {replicas}, got {batch_size}."
        )
    if backend == "jax":
        keras.distribution.set_distribution(make_distribution(hardware.mesh, devices))
        return contextlib.nullcontext(), count
    return strategy.scope(), count


@contextlib.contextmanager
def run_scope(hardware, batch_size):
    """Sets the run's dtype policy and distribution; restores them after.

    Args:
        hardware: `dreamkeras_cli.config.Hardware`.
        batch_size: int. The global batch size (a multiple of the devices).

    Yields:
        `(scope, num_devices)`: build the model inside `scope` (the
        `tf.distribute` strategy's, else a null context).

    Example:

    ```python
    with run_scope(config.hardware, 64) as (scope, num_devices):
        with scope:
            model = build()
    ```
    """
    previous_policy = keras.config.dtype_policy()
    previous_distribution = keras.distribution.distribution()
    try:
        policy = resolve_policy(hardware.mixed_precision)
        if policy != "none":
            keras.config.set_dtype_policy(policy)
        yield _distribution(hardware, batch_size)
    finally:
        keras.config.set_dtype_policy(previous_policy)
        keras.distribution.set_distribution(previous_distribution)
