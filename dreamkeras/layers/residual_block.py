"""ResNet basic and bottleneck blocks, the chain blocks `g_m` of the paper."""

import keras

from dreamkeras import xla_cpu
from dreamkeras.xla_cpu.matmul_conv import DEFAULT_MATMUL_MAX_PIXELS

# Weight of the old value in BatchNorm's moving statistics. Keras defaults to
# 0.99; we use PyTorch's (and so the reference's and KerasHub ResNet's) 0.1
# update rate: with 0.99 the inference statistics of short runs lag the
# quickly changing weights (docs/cpu_performance.md has the measurement).
BATCH_NORM_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package="dreamkeras")
class ResidualBlock(keras.layers.Layer):
    """A ResNet v1 residual block (basic or bottleneck).

    Basic: two 3x3 convolutions. Bottleneck: 1x1, 3x3, 1x1 convolutions with a
    4x wider output. Each convolution (`keras.layers.Conv2D`) is followed by
    `keras.layers.BatchNormalization`; the shortcut is a strided 1x1
    convolution + batch norm when the shape changes. With
    `dreamkeras.xla_cpu` on, tiny output maps are convolved as one matrix
    product and the norms use a flat view (same weights and values).

    Args:
        filters: int. Width of the block (its output width for basic blocks,
            a quarter of it for bottleneck blocks).
        strides: int. Stride of the first 3x3 convolution (downsampling).
        bottleneck: bool. Bottleneck (ResNet-50 style) instead of basic.
        matmul_max_pixels: int. With the XLA:CPU kernels, the largest output
            map convolved as a matmul; `0` always uses the native convolution.
        xla_cpu_kernels: optional bool. Build with the XLA:CPU kernels
            (`dreamkeras.xla_cpu`); defaults to the switch's state.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    block = dreamkeras.layers.ResidualBlock(64, strides=2)
    block(np.zeros((2, 16, 16, 32))).shape  # (2, 8, 8, 64)
    ```
    """

    expansion_of = {False: 1, True: 4}

    def __init__(
        self,
        filters,
        strides=1,
        bottleneck=False,
        matmul_max_pixels=DEFAULT_MATMUL_MAX_PIXELS,
        xla_cpu_kernels=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)
        self.bottleneck = bool(bottleneck)
        self.matmul_max_pixels = int(matmul_max_pixels)
        if xla_cpu_kernels is None:
            xla_cpu_kernels = xla_cpu.enabled()
        self.xla_cpu_kernels = bool(xla_cpu_kernels)

    @property
    def output_channels(self):
        return self.filters * self.expansion_of[self.bottleneck]

    def _conv(self, filters, size, strides, name):
        return keras.layers.Conv2D(
            filters,
            size,
            strides=strides,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            dtype=self.dtype_policy,
            name=name,
        )

    def _norm(self, name, zero_init=False):
        return xla_cpu.batch_normalization(
            on=self.xla_cpu_kernels,
            momentum=BATCH_NORM_MOMENTUM,
            gamma_initializer="zeros" if zero_init else "ones",
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        if self.bottleneck:
            specs = [(self.filters, 1, 1), (self.filters, 3, self.strides)]
            specs.append((self.output_channels, 1, 1))
        else:
            specs = [(self.filters, 3, self.strides), (self.filters, 3, 1)]
        self.convs, self.norms = [], []
        shape = input_shape
        for i, (filters, size, strides) in enumerate(specs):
            conv = self._conv(filters, size, strides, f"conv_{i + 1}")
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            # Zero-initialised last norm: each block starts as the identity.
            norm = self._norm(f"norm_{i + 1}", zero_init=i == len(specs) - 1)
            norm.build(shape)
            self.convs.append(conv)
            self.norms.append(norm)
        self.shortcut = None
        if self.strides != 1 or input_shape[-1] != self.output_channels:
            # A strided 1x1 convolution is subsampling + a 1x1 convolution;
            # done in that order because TensorFlow 2.21's oneDNN kernels
            # corrupt memory in the backward pass of strided 1x1 convolutions
            # on some CPUs (AVX-512/AMX), killing the process.
            self.shortcut = self._conv(self.output_channels, 1, 1, "shortcut")
            self.shortcut.build(self._subsample_shape(input_shape))
            self.shortcut_norm = self._norm("shortcut_norm")
            self.shortcut_norm.build(shape)

    def _subsample_shape(self, input_shape):
        batch, height, width, channels = input_shape
        if self.strides > 1:
            height = None if height is None else -(-height // self.strides)
            width = None if width is None else -(-width // self.strides)
        return (batch, height, width, channels)

    def _convolve(self, conv, x):
        # The convolutions have no bias and no activation.
        return xla_cpu.convolve(
            conv, x, self.matmul_max_pixels, on=self.xla_cpu_kernels
        )

    def call(self, inputs, training=None):
        x = inputs
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(self._convolve(conv, x), training=training)
            if i < len(self.convs) - 1:
                x = keras.activations.relu(x)
        shortcut = inputs
        if self.shortcut is not None:
            if self.strides > 1:
                shortcut = shortcut[:, :: self.strides, :: self.strides, :]
            shortcut = self.shortcut_norm(
                self._convolve(self.shortcut, shortcut), training=training
            )
        return keras.activations.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = self._subsample_shape(input_shape)
        return (batch, height, width, self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "bottleneck": self.bottleneck,
                "matmul_max_pixels": self.matmul_max_pixels,
                "xla_cpu_kernels": self.xla_cpu_kernels,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Blocks saved before the switch existed were built with the kernels.
        config = dict(config)
        config.setdefault("xla_cpu_kernels", True)
        return cls(**config)
