"""XLNet's language-model head on `XLNetBackbone`, as a KerasHub-style task."""

import keras
import keras_hub
from keras import ops

from dreamkeras.models.xlnet.xlnet_backbone import XLNetBackbone


@keras.saving.register_keras_serializable(package="dreamkeras")
class XLNetMaskedLMHead(keras.layers.Layer):
    """XLNet's LM head: logits from the tied token embedding plus a bias.

    `logits = h @ E^T + b`, where `E` is the backbone's token embedding
    (tied, not copied) and `b` the head's own bias: `lm_loss` of
    `transformers`' `XLNetLMHeadModel`. Unlike BERT-style masked-LM heads,
    XLNet's has no dense layer or norm before the projection.

    Args:
        vocabulary_size: optional int. Checked against `token_embedding`.
        token_embedding: `keras.layers.Embedding`. The tied embedding.
        bias_initializer: str or initializer. Defaults to `"zeros"`.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, seq, hidden_dim)` hidden states.
        mask_positions: optional `(batch, num_positions)` int tensor: the
            positions to predict. All positions if None.

    Example:

    ```python
    embedding = keras.layers.Embedding(320, 16)
    embedding.build((None,))
    head = dreamkeras.models.xlnet.XLNetMaskedLMHead(token_embedding=embedding)
    head(np.random.rand(2, 6, 16).astype("float32")).shape  # (2, 6, 320)
    ```
    """

    def __init__(
        self,
        vocabulary_size=None,
        token_embedding=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if token_embedding is None:
            raise ValueError(
                "XLNetMaskedLMHead ties its projection to the backbone's token "
                "embedding: pass `token_embedding=backbone.token_embedding`."
            )
        if vocabulary_size not in (None, token_embedding.input_dim):
            raise ValueError(
                f"`vocabulary_size={vocabulary_size}` does not match the token "
                f"embedding's {token_embedding.input_dim} rows."
            )
        self.token_embedding = token_embedding
        self.vocabulary_size = token_embedding.input_dim
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, inputs_shape, mask_positions_shape=None):
        self.bias = self.add_weight(
            shape=(self.vocabulary_size,),
            initializer=self.bias_initializer,
            name="output_bias",
        )

    def call(self, inputs, mask_positions=None):
        x = inputs
        if mask_positions is not None:
            x = ops.take_along_axis(x, ops.expand_dims(mask_positions, -1), axis=1)
        table = ops.cast(self.token_embedding.embeddings, x.dtype)
        logits = ops.matmul(x, ops.transpose(table))
        return logits + ops.cast(self.bias, logits.dtype)

    def compute_output_shape(self, inputs_shape, mask_positions_shape=None):
        shape = inputs_shape if mask_positions_shape is None else mask_positions_shape
        return tuple(shape[:2]) + (self.vocabulary_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "token_embedding": keras.layers.serialize(self.token_embedding),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["token_embedding"] = keras.layers.deserialize(config["token_embedding"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="dreamkeras")
class XLNetMaskedLM(keras_hub.models.MaskedLM):
    """XLNet with its language-model head, for `TextDreamConnection`.

    Predicts a token at every requested position from the content stream of
    `dreamkeras.models.XLNetBackbone` through `XLNetMaskedLMHead` (tied
    embedding + bias): the logits of `transformers`' `XLNetLMHeadModel`
    without permutation masks or target mappings, which for an unmasked input
    reconstructs it. That is how `TextDreamConnection` uses a masked LM, so
    this task has the same interface as KerasHub's `RobertaMaskedLM`
    (`.backbone`, `.masked_lm_head`, a `"mask_positions"` input). XLNet was
    pretrained as a permutation LM, not with `<mask>` tokens: its
    predictions at `<mask>` positions are not what this head is for.

    Args:
        backbone: a `dreamkeras.models.XLNetBackbone`.
        preprocessor: optional preprocessor (kept for KerasHub's `Task` API).
        **kwargs: passed to `keras_hub.models.MaskedLM`.

    Call arguments:
        A dict with `"token_ids"`, `"padding_mask"`, `"segment_ids"` and
        `"mask_positions"` (`(batch, num_positions)` int32).

    Example:

    ```python
    backbone = dreamkeras.models.XLNetBackbone(
        vocabulary_size=320, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32,
    )
    lm = dreamkeras.models.XLNetMaskedLM(backbone)
    connection = dreamkeras.layers.TextDreamConnection(lm)
    ```
    """

    backbone_cls = XLNetBackbone

    def __init__(self, backbone, preprocessor=None, **kwargs):
        if not isinstance(backbone, XLNetBackbone):
            raise ValueError(
                "XLNetMaskedLM needs a `dreamkeras.models.XLNetBackbone` (a "
                "KerasHub XLNetBackbone converts with "
                "`dreamkeras.models.XLNetBackbone.from_backbone`). Received: "
                f"{type(backbone).__name__}."
            )
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.masked_lm_head = XLNetMaskedLMHead(
            token_embedding=backbone.token_embedding,
            dtype=backbone.dtype_policy,
            name="lm_head",
        )

        # === Functional Model ===
        inputs = {
            **backbone.input,
            "mask_positions": keras.Input(
                shape=(None,), dtype="int32", name="mask_positions"
            ),
        }
        outputs = self.masked_lm_head(
            backbone(backbone.input), mask_positions=inputs["mask_positions"]
        )
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
