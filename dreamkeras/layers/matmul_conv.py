"""A 2D convolution that computes small feature maps as one matrix product."""

import keras
from keras import ops

# Output maps of at most this many pixels (4x4) are convolved as a matrix
# product. XLA:CPU's convolution kernels are slow for tiny maps with many
# channels: a 3x3, 256-channel convolution on a 2x2 map, batch 8, took 39 ms
# forward and backward under JAX on this project's 2-core CPU, against 3 ms as
# a matrix product (and 15 ms against 7 ms on a 1x1 map with 512 channels).
# From 8x8 maps on, the native convolution is as fast or faster.
DEFAULT_MATMUL_MAX_PIXELS = 16


def _same_padding(size, kernel, stride):
    """Output size and (before, after) padding of a "same" convolution.

    The same rule as TensorFlow's and `keras.ops.conv`'s: any odd pixel of
    padding goes after.
    """
    output = -(-size // stride)
    total = max((output - 1) * stride + kernel - size, 0)
    return output, (total // 2, total - total // 2)


def _valid_padding(size, kernel, stride):
    return (size - kernel) // stride + 1, (0, 0)


@keras.saving.register_keras_serializable(package="dreamkeras")
class MatmulConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` that convolves small maps as one matmul.

    When the output map has at most `matmul_max_pixels` pixels, the input is
    padded, its `kernel_size` shifted (and strided) views are concatenated
    along the channels (im2col), and the result is multiplied by the kernel
    reshaped to `(kh * kw * in_channels, filters)`. That is the same
    convolution, with the same weights, as `keras.layers.Conv2D`; it is only
    computed differently, because compilers' convolution kernels are slow for
    tiny maps with many channels (the last stages of a ResNet on 32x32
    images). Larger maps use the native convolution. Only `channels_last`,
    ungrouped, undilated convolutions take the matmul path.

    Args:
        filters: int. Output channels.
        kernel_size: int or (int, int).
        matmul_max_pixels: int. The largest output map (height x width) that
            is computed as a matrix product; `0` turns the matmul path off.
        **kwargs: the other arguments of `keras.layers.Conv2D`.

    Example:

    ```python
    conv = dreamkeras.layers.MatmulConv2D(256, 3, padding="same")
    conv(np.zeros((8, 2, 2, 128))).shape  # (8, 2, 2, 256), one matmul
    ```
    """

    def __init__(
        self,
        filters,
        kernel_size,
        matmul_max_pixels=DEFAULT_MATMUL_MAX_PIXELS,
        **kwargs,
    ):
        super().__init__(filters, kernel_size, **kwargs)
        self.matmul_max_pixels = int(matmul_max_pixels)

    def _matmul_geometry(self, inputs):
        """The output size and paddings, or `None` to use the native kernel."""
        if (
            self.data_format != "channels_last"
            or self.groups != 1
            or tuple(self.dilation_rate) != (1, 1)
        ):
            return None
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            return None
        padding = _same_padding if self.padding == "same" else _valid_padding
        rows = padding(height, self.kernel_size[0], self.strides[0])
        cols = padding(width, self.kernel_size[1], self.strides[1])
        if rows[0] * cols[0] > self.matmul_max_pixels:
            return None
        return rows, cols

    def convolution_op(self, inputs, kernel):
        geometry = self._matmul_geometry(inputs)
        if geometry is None:
            return super().convolution_op(inputs, kernel)
        (out_h, pad_h), (out_w, pad_w) = geometry
        stride_h, stride_w = self.strides
        kernel_h, kernel_w = self.kernel_size
        padded = ops.pad(inputs, [(0, 0), pad_h, pad_w, (0, 0)])
        views = [
            padded[
                :,
                i : i + (out_h - 1) * stride_h + 1 : stride_h,
                j : j + (out_w - 1) * stride_w + 1 : stride_w,
                :,
            ]
            for i in range(kernel_h)
            for j in range(kernel_w)
        ]
        patches = views[0] if len(views) == 1 else ops.concatenate(views, axis=-1)
        matrix = ops.reshape(kernel, (-1, self.filters))
        return ops.matmul(patches, matrix)

    def get_config(self):
        config = super().get_config()
        config["matmul_max_pixels"] = self.matmul_max_pixels
        return config
