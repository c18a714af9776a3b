"""Trainable adapters between a chain's feature maps and a frozen encoder."""

import keras
import numpy as np
from keras import ops

from dreamkeras import xla_cpu
from dreamkeras.layers.residual_block import BATCH_NORM_MOMENTUM


def resize_map(x, size):
    """Bilinear resize of a `channels_last` map, skipped when already `size`.

    A map that shrinks along either axis is resized with antialiasing (which
    leaves a growing axis plain bilinear), as two products with
    fixed weight matrices (`antialiased_resize_weights`): TensorFlow's
    antialiased resize kernel (`ScaleAndTranslate`) cannot be compiled by
    XLA, so `jit_compile` training would fail on it.
    """
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None or (height <= size[0] and width <= size[1]):
        return ops.image.resize(x, size, interpolation="bilinear")
    rows = ops.convert_to_tensor(antialiased_resize_weights(height, size[0]), x.dtype)
    cols = ops.convert_to_tensor(antialiased_resize_weights(width, size[1]), x.dtype)
    x = ops.einsum("oh,bhwc->bowc", rows, x)
    return ops.einsum("pw,bowc->bopc", cols, x)


def antialiased_resize_weights(input_size, output_size):
    """`(output_size, input_size)` weights of an antialiased bilinear resize.

    Output pixel `i` samples the input at `(i + 0.5) * input_size /
    output_size - 0.5` (half-pixel centres) with a triangle filter that is
    widened by the shrink factor when shrinking, so that every input pixel
    contributes; each row is normalised to sum to 1. These are the weights
    of `keras.ops.image.resize(..., interpolation="bilinear",
    antialias=True)` (JAX's `scale_and_translate`, TensorFlow's
    `ScaleAndTranslate`).

    Args:
        input_size: int, pixels along the axis before resizing.
        output_size: int, pixels after.

    Returns:
        A float32 NumPy array.

    Example:

    ```python
    antialiased_resize_weights(4, 2)  # [[3, 3, 1, 0], [0, 1, 3, 3]] / 7
    ```
    """
    inverse_scale = input_size / output_size
    filter_width = max(inverse_scale, 1.0)
    samples = (np.arange(output_size) + 0.5) * inverse_scale - 0.5
    distance = np.abs(samples[:, None] - np.arange(input_size)[None, :])
    weights = np.maximum(0.0, 1.0 - distance / filter_width)
    return (weights / weights.sum(axis=1, keepdims=True)).astype("float32")


@keras.saving.register_keras_serializable(package="dreamkeras")
class FeatureToImage(keras.layers.Layer):
    """`adapter_in`: brings a feature map to an encoder's input image.

    A 1x1 convolution maps the feature channels to the encoder's image channels
    and a bilinear resize brings the map to the encoder's input size (the
    paper's "Decov + conv"). The convolution runs before the resize: both are
    linear, so the order gives the same result, and convolving the small map
    is cheaper.

    Args:
        image_size: (int, int). The encoder's input height and width.
        num_channels: int. The encoder's input channels. Defaults to `3`.
        kernel_initializer: initializer of the 1x1 convolution's kernel.
            `"zeros"` starts the adapter at a zero image (a connection that
            adds it to the input image then starts by passing the image).
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    adapter = dreamkeras.layers.FeatureToImage(image_size=(32, 32))
    adapter(np.zeros((2, 8, 8, 64))).shape  # (2, 32, 32, 3)
    ```
    """

    def __init__(
        self, image_size, num_channels=3, kernel_initializer="glorot_uniform", **kwargs
    ):
        super().__init__(**kwargs)
        self.image_size = tuple(int(d) for d in image_size)
        self.num_channels = int(num_channels)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.projection = keras.layers.Conv2D(
            self.num_channels, 1, kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy, name="projection",
        )

    def build(self, input_shape):
        self.projection.build(input_shape)

    def call(self, inputs):
        return resize_map(self.projection(inputs), self.image_size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.image_size + (self.num_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "num_channels": self.num_channels,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config


class FeatureMapAdapter(keras.layers.Layer):
    """Base of the `adapter_out` layers: tokens to an `output_size` map.

    Holds the target `output_size` and `output_channels`, the output shape
    and the config; subclasses build the projection.
    """

    def __init__(self, output_size, output_channels, **kwargs):
        super().__init__(**kwargs)
        self.output_size = tuple(int(d) for d in output_size)
        self.output_channels = int(output_channels)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.output_size + (self.output_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_size": self.output_size,
                "output_channels": self.output_channels,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="dreamkeras")
class TokenGridToFeature(FeatureMapAdapter):
    """`adapter_out` (default): projects a token grid back to a feature map.

    A 1x1 convolution and batch normalisation turn the `(rows, cols, dim)` grid
    of encoder tokens into `output_channels` channels, and a bilinear resize
    brings it to `output_size`. Every token keeps its place, so the encoder's
    spatial information reaches the chain.

    Args:
        output_size: (int, int). Height and width of the feature map.
        output_channels: int. Channels of the feature map.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    adapter = dreamkeras.layers.TokenGridToFeature((8, 8), 64)
    adapter(np.zeros((2, 4, 4, 16))).shape  # (2, 8, 8, 64)
    ```
    """

    def __init__(self, output_size, output_channels, **kwargs):
        super().__init__(output_size, output_channels, **kwargs)
        self.projection = keras.layers.Conv2D(
            self.output_channels,
            1,
            use_bias=False,
            dtype=self.dtype_policy,
            name="projection",
        )
        self.norm = xla_cpu.batch_normalization(
            momentum=BATCH_NORM_MOMENTUM, dtype=self.dtype_policy, name="norm"
        )

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.norm.build(tuple(input_shape[:-1]) + (self.output_channels,))

    def call(self, grid, training=None):
        x = self.norm(self.projection(grid), training=training)
        return resize_map(x, self.output_size)


@keras.saving.register_keras_serializable(package="dreamkeras")
class PooledTokensToFeature(FeatureMapAdapter):
    """`adapter_out` in the paper's reference form, kept for comparison.

    Averages the tokens into one vector, maps it with a dense layer to
    `rows * cols * channels` values and reshapes them into the feature map.
    The dense layer is large (`dim * rows * cols * channels` weights: ~308M
    for a 768-wide encoder and a 56x56x128 map) and the pooling drops all
    spatial information of the encoder.

    Args:
        output_size: (int, int). Height and width of the feature map.
        output_channels: int. Channels of the feature map.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    adapter = dreamkeras.layers.PooledTokensToFeature((8, 8), 64)
    adapter(np.zeros((2, 4, 4, 16))).shape  # (2, 8, 8, 64)
    ```
    """

    def __init__(self, output_size, output_channels, **kwargs):
        super().__init__(output_size, output_channels, **kwargs)
        height, width = self.output_size
        self.dense = keras.layers.Dense(
            height * width * self.output_channels,
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        self.dense.build((input_shape[0], input_shape[-1]))

    def call(self, grid):
        pooled = ops.mean(grid, axis=(1, 2))
        return ops.reshape(
            self.dense(pooled), (-1,) + self.output_size + (self.output_channels,)
        )
