"""`--mixed-precision auto`: the dtype policy the device computes fastest in.

- NVIDIA GPUs of compute capability 8.0 and up (A100, RTX 30xx/40xx, L4,
  H100, H200) have bfloat16 tensor cores: `mixed_bfloat16`, which needs no
  loss scaling (bfloat16 has float32's exponent range).
- Older NVIDIA GPUs (V100 7.0, T4 and the paper's Quadro RTX 5000 7.5) have
  float16 tensor cores only: `mixed_float16`, with the loss scaling that
  Keras adds by itself (`model.compile` wraps the optimizer in a
  `keras.optimizers.LossScaleOptimizer` under that policy).
- TPUs: `mixed_bfloat16`.
- CPUs: float32 (`"none"`). XLA:CPU runs bfloat16 matrix products slower
  than float32 ones on the CPUs measured (docs/cpu_performance.md) and has
  no float16 attention.
- A GPU whose compute capability cannot be read (another vendor's): float32,
  said so in the header; pass `--mixed-precision` to choose.

The device is asked of the backend that trains (JAX, PyTorch or
TensorFlow), so the choice is the same whichever library the data pipeline
uses.
"""

import dataclasses

import keras

POLICIES = ("none", "mixed_float16", "mixed_bfloat16")
BFLOAT16_CAPABILITY = (8, 0)


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """The first device a backend trains on.

    Attributes:
        platform: str. `"cpu"`, `"gpu"` or `"tpu"`.
        name: str. E.g. `"NVIDIA H200"`.
        compute_capability: (int, int) or None. NVIDIA GPUs only.

    Example:

    ```python
    DeviceInfo("gpu", "Tesla T4", (7, 5))
    ```
    """

    platform: str
    name: str = ""
    compute_capability: tuple = None


def _capability(value):
    """`(major, minor)` from `"8.6"`, `(8, 6)` or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            major, minor = value.split(".")[:2]
            return int(major), int(minor)
        except ValueError:
            return None
    return tuple(int(v) for v in value)[:2]


def describe_accelerator(backend=None):
    """The `DeviceInfo` of the first device `backend` trains on.

    Args:
        backend: str or None. `"jax"`, `"tensorflow"` or `"torch"`; defaults
            to Keras' backend.

    Example:

    ```python
    describe_accelerator("jax")  # DeviceInfo(platform="cpu", ...) without a GPU
    ```
    """
    backend = backend or keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        platform = device.platform
        if platform in ("cuda", "rocm"):
            platform = "gpu"
        return DeviceInfo(
            platform, getattr(device, "device_kind", platform),
            _capability(getattr(device, "compute_capability", None)),
        )
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return DeviceInfo("cpu", "CPU")
        return DeviceInfo(
            "gpu", torch.cuda.get_device_name(0),
            _capability(torch.cuda.get_device_capability(0)),
        )
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        if tf.config.list_physical_devices("TPU"):
            return DeviceInfo("tpu", "TPU")
        return DeviceInfo("cpu", "CPU")
    details = tf.config.experimental.get_device_details(gpus[0])
    return DeviceInfo(
        "gpu", details.get("device_name", gpus[0].name),
        _capability(details.get("compute_capability")),
    )


def choose_policy(device):
    """`(policy, reason)`: what `--mixed-precision auto` picks on `device`.

    Args:
        device: `DeviceInfo`.

    Returns:
        `("none" | "mixed_float16" | "mixed_bfloat16", str)`.

    Example:

    >>> choose_policy(DeviceInfo("gpu", "Tesla T4", (7, 5)))[0]
    'mixed_float16'
    >>> choose_policy(DeviceInfo("gpu", "NVIDIA A100", (8, 0)))[0]
    'mixed_bfloat16'
    >>> choose_policy(DeviceInfo("cpu"))[0]
    'none'
    """
    if device.platform == "tpu":
        return "mixed_bfloat16", "a TPU computes in bfloat16"
    if device.platform != "gpu":
        return "none", "float32 on the CPU"
    name = device.name or "the GPU"
    capability = device.compute_capability
    if capability is None:
        return "none", (
            f"{name}'s compute capability is unknown: float32 (pass "
            f"--mixed-precision to choose)"
        )
    shown = f"{name}, compute capability {capability[0]}.{capability[1]}"
    if tuple(capability) >= BFLOAT16_CAPABILITY:
        return "mixed_bfloat16", f"{shown}: bfloat16 tensor cores"
    return "mixed_float16", f"{shown}: float16 tensor cores, with loss scaling"


def resolve_policy(requested, device=None):
    """The policy a run uses: `requested`, or `choose_policy`'s for `"auto"`.

    Args:
        requested: str. `--mixed-precision`: `"auto"`, `"none"`,
            `"mixed_float16"` or `"mixed_bfloat16"`.
        device: optional `DeviceInfo`; defaults to `describe_accelerator()`.

    Returns:
        `"none"`, `"mixed_float16"` or `"mixed_bfloat16"`.

    Example:

    ```python
    resolve_policy("auto")  # "none" on a CPU
    ```
    """
    if requested != "auto":
        return requested
    return choose_policy(device or describe_accelerator())[0]


def precision_line(requested, device=None):
    """The header line that says which precision a run computes in, and why."""
    from dreamkeras.training.report import line

    if requested != "auto":
        policy = requested
        reason = "--mixed-precision"
    else:
        policy, reason = choose_policy(device or describe_accelerator())
        reason = f"auto: {reason}"
    shown = "float32" if policy == "none" else policy
    return line("dtype", f"{shown} ({reason})")
