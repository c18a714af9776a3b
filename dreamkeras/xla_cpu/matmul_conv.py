"""A 2D convolution that computes small feature maps as one matrix product."""

import keras
from keras import ops

# Output maps of at most this many pixels (4x4) are convolved as a matrix
# product: XLA:CPU's convolution kernels are slow for tiny maps with many
# channels, and from 8x8 maps on the native convolution is as fast or faster
# (docs/cpu_performance.md).
DEFAULT_MATMUL_MAX_PIXELS = 16


def same_padding(size, kernel, stride):
    """Output size and (before, after) padding of a "same" convolution.

    The same rule as TensorFlow's and `keras.ops.conv`'s: any odd pixel of
    padding goes after.
    """
    output = -(-size // stride)
    total = max((output - 1) * stride + kernel - size, 0)
    return output, (total // 2, total - total // 2)


def valid_padding(size, kernel, stride):
    """Output size and (zero) padding of a "valid" convolution."""
    return (size - kernel) // stride + 1, (0, 0)


def _is_plain_convolution(conv, inputs):
    """channels_last, ungrouped, undilated, on a map of known height and width."""
    return (
        conv.data_format == "channels_last"
        and conv.groups == 1
        and tuple(conv.dilation_rate) == (1, 1)
        and None not in tuple(inputs.shape[1:3])
    )


def matmul_convolution(conv, inputs, kernel, max_pixels=DEFAULT_MATMUL_MAX_PIXELS):
    """The convolution of a `keras.layers.Conv2D` as one matmul, if small.

    Pads `inputs` as `conv` would, concatenates its `kernel_size` shifted
    (and strided) views along the channels (im2col) and multiplies them by
    `kernel` reshaped to `(kh * kw * in_channels, filters)`. No bias, no
    activation: this replaces `conv.convolution_op`.

    Args:
        conv: a `keras.layers.Conv2D` (its strides, padding, data format).
        inputs: `(batch, height, width, channels)` tensor.
        kernel: the kernel to use, normally `conv.kernel`.
        max_pixels: int. Largest output map (height x width) to compute
            this way.

    Returns:
        The convolution, or `None` when the output map is empty or larger
        than `max_pixels`, or `conv` is dilated, grouped or `channels_first`:
        then use the native convolution.
    """
    if not _is_plain_convolution(conv, inputs):
        return None
    height, width = inputs.shape[1], inputs.shape[2]
    padding = same_padding if conv.padding == "same" else valid_padding
    out_h, pad_h = padding(height, conv.kernel_size[0], conv.strides[0])
    out_w, pad_w = padding(width, conv.kernel_size[1], conv.strides[1])
    if out_h < 1 or out_w < 1 or out_h * out_w > max_pixels:
        return None
    stride_h, stride_w = conv.strides
    kernel_h, kernel_w = conv.kernel_size
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
    return ops.matmul(patches, ops.reshape(kernel, (-1, conv.filters)))


def patch_convolution(conv, inputs, kernel):
    """The convolution of a patch-embedding `Conv2D` as one matmul.

    When the kernel tiles the input (strides equal to the kernel size,
    "valid" padding), each output pixel sees its own patch: the patches are
    cut out with a reshape and multiplied by `kernel` reshaped to
    `(kh * kw * in_channels, filters)`. XLA:CPU computes the same
    convolution, and above all its input gradient, far more slowly (see
    docs/cpu_performance.md). No bias, no activation: this replaces
    `conv.convolution_op`.

    Args:
        conv: a `keras.layers.Conv2D`.
        inputs: `(batch, height, width, channels)` tensor. Rows and columns
            past the last whole patch are dropped, as the convolution does.
        kernel: the kernel to use, normally `conv.kernel`.

    Returns:
        `(batch, height // kh, width // kw, filters)`, or `None` when `conv`
        is not such a convolution (or is dilated, grouped or
        `channels_first`): then use the native convolution.

    Example:

    ```python
    conv = keras.layers.Conv2D(768, 16, strides=16)
    conv.build((None, 224, 224, 3))
    tokens = patch_convolution(conv, images, conv.kernel)  # (b, 14, 14, 768)
    ```
    """
    if (
        not _is_plain_convolution(conv, inputs)
        or conv.padding != "valid"
        or tuple(conv.strides) != tuple(conv.kernel_size)
    ):
        return None
    height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
    patch_h, patch_w = conv.kernel_size
    grid_h, grid_w = height // patch_h, width // patch_w
    if grid_h < 1 or grid_w < 1:
        return None
    x = inputs[:, : grid_h * patch_h, : grid_w * patch_w, :]
    x = ops.reshape(x, (-1, grid_h, patch_h, grid_w, patch_w, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    x = ops.reshape(x, (-1, grid_h, grid_w, patch_h * patch_w * channels))
    return ops.matmul(x, ops.reshape(kernel, (-1, conv.filters)))


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
    conv = dreamkeras.xla_cpu.MatmulConv2D(256, 3, padding="same")
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

    def convolution_op(self, inputs, kernel):
        outputs = matmul_convolution(self, inputs, kernel, self.matmul_max_pixels)
        if outputs is None:
            return super().convolution_op(inputs, kernel)
        return outputs

    def get_config(self):
        config = super().get_config()
        config["matmul_max_pixels"] = self.matmul_max_pixels
        return config
