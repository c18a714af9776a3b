"""Measurements for the benchmark: FLOPs, matmul peak, step timings, memory."""

import os
import resource
import statistics
import time

import keras
import numpy as np


def parameter_counts(model):
    """Counts a model's scalars: total, trainable, and in its frozen model.

    Returns:
        `{"total", "trainable", "non_trainable", "encoder", "frozen"}` where
        `encoder` counts all weights of the model's `autoencoder`,
        `encoder`, `masked_lm` or `backbone` (0 without one), `frozen` those of them that do not
        train, and `non_trainable` also counts state such as BatchNorm
        statistics.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> parameter_counts(model)["trainable"]
    8
    """

    def count(variables):
        return int(sum(np.prod(v.shape) for v in variables))

    total = count(model.weights)
    trainable = count(model.trainable_weights)
    frozen_model = None
    for name in ("autoencoder", "encoder", "masked_lm", "backbone"):
        if frozen_model is None:
            frozen_model = getattr(model, name, None)
    frozen = encoder = 0
    if frozen_model is not None:
        encoder = count(frozen_model.weights)
        trainable_ids = {id(v) for v in model.trainable_weights}
        frozen = count(v for v in frozen_model.weights if id(v) not in trainable_ids)
    return {
        "total": total,
        "trainable": trainable,
        "non_trainable": total - trainable,
        "encoder": encoder,
        "frozen": frozen,
    }


def xla_flops(model, images=None, labels=None, loss=None):
    """FLOPs of one forward pass (and one train step) from XLA's cost analysis.

    The count is read off the compiled graph of the model (a multiply-add
    counts 2), not timed. It needs the JAX backend; on the others it returns
    `None`s.

    Args:
        model: a built `keras.Model`.
        images: a batch of inputs; by default one zero image of the
            model's input shape (FLOPs per image).
        labels: optional batch of targets; with `loss`, also counts the
            gradient computation of one train step.
        loss: optional `keras.losses.Loss`.

    Returns:
        `{"forward": float or None, "train_step": float or None}` for the
        whole batch; `None` where XLA gives no estimate.

    Example:

    ```python
    flops = dreamkeras.utils.profiling.xla_flops(model)["forward"]
    ```
    """
    if keras.backend.backend() != "jax":
        return {"forward": None, "train_step": None}
    import jax

    if images is None:
        images = np.zeros((1,) + tuple(model.inputs[0].shape[1:]), "float32")
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def forward(trainable, frozen, x):
        y, _ = model.stateless_call(trainable, frozen, x, training=False)
        return y

    def cost(fn, *args):
        # The lowered (not compiled) graph: no second compilation needed.
        analysis = jax.jit(fn).lower(*args).cost_analysis()
        if isinstance(analysis, (list, tuple)):
            analysis = analysis[0] if analysis else None
        flops = (analysis or {}).get("flops")
        return None if flops is None else float(flops)

    result = {"forward": cost(forward, trainable, frozen, images), "train_step": None}
    if labels is not None and loss is not None:

        def objective(trainable, frozen, x, y):
            predictions, _ = model.stateless_call(trainable, frozen, x, training=True)
            return loss(y, predictions)

        grad = jax.grad(objective)
        result["train_step"] = cost(grad, trainable, frozen, images, labels)
    return result


def matmul_peak_flops(size=2048, dtype="float32", repeats=10):
    """Measured FLOP/s of a square matmul on this backend and device.

    The fastest of `repeats` timed products (after one untimed call): a peak
    is what the device can reach, so a slow repeat (another process taking
    a core) must not lower it.
    """
    a = keras.ops.convert_to_tensor(np.random.rand(size, size).astype("float32"))
    a = keras.ops.cast(a, dtype)
    timings = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.matmul(a, a)))
        timings.append(time.perf_counter() - start)
    return 2.0 * size**3 / min(timings[1:])


def time_steps(step, num_warmup, num_steps):
    """Runs `step()` and returns `(first_call_seconds, median_seconds)`.

    The first call includes tracing and compilation; `num_warmup` more calls
    are discarded; the median of the next `num_steps` is the step time.
    """
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(num_warmup):
        step()
    timings = []
    for _ in range(num_steps):
        start = time.perf_counter()
        step()
        timings.append(time.perf_counter() - start)
    return first, statistics.median(timings)


def time_fit(model, images, labels, num_warmup, num_steps):
    """Times `model.fit` on copies of one batch; returns `(first, per_step)`.

    Unlike a loop of `train_on_batch` calls, which copies every variable
    back into the model after each step, `fit` keeps the training state in
    the backend between steps, as real training does. The first `fit` (one
    execution of `model.steps_per_execution` steps) includes tracing and
    compilation; `num_warmup` more steps are discarded; then one `fit` over
    `num_steps` steps is timed, and its wall time (with `fit`'s own per-call
    work) divided by the steps. Step counts are rounded up to whole
    executions.

    Args:
        model: a compiled `keras.Model`.
        images: one batch of inputs (a NumPy array).
        labels: the batch's targets.
        num_warmup: untimed steps after the first execution.
        num_steps: timed steps.

    Returns:
        `(first_call_seconds, seconds_per_step)`.

    Example:

    ```python
    first, step = time_fit(model, images, labels, num_warmup=2, num_steps=5)
    images_per_second = len(images) / step
    ```
    """
    return _time_loop(
        lambda x, y: model.fit(
            x, y, batch_size=len(images), epochs=1, shuffle=False, verbose=0
        ),
        model, images, labels, num_warmup, num_steps,
    )


def time_predict(model, images, num_warmup, num_steps):
    """Times `model.predict` like `time_fit` times `fit`."""
    return _time_loop(
        lambda x, y: model.predict(x, batch_size=len(images), verbose=0),
        model, images, None, num_warmup, num_steps,
    )


def _time_loop(run, model, images, labels, num_warmup, num_steps):
    chunk = model.steps_per_execution

    def run_steps(count):
        steps = max(1, -(-count // chunk)) * chunk
        x = np.concatenate([images] * steps)
        y = None if labels is None else np.concatenate([labels] * steps)
        start = time.perf_counter()
        run(x, y)
        return time.perf_counter() - start, steps

    first, _ = run_steps(chunk)
    if num_warmup:
        run_steps(num_warmup)
    seconds, steps = run_steps(num_steps)
    return first, seconds / steps


def peak_memory():
    """Peak host RSS in bytes, and peak device memory where there is a GPU."""
    host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    device = None
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            device = stats.get("peak_bytes_in_use")
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                device = torch.cuda.max_memory_allocated()
        elif backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                device = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    except Exception:  # Memory statistics are best effort on every backend.
        device = None
    return {"host_rss_bytes": int(host), "device_bytes": device}


def seconds_since_process_start():
    """Wall seconds since this process started (Linux `/proc`), else None.

    Counts the interpreter's start and every import before the call, which a
    timer started inside the program misses.

    Example:

    ```python
    seconds_since_process_start()  # e.g. 4.2 after importing Keras
    ```
    """
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    # Field 22 of stat (index 19 after the command name) is the start time
    # in clock ticks after boot.
    return uptime - int(fields[19]) / ticks


def machine_state():
    """What the timing depends on: usable cores and the load average.

    Example:

    ```python
    machine_state()  # {"cpus": 2, "load_average": [1.2, 0.9, 0.7]}
    ```
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"cpus": cpus, "load_average": load}


def compute_threads():
    """Threads the Keras backend runs one op with on the CPU, and where that comes from.

    torch: `torch.get_num_threads()`. tensorflow: the intra-op setting of
    `tf.config.threading`, where 0 means one thread per usable core. jax:
    XLA:CPU runs one thread per usable core unless `XLA_FLAGS` holds
    `--xla_cpu_multi_thread_eigen=false` (one thread).

    Returns:
        dict: `threads` (int) and `source` (str).

    Example:

    ```python
    compute_threads()  # {"threads": 2, "source": "torch.get_num_threads()"}
    ```
    """
    backend = keras.backend.backend()
    cpus = machine_state()["cpus"]
    if backend == "torch":
        import torch

        return {"threads": torch.get_num_threads(), "source": "torch.get_num_threads()"}
    if backend == "tensorflow":
        import tensorflow as tf

        setting = tf.config.threading.get_intra_op_parallelism_threads()
        if setting:
            return {"threads": setting, "source": "tf.config.threading intra-op"}
        return {"threads": cpus, "source": "tensorflow default: one per usable core"}
    if "--xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", ""):
        return {"threads": 1, "source": "XLA_FLAGS --xla_cpu_multi_thread_eigen=false"}
    return {"threads": cpus, "source": f"{backend} default: one per usable core"}
