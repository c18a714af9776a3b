"""Max pooling computed as element-wise maxima of strided views."""

import keras
from keras import ops

from dreamkeras.xla_cpu.matmul_conv import same_padding
from dreamkeras.xla_cpu.matmul_conv import valid_padding


def max_pool_axis(inputs, axis, pool, stride, padding):
    """Max-pools `inputs` along one axis with element-wise maxima.

    The axis is padded with `-inf` (and cropped) to `stride * (output +
    phases - 1)` entries and reshaped to `(output + phases - 1, stride)`, with
    `phases = ceil(pool / stride)`. Window entry `t = q * stride + r` of
    output `o` is then row `o + q`, column `r`: a contiguous slice. The
    result is the maximum of those `pool` slices; its gradient is a handful
    of element-wise selects and pads, where XLA:CPU computes the gradient of
    a native max pool (a select-and-scatter) with a slow generic kernel.

    Args:
        inputs: tensor.
        axis: int, the axis to pool (non-negative).
        pool: int, window size.
        stride: int.
        padding: `"same"` or `"valid"`.

    Returns:
        `inputs` with `axis` pooled.

    Raises:
        ValueError: if a "valid" window is larger than the axis.
    """
    size = inputs.shape[axis]
    # Windows are placed as a convolution's are (any odd pixel of "same"
    # padding goes after).
    pad_rule = same_padding if padding == "same" else valid_padding
    output, (before, _) = pad_rule(size, pool, stride)
    if output < 1:
        raise ValueError(
            f"Cannot max-pool an axis of {size} entries with a window of {pool} "
            f"and 'valid' padding: the window is larger than the input. Use "
            f"padding='same' or a smaller pool_size."
        )
    phases = -(-pool // stride)
    length = stride * (output + phases - 1)
    after = length - before - size
    pads = [(0, 0)] * len(inputs.shape)
    pads[axis] = (before, max(after, 0))
    x = inputs
    if before or after > 0:
        x = ops.pad(x, pads, constant_values=float("-inf"))
    if after < 0:
        x = _crop(x, axis, length)
    shape = list(x.shape)
    shape[axis : axis + 1] = [output + phases - 1, stride]
    shape = [-1 if dim is None else dim for dim in shape]
    x = ops.reshape(x, shape)
    result = None
    for t in range(pool):
        q, r = divmod(t, stride)
        index = [slice(None)] * len(shape)
        index[axis] = slice(q, q + output)
        index[axis + 1] = r
        view = x[tuple(index)]
        result = view if result is None else ops.maximum(result, view)
    return result


def _crop(x, axis, length):
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(0, length)
    return x[tuple(index)]


@keras.saving.register_keras_serializable(package="dreamkeras")
class SeparableMaxPooling2D(keras.layers.MaxPooling2D):
    """`keras.layers.MaxPooling2D` computed as maxima of strided views.

    The same pooling (same outputs, same arguments and config) as
    `keras.layers.MaxPooling2D`, computed over the rows and then over the
    columns, each as the element-wise maximum of `pool_size` strided views.
    Its gradient is element-wise work that compilers fuse, where the
    gradient of a native max pool is a select-and-scatter that XLA:CPU runs
    with a slow generic kernel (docs/cpu_performance.md has the figures).
    The forward pass alone is not faster: use it where gradients flow
    through the pool.

    Where several pixels of a window tie for the maximum, the gradient is
    split between them (JAX, PyTorch) or goes to one of them (TensorFlow);
    a native max pool sends it to one. Both are valid subgradients, and after
    a ReLU (as in a ResNet stem) the tied pixels are zeros whose gradient
    the ReLU stops anyway.

    Args:
        pool_size: int or (int, int).
        strides: int, (int, int) or `None` (= `pool_size`).
        padding: `"valid"` or `"same"`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: the other arguments of `keras.layers.MaxPooling2D`.

    Example:

    ```python
    pool = dreamkeras.xla_cpu.SeparableMaxPooling2D(3, strides=2, padding="same")
    pool(np.zeros((8, 112, 112, 64))).shape  # (8, 56, 56, 64)
    ```
    """

    def call(self, inputs):
        rows, columns = (1, 2) if self.data_format == "channels_last" else (2, 3)
        if inputs.shape[rows] is None or inputs.shape[columns] is None:
            return super().call(inputs)  # the views need a known map size
        for axis, pool, stride in (
            (rows, self.pool_size[0], self.strides[0]),
            (columns, self.pool_size[1], self.strides[1]),
        ):
            inputs = max_pool_axis(inputs, axis, pool, stride, self.padding)
        return inputs
