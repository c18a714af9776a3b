"""XLNet backbone: KerasHub's `XLNetBackbone` with batch-safe inputs."""

import keras
import keras_hub
from keras import ops

from dreamkeras.models.xlnet.xlnet_layers import XLNetAttentionMask
from dreamkeras.models.xlnet.xlnet_layers import XLNetRelativePositionEncoding
from dreamkeras.models.xlnet.xlnet_layers import XLNetSegmentMatrix

HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "swish": "silu", "silu": "silu"}


@keras.saving.register_keras_serializable(package="dreamkeras")
class XLNetBackbone(keras_hub.models.XLNetBackbone):
    """XLNet encoder (Yang et al. 2019): KerasHub's, correct for any batch.

    A `keras_hub.models.XLNetBackbone` (same constructor, inputs, outputs,
    layer names and weights) whose relative position encoding and attention
    mask are computed batch by batch. KerasHub 0.32 builds both with a
    reshape where a transpose is meant, which mixes the rows of a batch: its
    outputs match `transformers`' `XLNetModel` for one sequence at a time
    only. Here they match for any batch (checked to 1e-4 in
    `tests/test_xlnet.py`). The word embedding and the transformer layers are
    KerasHub's own.

    Outputs the content stream (`(batch, seq, hidden_dim)`), as
    `XLNetModel.last_hidden_state` without permutation masks or memory
    (`attn_type="bi"`).

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_layers: int. Number of transformer layers.
        num_heads: int. Attention heads per layer.
        hidden_dim: int. Width of the hidden states.
        intermediate_dim: int. Width of the feedforward layers.
        dropout: float. Dropout everywhere, as in XLNet.
        activation: str. Feedforward activation. Defaults to `"gelu"`.
        kernel_initializer_range: float. Initialiser standard deviation.
        bias_initializer: str or initializer. Defaults to `"zeros"`.
        clamp_length: int. XLNet's `clamp_len`: relative distances are
            clipped to it when positive. Defaults to `-1` (no clipping).
        dtype: `None`, a dtype or a `keras.DTypePolicy`.
        **kwargs: passed to `keras_hub.models.Backbone`.

    Call arguments:
        A dict with `"token_ids"`, `"padding_mask"` (nonzero for real tokens)
        and `"segment_ids"`, each `(batch, seq)` int32.

    Example:

    ```python
    backbone = dreamkeras.models.XLNetBackbone(
        vocabulary_size=320, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32,
    )
    ids = np.array([[5, 5, 17, 40, 4, 3], [20, 21, 22, 23, 4, 3]], "int32")
    backbone({
        "token_ids": ids,
        "padding_mask": (ids != 5).astype("int32"),
        "segment_ids": np.zeros_like(ids),
    }).shape  # (2, 6, 16)
    ```

    References:
        - [Yang et al., 2019](https://arxiv.org/abs/1906.08237)
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.0,
        activation="gelu",
        kernel_initializer_range=0.02,
        bias_initializer="zeros",
        clamp_length=-1,
        dtype=None,
        **kwargs,
    ):
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` must be a multiple of `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}."
            )
        # === Layers ===
        # KerasHub's constructor creates the word embedding and the
        # transformer layers; they are reused here (no copy: the throwaway
        # model only references them), around batch-safe input layers.
        keras_hub_backbone = keras_hub.models.XLNetBackbone(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            activation=activation,
            kernel_initializer_range=kernel_initializer_range,
            bias_initializer=bias_initializer,
            dtype=dtype,
        )
        self.content_query_embedding = keras_hub_backbone.content_query_embedding
        self.transformer_layers = list(keras_hub_backbone.transformer_layers)
        del keras_hub_backbone
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.relative_position_encoding = XLNetRelativePositionEncoding(
            hidden_dim,
            clamp_length=clamp_length,
            dropout=dropout,
            dtype=dtype,
            name="relative_position_encoding",
        )
        self.attention_mask = XLNetAttentionMask(
            hidden_dim,
            kernel_initializer_range=kernel_initializer_range,
            dtype=dtype,
            name="encoder_block_attn_mask_layer",
        )
        self.segment_matrix = XLNetSegmentMatrix(
            dtype=dtype, name="encoder_block_seg_mat_layer"
        )
        self.output_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        # Word embeddings (with XLNet's dropout); KerasHub's position output
        # of this layer is not used.
        word_embeddings, _ = self.content_query_embedding(token_ids)
        outputs = self._transform(word_embeddings, padding_mask, segment_ids)
        keras_hub.models.Backbone.__init__(
            self,
            inputs={
                "token_ids": token_ids,
                "padding_mask": padding_mask,
                "segment_ids": segment_ids,
            },
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = activation
        self.kernel_initializer_range = kernel_initializer_range
        self.bias_initializer = bias_initializer
        self.clamp_length = clamp_length

    def _transform(self, embeddings, padding_mask, segment_ids, training=None):
        positions = self.relative_position_encoding(embeddings, training=training)
        mask = self.attention_mask(padding_mask)
        segments = self.segment_matrix(segment_ids)
        x = embeddings
        for layer in self.transformer_layers:
            x, _ = layer(
                output_content=x,
                attn_mask_content=mask,
                attn_mask_query=mask,
                pos_emb=positions,
                seg_mat=segments,
                training=training,
            )
        return self.output_dropout(x, training=training)

    def call_with_embeddings(
        self, embeddings, padding_mask, segment_ids=None, training=False
    ):
        """Runs the encoder on token embeddings instead of token ids.

        `call_with_embeddings(token_embedding(ids), mask, segments)` equals
        the model's output on `{"token_ids": ids, ...}`; the straight-through
        text connections feed embeddings that carry a gradient.

        Args:
            embeddings: `(batch, seq, hidden_dim)` float tensor.
            padding_mask: `(batch, seq)` tensor, nonzero for real tokens.
            segment_ids: optional `(batch, seq)` int tensor; zeros if None.
            training: bool. Dropout on (only if the encoder is trained).

        Returns:
            `(batch, seq, hidden_dim)` content stream.
        """
        if segment_ids is None:
            segment_ids = ops.zeros(ops.shape(embeddings)[:2], "int32")
        x = self.embeddings_dropout(embeddings, training=training)
        return self._transform(x, padding_mask, segment_ids, training=training)

    @classmethod
    def from_backbone(cls, backbone):
        """Copies a `keras_hub.models.XLNetBackbone` into this class.

        Args:
            backbone: a `keras_hub.models.XLNetBackbone` (e.g. one built or
                loaded with KerasHub).

        Returns:
            An `XLNetBackbone` with the same configuration and weights.

        Example:

        ```python
        fixed = dreamkeras.models.XLNetBackbone.from_backbone(keras_hub_xlnet)
        ```
        """
        config = backbone.get_config()
        result = cls.from_config(config)
        sources = {variable.path: variable for variable in backbone.weights}
        for variable in result.weights:
            if variable.path not in sources:
                raise ValueError(
                    f"{type(backbone).__name__} has no weight {variable.path!r}; "
                    "only KerasHub XLNetBackbones can be copied."
                )
            variable.assign(sources[variable.path])
        return result

    def get_config(self):
        config = super().get_config()
        config["clamp_length"] = self.clamp_length
        return config
