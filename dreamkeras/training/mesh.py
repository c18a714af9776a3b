"""The device mesh of a run: `batch` x `model`, and the frozen encoder's layout.

- `make_distribution` turns a mesh shape `(batch, model)` into
  `keras.distribution.DataParallel` (`model == 1`) or `ModelParallel`, whose
  `encoder_layout_map` shards the attention and MLP kernels of the frozen
  encoder (KerasHub ViT, our MAE, RoBERTa) over the `model` axis.
- `batch_shards`, `sample_count` and `whole_device_batches` size a batch so that it splits over the
  `batch` axis.

JAX only (`docs/distributed.md`); the processes of a multi-host run are in
`dreamkeras.training.distribution`.
"""

import argparse
import re

import keras

from dreamkeras.training import distribution
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.flags.base import mesh_shape

BATCH_AXIS = "batch"
MODEL_AXIS = "model"

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


def sample_count(count):
    """`count` rounded up to whole batches of the devices (dream samples).

    Example:

    ```python
    sample_count(3)  # 4 on 2 devices
    ```
    """
    shards = batch_shards()
    return -(-count // shards) * shards


def whole_device_batches(samples):
    """`samples` cut to a multiple of the devices (maybe empty).

    Example:

    ```python
    whole_device_batches(["a", "b", "c"])  # ["a", "b"] on 2 devices
    ```
    """
    return samples[: len(samples) - len(samples) % batch_shards()]


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
    if distribution.process_count() > 1:
        raise TrainingSetupError(
            f"--mesh {batch}x{model} with --num-processes {distribution.process_count()}: the encoder "
            f"is sharded within one process only; use --mesh {batch * model}x1 "
            f"(data parallel) across processes."
        )
    mesh = keras.distribution.DeviceMesh((batch, model), (BATCH_AXIS, MODEL_AXIS), devices)
    return _CheckedModelParallel(
        layout_map=encoder_layout_map(mesh), batch_dim_name=BATCH_AXIS,
        auto_shard_dataset=False,
    )
