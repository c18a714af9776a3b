"""Input layers of `dreamkeras.models.XLNetBackbone`.

KerasHub 0.32's `XLNetBackbone` builds the relative position encoding and the
attention mask with `ops.reshape` where a transpose is meant (`(len, batch)`
to `(batch, len)` and back): with more than one sequence in a batch, rows mix
up and the hidden states differ from `transformers`' `XLNetModel` (by 1e-2 to
1e-1 on a tiny random model). These layers compute the same tensors batch by
batch, and are what `XLNetBackbone` uses instead. The transformer layers
themselves are KerasHub's.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dreamkeras")
class XLNetRelativePositionEncoding(keras.layers.Layer):
    """Sinusoidal relative position encoding of XLNet (`attn_type="bi"`).

    For `T` tokens (no memory), the relative distances `T, T - 1, ..., -T + 1`
    are encoded as `[sin(p * f), cos(p * f)]` with `f = 10000^(-2i / dim)`,
    computed in float32 and cast to the compute dtype. Every row of the batch
    gets the same `(2T, dim)` table.

    Args:
        hidden_dim: int. Width of the encoding (the model's hidden size).
        clamp_length: int. Distances are clipped to `[-clamp_length,
            clamp_length]` when positive (`clamp_len` of a Hugging Face XLNet
            config); `-1` (default) disables clipping.
        dropout: float. Dropout on the encoding, as in XLNet.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, seq, dim)` tensor; only its shape is used.
        training: bool.

    Example:

    ```python
    layer = dreamkeras.models.xlnet.XLNetRelativePositionEncoding(16)
    layer(np.zeros((2, 5, 16), "float32")).shape  # (2, 10, 16)
    ```
    """

    def __init__(self, hidden_dim, clamp_length=-1, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % 2:
            raise ValueError(
                f"`hidden_dim` must be even (sin and cos halves). Received: "
                f"hidden_dim={hidden_dim}."
            )
        self.hidden_dim = hidden_dim
        self.clamp_length = clamp_length
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def call(self, inputs, training=None):
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        frequencies = ops.arange(0, self.hidden_dim, 2, dtype="float32")
        inverse = 1.0 / ops.power(10000.0, frequencies / float(self.hidden_dim))
        distances = ops.cast(ops.arange(length, -length, -1), "float32")
        if self.clamp_length > 0:
            distances = ops.clip(distances, -self.clamp_length, self.clamp_length)
        angles = ops.expand_dims(distances, -1) * ops.expand_dims(inverse, 0)
        encoding = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        encoding = ops.cast(encoding, self.compute_dtype)
        encoding = ops.broadcast_to(
            ops.expand_dims(encoding, 0), (batch, 2 * length, self.hidden_dim)
        )
        return self.dropout_layer(encoding, training=training)

    def compute_output_shape(self, inputs_shape):
        length = inputs_shape[1]
        return (
            inputs_shape[0],
            None if length is None else 2 * length,
            self.hidden_dim,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "clamp_length": self.clamp_length,
                "dropout": self.dropout,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="dreamkeras")
class XLNetAttentionMask(keras.layers.Layer):
    """Content-stream attention mask of XLNet from a padding mask.

    Position `i` may attend position `j` when `j` is a real token or `j == i`
    (a padded position still sees itself, as in XLNet). Also holds XLNet's
    `mask_emb` weight (the query stream's start vector), kept so that every
    tensor of a checkpoint has a home; the content stream does not use it.

    Args:
        hidden_dim: int. Width of `mask_emb`.
        kernel_initializer_range: float. Standard deviation of the truncated
            normal initialiser of `mask_emb`.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        padding_mask: `(batch, seq)` tensor, nonzero for real tokens.

    Returns:
        `(batch, seq, seq)` float32 tensor, 1 where attention is allowed.

    Example:

    ```python
    layer = dreamkeras.models.xlnet.XLNetAttentionMask(16)
    layer(np.array([[0, 1, 1]])).shape  # (1, 3, 3)
    ```
    """

    def __init__(self, hidden_dim, kernel_initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.kernel_initializer_range = kernel_initializer_range

    def build(self, padding_mask_shape=None):
        self.mask_emb = self.add_weight(
            shape=(1, 1, self.hidden_dim),
            initializer=keras.initializers.TruncatedNormal(
                stddev=self.kernel_initializer_range
            ),
            name="mask_emb",
        )

    def call(self, padding_mask):
        real = ops.cast(ops.not_equal(padding_mask, 0), "float32")
        length = ops.shape(padding_mask)[1]
        positions = ops.arange(length)
        itself = ops.cast(
            ops.equal(ops.expand_dims(positions, 1), ops.expand_dims(positions, 0)),
            "float32",
        )
        return ops.maximum(ops.expand_dims(real, 1), ops.expand_dims(itself, 0))

    def compute_output_shape(self, padding_mask_shape):
        batch, length = padding_mask_shape
        return (batch, length, length)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "kernel_initializer_range": self.kernel_initializer_range,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="dreamkeras")
class XLNetSegmentMatrix(keras.layers.Layer):
    """Which token pairs lie in different segments (XLNet's `seg_mat`).

    Call arguments:
        segment_ids: `(batch, seq)` int tensor.

    Returns:
        `(batch, seq, seq)` bool tensor, True where the segments differ.

    Example:

    ```python
    layer = dreamkeras.models.xlnet.XLNetSegmentMatrix()
    layer(np.array([[0, 0, 2]]))[0, 0, 2]  # True
    ```
    """

    def call(self, segment_ids):
        return ops.not_equal(
            ops.expand_dims(segment_ids, 2), ops.expand_dims(segment_ids, 1)
        )

    def compute_output_shape(self, segment_ids_shape):
        batch, length = segment_ids_shape
        return (batch, length, length)

    def compute_output_spec(self, segment_ids):
        return keras.KerasTensor(
            self.compute_output_shape(segment_ids.shape), dtype="bool"
        )
