"""`LSTMBlock`: the chain block `g_m` of the LSTM text networks."""

import keras
from keras import ops


def _mask_like(padding_mask, x):
    """`(batch, seq)` mask -> `(batch, seq, 1)` in `x`'s dtype."""
    return ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)


@keras.saving.register_keras_serializable(package="dreamkeras")
class LSTMBlock(keras.layers.Layer):
    """A chain block `g_m` of the text networks: LSTM(s) + LayerNorm.

    Runs `depth` LSTMs (`return_sequences=True`) that skip padded positions,
    normalises, and zeroes padded positions, so that tokens at padded
    positions never reach the output.

    Args:
        units: int. Width of the LSTMs and of the output.
        depth: int. Number of stacked LSTMs (the paper's ablation uses 2).
        dropout: float. Dropout on the LSTM inputs.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, seq, dim)` float tensor.
        padding_mask: `(batch, seq)` tensor, nonzero for real tokens.

    Example:

    ```python
    block = dreamkeras.layers.LSTMBlock(32)
    x = np.random.rand(2, 10, 16).astype("float32")
    block(x, padding_mask=np.ones((2, 10), "int32")).shape  # (2, 10, 32)
    ```
    """

    def __init__(self, units, depth=1, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` must be a positive integer. Received: {units!r}.")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"`depth` must be a positive integer. Received: {depth!r}.")
        self.units = units
        self.depth = depth
        self.dropout = dropout
        self.lstms = [
            keras.layers.LSTM(
                units,
                return_sequences=True,
                dropout=dropout,
                dtype=self.dtype_policy,
                name=f"lstm_{i + 1}",
            )
            for i in range(depth)
        ]
        self.norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=self.dtype_policy, name="norm"
        )

    def build(self, inputs_shape, padding_mask_shape=None):
        shape = tuple(inputs_shape)
        for lstm in self.lstms:
            lstm.build(shape)
            shape = shape[:-1] + (self.units,)
        self.norm.build(shape)

    def call(self, inputs, padding_mask=None, training=None):
        x = inputs
        mask = None if padding_mask is None else ops.cast(padding_mask, "bool")
        for lstm in self.lstms:
            x = lstm(x, mask=mask, training=training)
        x = self.norm(x)
        if padding_mask is not None:
            x = x * _mask_like(padding_mask, x)
        return x

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return tuple(inputs_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"units": self.units, "depth": self.depth, "dropout": self.dropout}
        )
        return config
