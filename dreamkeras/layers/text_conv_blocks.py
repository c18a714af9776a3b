"""Convolutional chain blocks `g_m` of the text networks: TextCNN and CharCNN.

Both keep one vector per position (`same` padding), so that a text
connection, which reads and writes one vector per position, can be added to
their output, and both ignore padded positions: the input is zeroed there
before every convolution (as the convolution's own zero padding would be at
the sequence's end) and so is the output. A padded batch therefore gives the
same values at the real positions as the unpadded sequences.
"""

import keras
from keras import ops


def _check_sizes(name, sizes, allow_empty=False):
    sizes = tuple(sizes)
    if (not sizes and not allow_empty) or any(
        isinstance(size, bool) or not isinstance(size, int) or size < 1
        for size in sizes
    ):
        raise ValueError(
            f"`{name}` must be a non-empty tuple of positive integers. "
            f"Received: {name}={sizes!r}."
        )
    return sizes


def _check_filters(num_filters):
    if isinstance(num_filters, bool) or not isinstance(num_filters, int) or num_filters < 1:
        raise ValueError(
            f"`num_filters` must be a positive integer. Received: {num_filters!r}."
        )


def _mask_like(padding_mask, x):
    """`(batch, seq)` mask -> `(batch, seq, 1)` in `x`'s dtype."""
    return ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)


def pooled_padding_mask(padding_mask, pool_size):
    """A padding mask brought to a sequence max-pooled by `pool_size`.

    A pooled position is real when any of the positions it pools is real.
    Pooling twice by 3 gives the same mask as pooling once by 9.

    Args:
        padding_mask: `(batch, seq)` tensor, nonzero for real positions.
        pool_size: int. Pool size (and stride) of the `MaxPooling1D`.

    Returns:
        `(batch, seq // pool_size)` int32 tensor.
    """
    if pool_size == 1:
        return padding_mask
    mask = ops.expand_dims(ops.cast(ops.not_equal(padding_mask, 0), "float32"), -1)
    mask = ops.max_pool(mask, pool_size, strides=pool_size, padding="valid")
    return ops.cast(ops.squeeze(mask, -1), "int32")


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextCNNBlock(keras.layers.Layer):
    """A TextCNN stage (Kim 2014): parallel convolutions of several widths.

    Runs one `Conv1D` (`same` padding, ReLU) per width in `filter_sizes`
    over the sequence and concatenates their outputs on the feature axis:
    `num_filters * len(filter_sizes)` features per position. Kim's TextCNN
    is one such stage followed by max-over-time pooling; the text networks
    stack `M` of them as their chain (`chain="textcnn"`).

    Args:
        num_filters: int. Filters per width.
        filter_sizes: tuple of int. Convolution widths (n-gram sizes),
            distinct. Defaults to Kim's `(3, 4, 5)`.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, seq, dim)` float tensor.
        padding_mask: optional `(batch, seq)` tensor, nonzero for real tokens.

    Example:

    ```python
    block = dreamkeras.layers.TextCNNBlock(4)
    x = np.random.rand(2, 10, 16).astype("float32")
    block(x, padding_mask=np.ones((2, 10), "int32")).shape  # (2, 10, 12)
    ```
    """

    def __init__(self, num_filters, filter_sizes=(3, 4, 5), **kwargs):
        super().__init__(**kwargs)
        _check_filters(num_filters)
        filter_sizes = _check_sizes("filter_sizes", filter_sizes)
        if len(set(filter_sizes)) != len(filter_sizes):
            raise ValueError(
                f"`filter_sizes` must be distinct widths. "
                f"Received: filter_sizes={filter_sizes}."
            )
        self.num_filters = num_filters
        self.filter_sizes = filter_sizes
        self.convs = [
            keras.layers.Conv1D(
                num_filters,
                size,
                padding="same",
                activation="relu",
                dtype=self.dtype_policy,
                name=f"conv_{size}",
            )
            for size in filter_sizes
        ]

    def build(self, inputs_shape, padding_mask_shape=None):
        for conv in self.convs:
            conv.build(tuple(inputs_shape))

    def call(self, inputs, padding_mask=None):
        x = inputs
        if padding_mask is not None:
            x = x * _mask_like(padding_mask, x)
        outputs = [conv(x) for conv in self.convs]
        y = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)
        if padding_mask is not None:
            y = y * _mask_like(padding_mask, y)
        return y

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        features = self.num_filters * len(self.filter_sizes)
        return tuple(inputs_shape[:-1]) + (features,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_filters": self.num_filters, "filter_sizes": self.filter_sizes}
        )
        return config


@keras.saving.register_keras_serializable(package="dreamkeras")
class CharCNNBlock(keras.layers.Layer):
    """A CharCNN stage (Zhang, Zhao & LeCun 2015): convolutions, then pooling.

    Runs `Conv1D` layers (`same` padding, ReLU) of the given kernel sizes one
    after the other, then, with `pool_size`, a non-overlapping
    `MaxPooling1D`, which shortens the sequence to `seq // pool_size`.
    Padded positions are zeroed before every convolution and in the output
    (after pooling, a position is padded when all the positions it pools
    are; see `pooled_padding_mask`).

    Zhang et al.'s six layers (kernels 7, 7, 3, 3, 3, 3; pooling by 3 after
    the 1st, 2nd and 6th) are four such blocks in the text networks'
    `chain="charcnn"`: `(7,)` + pool, `(7,)` + pool, `(3, 3)`, `(3, 3)` +
    pool.

    Args:
        num_filters: int. Features of every convolution.
        kernel_sizes: tuple of int. Kernel size of each convolution.
        pool_size: optional int. Max-pooling size and stride.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, seq, dim)` float tensor.
        padding_mask: optional `(batch, seq)` tensor, nonzero for real
            positions.

    Example:

    ```python
    block = dreamkeras.layers.CharCNNBlock(8, kernel_sizes=(7,), pool_size=3)
    x = np.random.rand(2, 30, 16).astype("float32")
    block(x, padding_mask=np.ones((2, 30), "int32")).shape  # (2, 10, 8)
    ```
    """

    def __init__(self, num_filters, kernel_sizes=(7,), pool_size=None, **kwargs):
        super().__init__(**kwargs)
        _check_filters(num_filters)
        kernel_sizes = _check_sizes("kernel_sizes", kernel_sizes)
        if pool_size is not None:
            _check_sizes("pool_size", (pool_size,))
        self.num_filters = num_filters
        self.kernel_sizes = kernel_sizes
        self.pool_size = pool_size
        self.convs = [
            keras.layers.Conv1D(
                num_filters,
                size,
                padding="same",
                activation="relu",
                dtype=self.dtype_policy,
                name=f"conv_{i + 1}",
            )
            for i, size in enumerate(kernel_sizes)
        ]
        self.pool = (
            keras.layers.MaxPooling1D(
                pool_size, dtype=self.dtype_policy, name="pool"
            )
            if pool_size
            else None
        )

    def build(self, inputs_shape, padding_mask_shape=None):
        shape = tuple(inputs_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = shape[:-1] + (self.num_filters,)

    def call(self, inputs, padding_mask=None):
        x = inputs
        for conv in self.convs:
            if padding_mask is not None:
                x = x * _mask_like(padding_mask, x)
            x = conv(x)
        if self.pool is not None:
            x = self.pool(x)
            if padding_mask is not None:
                padding_mask = pooled_padding_mask(padding_mask, self.pool_size)
        if padding_mask is not None:
            x = x * _mask_like(padding_mask, x)
        return x

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        length = inputs_shape[1]
        if self.pool_size and length is not None:
            length = length // self.pool_size
        return (inputs_shape[0], length, self.num_filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_filters": self.num_filters,
                "kernel_sizes": self.kernel_sizes,
                "pool_size": self.pool_size,
            }
        )
        return config
