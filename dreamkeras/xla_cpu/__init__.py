"""XLA:CPU-only kernels behind one switch, off by default.

dreamkeras builds its models from standard Keras and KerasHub layers
(`BatchNormalization`, `MaxPooling2D`, `Conv2D`, `keras.remat`, the frozen
encoder called as a layer): that is the graph XLA on GPUs, cuDNN and
`torch.compile` fuse well. On a CPU under XLA (JAX, or TensorFlow with
`jit_compile`) a few of those standard kernels are slow, and this package
holds drop-in replacements that compute the same values with the same weights:

- `FlatBatchNormalization`: batch norm on a `(rows, channels)` view;
- `SeparableMaxPooling2D`: max pooling as maxima of strided views;
- `matmul_convolution` / `MatmulConv2D`: convolutions of tiny maps as one
  matrix product;
- `patch_convolution` / `embed_patches`: a ViT's patch embedding as one
  matrix product;
- `recompute_in_backward`: rematerialisation that XLA:CPU cannot merge back
  into the forward pass (`jax.checkpoint` saves nothing there).

Turn them on with `dreamkeras.xla_cpu.enable()` (or the apps'
`--xla-cpu-kernels` flag) *before* building a model: the switch is read when
a layer or model is built, decides which layers it is made of and how its
frozen encoder is run, and is recorded in the config of the models and
blocks it changes (`xla_cpu_kernels`), so a saved model reloads as it was
built whatever the switch says then. Measurements are in
`docs/cpu_performance.md`.

Example:

```python
dreamkeras.xla_cpu.enable()
model = dreamkeras.SleepNet(vit, num_classes=10, chain_source="dreamkeras",
                            width=16, stem="cifar", image_shape=(32, 32, 3))
dreamkeras.xla_cpu.enable(False)
```
"""

import keras

from dreamkeras.utils.switch import Switch
from dreamkeras.xla_cpu.matmul_conv import DEFAULT_MATMUL_MAX_PIXELS
from dreamkeras.xla_cpu.matmul_conv import MatmulConv2D as MatmulConv2D
from dreamkeras.xla_cpu.matmul_conv import matmul_convolution as matmul_convolution
from dreamkeras.xla_cpu.matmul_conv import patch_convolution as patch_convolution
from dreamkeras.xla_cpu.normalization import (
    FlatBatchNormalization as FlatBatchNormalization,
)
from dreamkeras.xla_cpu.pooling import SeparableMaxPooling2D as SeparableMaxPooling2D
from dreamkeras.xla_cpu.remat import recompute_in_backward as recompute_in_backward

ENVIRONMENT_VARIABLE = "DREAMKERAS_XLA_CPU_KERNELS"
_switch = Switch(ENVIRONMENT_VARIABLE)


def enable(on=True):
    """Turns the XLA:CPU kernels on (or off with `on=False`).

    Args:
        on: bool. The new state. The default state is off, or on when the
            environment variable `DREAMKERAS_XLA_CPU_KERNELS=1` is set.
    """
    _switch.set(on)


def enabled():
    """Returns whether models are built with the XLA:CPU kernels."""
    return _switch.on


def kernels(on=True):
    """Context manager: the XLA:CPU kernels on (or off) inside the block.

    Example:

    ```python
    with dreamkeras.xla_cpu.kernels():
        model = dreamkeras.DreamNet(mae, num_classes=10, ...)
    ```
    """
    return _switch.scoped(on)


def is_on(on):
    """`on`, or the switch's state when `on` is `None`."""
    return enabled() if on is None else bool(on)


def batch_normalization(on=None, **kwargs):
    """A `keras.layers.BatchNormalization`, flat-view when the switch is on.

    Args:
        on: optional bool. Overrides the switch.
        **kwargs: arguments of `keras.layers.BatchNormalization`.
    """
    if is_on(on):
        return FlatBatchNormalization(**kwargs)
    return keras.layers.BatchNormalization(**kwargs)


def max_pooling(pool_size, on=None, **kwargs):
    """A `keras.layers.MaxPooling2D`, separable when the switch (or `on`) is on."""
    if is_on(on):
        return SeparableMaxPooling2D(pool_size, **kwargs)
    return keras.layers.MaxPooling2D(pool_size, **kwargs)


def convolve(conv, inputs, max_pixels=DEFAULT_MATMUL_MAX_PIXELS, on=None):
    """Calls a bias-free, activation-free `Conv2D` (matmul for tiny maps when on).

    Args:
        conv: a built `keras.layers.Conv2D` without bias or activation.
        inputs: its input.
        max_pixels: int. With the switch on, output maps of at most this
            many pixels are computed as one matrix product.
        on: optional bool. Overrides the switch.
    """
    if is_on(on):
        outputs = matmul_convolution(conv, inputs, conv.kernel, max_pixels)
        if outputs is not None:
            return outputs
    return conv(inputs)


def remat(fn, on=None):
    """`keras.remat(fn)`; `recompute_in_backward(fn)` when the switch is on."""
    if is_on(on):
        return recompute_in_backward(fn)
    return keras.remat(fn)
