"""What `dreamkeras check-gpu` (`apps/check_gpu.py`) runs in each backend's process.

For one Keras backend (fixed per process) and each precision, it builds a
small DreamNet-3 (a tiny random MAE, width 16, 32x32 images), trains a few
steps on random data and reports what really happened, read from the
objects themselves rather than from the settings:

- **device**: where a trained variable and a layer's output live (a JAX
  array's devices, a torch tensor's `.device`, a TensorFlow tensor's
  `.device`), and whether it is the GPU the backend was expected to use;
- **precision**: the dtype of a convolution's output when the model's layer
  is called (bfloat16 or float16 under mixed precision, float32 otherwise),
  the variables' dtype (float32 under mixed precision), and whether the
  optimizer scales the loss (`LossScaleOptimizer`, float16 only);
- **XLA**: on JAX, the number of XLA compilations during `fit` (counted
  through `jax.monitoring`); on TensorFlow, whether Keras compiled the train
  step with `jit_compile` (XLA); PyTorch does not use XLA;
- the losses (finite?) and the time per step after the first (compiling) one.

The parent process (`dreamkeras_cli.tool_commands.check_gpu_app`) runs this
once per installed backend in a subprocess and prints the table.
"""

import time

import keras
import numpy as np

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
WIDTH = 16


def _device_of(value):
    """A short device name (`"gpu:0"`, `"cpu:0"`) of a backend tensor."""
    backend = keras.backend.backend()
    if backend == "jax":
        devices = list(value.devices())
        device = devices[0]
        platform = "gpu" if device.platform in ("gpu", "cuda", "rocm") else device.platform
        return f"{platform}:{device.id}"
    if backend == "torch":
        device = value.device
        return f"{'gpu' if device.type == 'cuda' else device.type}:{device.index or 0}"
    name = value.device or ""
    # "/job:localhost/replica:0/task:0/device:GPU:0"
    kind, _, index = name.rpartition("device:")[2].partition(":")
    return f"{kind.lower() or 'cpu'}:{index or 0}"


def planned_precisions(device, precisions=PRECISIONS):
    """`[(policy, skip reason or None)]`: which precisions can run on `device`.

    float16 cannot run on a CPU (XLA:CPU has no float16 attention, PyTorch no
    float16 convolutions): it is skipped there, with the reason, rather than
    failing.

    Args:
        device: `dreamkeras.training.precision.DeviceInfo`.
        precisions: iterable of `"float32"`, `"mixed_bfloat16"`,
            `"mixed_float16"`.

    Example:

    ```python
    planned_precisions(DeviceInfo("cpu"))
    # [("float32", None), ("mixed_bfloat16", None), ("mixed_float16", "...")]
    ```
    """
    plan = []
    for policy in precisions:
        reason = None
        if policy == "mixed_float16" and device.platform == "cpu":
            reason = "float16 is a GPU precision (no float16 attention or convolutions on CPUs)"
        plan.append((policy, reason))
    return plan


def small_dreamnet(policy):
    """The DreamNet-3 of the check, built under `policy` (random weights)."""
    from dreamkeras.models import DreamNet
    from dreamkeras.models import MAEAutoencoder

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if policy == "float32" else policy)
    try:
        mae = MAEAutoencoder(
            image_shape=IMAGE_SHAPE, patch_size=8, num_layers=2, num_heads=2,
            hidden_dim=32, mlp_dim=64, decoder_num_layers=1, decoder_num_heads=2,
            decoder_hidden_dim=32, decoder_mlp_dim=64,
        )
        return DreamNet(
            mae, num_classes=NUM_CLASSES, num_blocks=3, width=WIDTH, stem="cifar",
            image_shape=IMAGE_SHAPE,
        )
    finally:
        keras.config.set_dtype_policy(previous)


class _StepTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.stamps = [time.perf_counter()]

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(time.perf_counter())


class _XLACompiles:
    """Counts XLA compilations on JAX while active (`jax.monitoring` events)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = None
        self._listener = None

    def __enter__(self):
        if keras.backend.backend() != "jax":
            return self
        import jax

        self.count = 0

        def listener(event, duration, **kwargs):
            if event == self.EVENT:
                self.count += 1

        self._listener = listener
        jax.monitoring.register_event_duration_secs_listener(listener)
        return self

    def __exit__(self, *exc):
        if self._listener is not None:
            import jax

            jax.monitoring.unregister_event_duration_listener(self._listener)
        return False


def _first_conv(model):
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Conv2D) and layer.built:
            return layer
    return None


def check_precision(policy, steps=5, batch_size=16, seed=0):
    """Trains the small DreamNet-3 for `steps` steps under `policy`; reports what ran.

    Args:
        policy: str. `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"`.
        steps: int. Training steps (the first compiles).
        batch_size: int.
        seed: int. Seed of the random data.

    Returns:
        dict: `policy`, `variable_device`, `output_device`, `output_dtype`
        (a convolution's output, computed now), `variable_dtype`,
        `loss_scaling`, `jit_compile` (Keras' resolved setting),
        `xla_compilations` (JAX; None elsewhere), `losses`,
        `losses_finite`, `first_step_seconds`, `step_seconds` (median of the
        later steps), or `error` (str) when the step failed.

    Example:

    ```python
    check_precision("mixed_bfloat16", steps=3, batch_size=8)
    ```
    """
    rng = np.random.default_rng(seed)
    images = rng.random((steps * batch_size,) + IMAGE_SHAPE).astype("float32")
    labels = np.eye(NUM_CLASSES, dtype="float32")[
        rng.integers(0, NUM_CLASSES, steps * batch_size)
    ]
    result = {"policy": policy}
    try:
        model = small_dreamnet(policy)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.CategoricalCrossentropy(), jit_compile="auto",
        )
        timer = _StepTimes()
        with _XLACompiles() as compiles:
            history = model.fit(
                images, labels, batch_size=batch_size, epochs=1, verbose=0,
                callbacks=[timer], shuffle=False,
            )
        conv = _first_conv(model)
        probe = np.zeros((1,) + tuple(conv.input.shape[1:]), "float32")
        output = conv(probe)
        variable = model.trainable_variables[0]
        deltas = np.diff(timer.stamps)
    except Exception as error:  # Reported, not raised: the table shows every case.
        result["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
        return result
    losses = [float(v) for v in history.history["loss"]]
    result.update(
        variable_device=_device_of(variable.value),
        output_device=_device_of(output),
        output_dtype=keras.backend.standardize_dtype(output.dtype),
        variable_dtype=keras.backend.standardize_dtype(variable.dtype),
        loss_scaling=isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer),
        jit_compile=bool(model.jit_compile),
        xla_compilations=compiles.count,
        losses=losses,
        losses_finite=bool(np.all(np.isfinite(losses))),
        first_step_seconds=float(deltas[0]) if len(deltas) else None,
        step_seconds=float(np.median(deltas[1:])) if len(deltas) > 1 else None,
    )
    return result


def expected_dtype(policy):
    """The compute dtype `policy` should give (`"float32"` for float32)."""
    return {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(policy, "float32")


def verdict(entry, accelerator):
    """`(ok, text)` for one precision's result: did it run where and how it should?

    Args:
        entry: dict from `check_precision` (or with `skipped`).
        accelerator: str. `"gpu"`, `"tpu"` or `"cpu"`: where the backend's
            first device is.
    """
    if entry.get("skipped"):
        return True, f"skipped: {entry['skipped']}"
    if entry.get("error"):
        return False, f"FAILED: {entry['error']}"
    problems = []
    if not entry["variable_device"].startswith(accelerator):
        problems.append(f"variables on {entry['variable_device']}, not the {accelerator}")
    if entry["output_dtype"] != expected_dtype(entry["policy"]):
        problems.append(
            f"computes in {entry['output_dtype']}, not {expected_dtype(entry['policy'])}"
        )
    if entry["policy"] == "mixed_float16" and not entry["loss_scaling"]:
        problems.append("float16 without loss scaling")
    if not entry["losses_finite"]:
        problems.append("non-finite loss")
    backend = keras.backend.backend()
    if backend == "jax" and not entry.get("xla_compilations"):
        problems.append("no XLA compilation seen")
    if backend == "tensorflow" and accelerator != "cpu" and not entry["jit_compile"]:
        problems.append("the train step is not XLA-compiled")
    return (not problems), ("ok" if not problems else "; ".join(problems))


def run_checks(precisions=PRECISIONS, steps=5, batch_size=16):
    """The whole check for the running backend: device, plan, results.

    Returns:
        dict: `backend`, `device` (name, platform, compute capability),
        `auto_policy` (what `--mixed-precision auto` picks here),
        `tensorflow_gpus` (what TensorFlow, the input pipeline, sees) and
        `results` (one entry per precision, with `ok` and `verdict`).
    """
    from dreamkeras.training.precision import choose_policy
    from dreamkeras.training.precision import describe_accelerator

    backend = keras.backend.backend()
    device = describe_accelerator(backend)
    results = []
    for policy, reason in planned_precisions(device, precisions):
        entry = {"policy": policy, "skipped": reason} if reason else check_precision(
            policy, steps=steps, batch_size=batch_size
        )
        entry["ok"], entry["verdict"] = verdict(entry, device.platform)
        results.append(entry)
    import tensorflow as tf

    return {
        "backend": backend,
        "device": {
            "platform": device.platform,
            "name": device.name,
            "compute_capability": (
                None if device.compute_capability is None
                else ".".join(str(v) for v in device.compute_capability)
            ),
        },
        "auto_policy": choose_policy(device)[0],
        "tensorflow_gpus": len(tf.config.get_visible_devices("GPU")),
        "results": results,
    }


def report_lines(report):
    """The printed table of one backend's `run_checks` report."""
    device = report["device"]
    capability = (
        f", compute capability {device['compute_capability']}"
        if device["compute_capability"] else ""
    )
    auto = "float32" if report["auto_policy"] == "none" else report["auto_policy"]
    where = "the CPU" if device["platform"] == "cpu" else (
        f"{device['platform'].upper()} {device['name']}{capability}"
    )
    lines = [
        f"{report['backend']}: {where}; "
        f"--mixed-precision auto picks {auto}"
        + (
            f"; TensorFlow (input pipeline) sees {report['tensorflow_gpus']} GPU(s)"
            if report["backend"] != "tensorflow" else ""
        ),
        f"  {'precision':<15}{'device':<8}{'computes':<10}{'loss scale':<11}"
        f"{'XLA':<22}{'ms/step':>8}  verdict",
    ]
    for entry in report["results"]:
        if entry.get("skipped") or entry.get("error"):
            lines.append(f"  {entry['policy']:<15}{entry['verdict']}")
            continue
        if report["backend"] == "jax":
            xla = f"yes ({entry['xla_compilations']} compiles)"
        elif report["backend"] == "tensorflow":
            xla = "yes (jit_compile)" if entry["jit_compile"] else "no"
        else:
            xla = "n/a (PyTorch)"
        step = entry["step_seconds"]
        lines.append(
            f"  {entry['policy']:<15}{entry['variable_device']:<8}"
            f"{entry['output_dtype']:<10}{'yes' if entry['loss_scaling'] else 'no':<11}"
            f"{xla:<22}{'' if step is None else f'{step * 1e3:8.1f}':>8}  {entry['verdict']}"
        )
    return lines
