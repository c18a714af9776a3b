"""Text sleep and dream connections around a frozen KerasHub text encoder.

`TextSleepConnection` and `TextDreamConnection` are the text siblings of the
vision `SleepConnection` and `DreamConnection`. They keep separate names
because their inputs and outputs differ in kind (a `(batch, seq, dim)`
sequence with a padding mask instead of a `(batch, h, w, c)` feature map; a
token sequence instead of an image as the "dream") and because they wrap
different frozen models (a KerasHub text backbone, a KerasHub masked LM).
The chain blocks live in `lstm_block.py` and `text_conv_blocks.py`, the
encoder description in `text_encoder_spec.py` (`LSTMBlock` and
`describe_text_encoder` stay importable from here).

The paper (Fig. 3/5) turns the chain's hidden sequence into "a legitimate
token sequence" with softmax + argmax before the frozen encoder. argmax has
no gradient, so in that form the vocabulary projection never trains. Both
connections offer:

- `token_mode="straight_through"` (the default): the forward pass is exactly
  the paper's (argmax tokens, looked up in the encoder's own token
  embedding), the backward pass uses the softmax's gradient
  (`E[argmax] + p @ E - stop_gradient(p @ E)`), so the vocabulary projection
  learns which tokens to feed the encoder. It is the default because the
  projection is otherwise a fixed random map of the hidden states.
- `token_mode="argmax"`: the paper's form. The token ids go to the encoder's
  usual `{"token_ids", "padding_mask"}` inputs. Since no gradient can reach
  the vocabulary projection, it is created non-trainable (it stays at its
  random initial value), which also spares the backward pass through the
  encoder.
"""

import keras
from keras import ops

from dreamkeras import torch_export
from dreamkeras.layers.lstm_block import LSTMBlock  # noqa: F401 (moved; old import path)
from dreamkeras.layers.text_encoder_spec import SUPPORTED_INPUTS  # noqa: F401
from dreamkeras.layers.text_encoder_spec import TextEncoderSpec  # noqa: F401
from dreamkeras.layers.text_encoder_spec import describe_text_encoder
from dreamkeras.utils.sharing import FrozenModelHolder

TOKEN_MODES = ("straight_through", "argmax")


def _sequence_output(outputs):
    if isinstance(outputs, dict):
        return outputs["sequence_output"]
    return outputs


def _mask_like(padding_mask, x):
    """`(batch, seq)` mask -> `(batch, seq, 1)` in `x`'s dtype."""
    return ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)


class TextFrozenModelConnection(keras.layers.Layer):
    """Shared machinery of the text connections.

    hidden sequence -> `to_vocabulary` (Dense, vocabulary logits) -> tokens
    (argmax or straight-through) -> frozen encoder -> (subclass) ->
    `from_encoder` (Dense + LayerNorm) -> zeroed at padded positions.

    Subclasses set `self.backbone` and `self.spec` before `build`, and
    implement `call`.
    """

    def __init__(
        self,
        token_mode="straight_through",
        output_dim=None,
        trainable_encoder=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if token_mode not in TOKEN_MODES:
            raise ValueError(
                f"`token_mode` must be one of {TOKEN_MODES}. "
                f"Received: token_mode={token_mode!r}."
            )
        self.token_mode = token_mode
        self.output_dim = output_dim
        self.trainable_encoder = bool(trainable_encoder)

    def _check_backbone(self):
        if self.token_mode == "straight_through" and self.spec.embedding_layout is None:
            raise ValueError(
                f"`token_mode='straight_through'` feeds embeddings to the "
                f"encoder's layers, which is supported for RoBERTa-, "
                f"XLM-RoBERTa-, DistilBERT- and BERT-style KerasHub backbones "
                f"and `dreamkeras.models.XLNetBackbone`. "
                f"Received a {type(self.backbone).__name__}; use "
                f"`token_mode='argmax'` with it."
            )

    def build(self, inputs_shape, padding_mask_shape=None):
        input_shape = tuple(inputs_shape)
        name = type(self).__name__
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{name} expects a `(batch, sequence, features)` input with known "
                f"features. Received input shape {tuple(input_shape)}."
            )
        length = input_shape[1]
        max_length = self.spec.max_sequence_length
        if length is not None and max_length is not None and length > max_length:
            raise ValueError(
                f"{name} got sequences of length {length}, longer than the "
                f"encoder's `max_sequence_length={max_length}`. Set the "
                f"preprocessor's `sequence_length` to at most {max_length}."
            )
        self.to_vocabulary = keras.layers.Dense(
            self.spec.vocabulary_size, dtype=self.dtype_policy, name="to_vocabulary"
        )
        self.to_vocabulary.build(tuple(input_shape))
        if self.token_mode == "argmax":
            # argmax has no gradient: the projection can never train.
            self.to_vocabulary.trainable = False
        out_dim = self.output_dim or input_shape[-1]
        self.from_encoder = keras.layers.Dense(
            out_dim, dtype=self.dtype_policy, name="from_encoder"
        )
        self.from_encoder.build(tuple(input_shape[:2]) + (self._encoder_out_dim,))
        self.from_encoder_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=self.dtype_policy, name="from_encoder_norm"
        )
        self.from_encoder_norm.build(tuple(input_shape[:2]) + (out_dim,))

    @property
    def _encoder_out_dim(self):
        return self.spec.hidden_dim

    def _encoder_training(self, training):
        # A frozen encoder always runs in inference mode (dropout off).
        return bool(training) if self.trainable_encoder else False

    def _select_tokens(self, logits, with_embeddings):
        """Token ids (and, for straight-through, embeddings) from logits.

        The straight-through embeddings equal `E[argmax]` exactly in the
        forward pass; their gradient is that of `softmax(logits) @ E`.
        """
        token_ids = ops.cast(ops.argmax(logits, axis=-1), "int32")
        if not with_embeddings:
            return token_ids, None
        token_embedding = self.backbone.token_embedding
        hard = token_embedding(token_ids)
        table = ops.cast(token_embedding.embeddings, hard.dtype)
        probs = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), hard.dtype)
        soft = ops.matmul(probs, table)
        return token_ids, hard + (soft - ops.stop_gradient(soft))

    def _encoder_inputs(self, token_ids, padding_mask):
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        if "segment_ids" in self.spec.input_names:
            inputs["segment_ids"] = ops.zeros_like(token_ids)
        return inputs

    def _encode_embeddings(self, embeddings, padding_mask, training):
        """Runs the encoder's layers on token embeddings instead of ids."""
        backbone = self.backbone
        if self.spec.embedding_layout == "call_with_embeddings":
            return backbone.call_with_embeddings(
                embeddings, padding_mask, training=training
            )
        if self.spec.embedding_layout == "token_and_position":
            x = embeddings + backbone.embeddings.position_embedding(embeddings)
        else:  # token_position_segment (BERT)
            positions = backbone.position_embedding(embeddings)
            segments = backbone.segment_embedding(
                ops.zeros(ops.shape(embeddings)[:2], "int32")
            )
            x = backbone.embeddings_add((embeddings, positions, segments))
        x = backbone.embeddings_layer_norm(x)
        x = backbone.embeddings_dropout(x, training=training)
        for layer in backbone.transformer_layers:
            x = layer(x, padding_mask=padding_mask, training=training)
        return x

    def _run_encoder(self, inputs, padding_mask, training):
        """hidden sequence -> (token ids, encoder states)."""
        encoder_training = self._encoder_training(training)
        logits = self.to_vocabulary(inputs)
        if self.token_mode == "argmax":
            token_ids, _ = self._select_tokens(logits, with_embeddings=False)
            states = self._run_frozen(
                lambda ids, mask: _sequence_output(
                    self.backbone(
                        self._encoder_inputs(ids, mask), training=encoder_training
                    )
                ),
                (token_ids, padding_mask),
                "token_ids",
            )
            return token_ids, states
        token_ids, embeddings = self._select_tokens(logits, with_embeddings=True)
        states = self._run_frozen(
            lambda x, mask: self._encode_embeddings(x, mask, encoder_training),
            (embeddings, padding_mask),
            "embeddings",
        )
        return token_ids, states

    def _run_frozen(self, function, tensors, mode):
        """`function(*tensors)`, a pass through the frozen backbone: one
        exported torch graph per signature when `dreamkeras.torch_export`
        applies."""
        if self.trainable_encoder:
            return function(*tensors)
        return torch_export.run(self.backbone, function, tensors, mode)

    def _project(self, states, padding_mask):
        x = self.from_encoder_norm(self.from_encoder(states))
        return x * _mask_like(padding_mask, x)

    def _default_padding_mask(self, inputs, padding_mask):
        if padding_mask is None:
            return ops.ones(ops.shape(inputs)[:2], "int32")
        return padding_mask

    def _features_spec(self, input_shape):
        out_dim = self.output_dim or input_shape[-1]
        return keras.KerasTensor(
            tuple(input_shape[:2]) + (out_dim,), dtype=self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "token_mode": self.token_mode,
                "output_dim": self.output_dim,
                "trainable_encoder": self.trainable_encoder,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextSleepConnection(FrozenModelHolder, TextFrozenModelConnection):
    """Sleep connection of text SleepNet around a frozen text encoder.

    `(batch, seq, dim)` hidden sequence -> trainable Dense to vocabulary
    logits -> tokens (softmax + argmax, paper Fig. 3) -> the frozen encoder
    (with the chain's padding mask) -> its hidden states -> trainable
    Dense + LayerNorm back to `output_dim`, zero at padded positions. The
    chain adds the result: `h_m = g_m(h_{m-1}) + TextSleepConnection(h_{m-1})`.

    The text sibling of `SleepConnection` (see the module docstring for the
    naming and for `token_mode`). The encoder is frozen by default (robustly,
    with `dreamkeras.utils.set_trainable`) and runs in inference mode; the
    same backbone may be shared by several connections.

    Args:
        backbone: a KerasHub text backbone, by default a
            `keras_hub.models.RobertaBackbone`, or a
            `dreamkeras.models.XLNetBackbone`; any with a `token_embedding`
            and `{"token_ids", "padding_mask"}` inputs works with
            `token_mode="argmax"`.
        token_mode: `"straight_through"` (default; argmax forward, softmax
            gradient backward, embeddings fed to the encoder's layers) or
            `"argmax"` (the paper's form; the vocabulary projection does not
            train).
        output_dim: optional int. Features of the output; defaults to the
            input's.
        trainable_encoder: bool. Unfreezes the encoder. Defaults to `False`.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, seq, dim)` float tensor.
        padding_mask: optional `(batch, seq)` tensor, nonzero for real tokens.
        training: bool.

    Example:

    ```python
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=300, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    )
    connection = dreamkeras.layers.TextSleepConnection(backbone)
    hidden = np.random.rand(2, 10, 8).astype("float32")
    connection(hidden, padding_mask=np.ones((2, 10), "int32")).shape  # (2, 10, 8)
    ```
    """

    frozen_model_key = "backbone"

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.spec = describe_text_encoder(backbone)
        self.backbone = backbone
        self._check_backbone()
        self.hold_frozen_model(backbone)

    def call(self, inputs, padding_mask=None, training=None):
        padding_mask = self._default_padding_mask(inputs, padding_mask)
        _, states = self._run_encoder(inputs, padding_mask, training)
        return self._project(states, padding_mask)

    def compute_output_spec(self, inputs, padding_mask=None, training=None):
        return self._features_spec(inputs.shape)



@keras.saving.register_keras_serializable(package="dreamkeras")
class TextDreamConnection(FrozenModelHolder, TextFrozenModelConnection):
    """Dream connection of text DreamNet: frozen encoder + masked-LM head.

    Like `TextSleepConnection`, the hidden sequence becomes tokens for the
    frozen encoder; then the masked LM's head (KerasHub's `MaskedLMHead`, its
    output projection tied to the encoder's token embedding) predicts every
    position, reconstructing the sequence: the "dream" (paper eq. 2, Fig. 5,
    Table 1). The dream's tokens are embedded with the encoder's token
    embedding (straight-through in that mode, so the dream path carries a
    gradient back to the chain) and projected (Dense + LayerNorm) into the
    features added to the chain.

    The text sibling of `DreamConnection`.

    Args:
        masked_lm: a KerasHub masked LM task, by default a
            `keras_hub.models.RobertaMaskedLM` or a
            `dreamkeras.models.XLNetMaskedLM` (anything with `.backbone` and
            `.masked_lm_head`), e.g. `RobertaMaskedLM.from_preset(...)`: its
            head's weights matter, so load them with the task, not the
            backbone alone.
        token_mode: `"straight_through"` (default) or `"argmax"`.
        output_dim: optional int. Features of the output; defaults to the
            input's.
        trainable_encoder: bool. Unfreezes the masked LM. Defaults to `False`.
        **kwargs: passed to `keras.layers.Layer`.

    Returns:
        `(features, dream)`: `features` `(batch, seq, output_dim)` to add to
        the chain, and `dream`, a dict with `"token_ids"` `(batch, seq)` int32
        (the reconstruction, decode it with the tokenizer) and `"embeddings"`
        `(batch, seq, encoder_dim)` (the reconstruction embedded, for
        DreamNet's parallel block). Padded positions of `features` and
        `embeddings` are zero.

    Example:

    ```python
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=300, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    )
    masked_lm = keras_hub.models.RobertaMaskedLM(backbone)
    connection = dreamkeras.layers.TextDreamConnection(masked_lm)
    features, dream = connection(np.random.rand(2, 10, 8).astype("float32"))
    # features: (2, 10, 8); dream["token_ids"]: (2, 10)
    ```
    """

    frozen_model_key = "masked_lm"

    def __init__(self, masked_lm, **kwargs):
        super().__init__(**kwargs)
        backbone = getattr(masked_lm, "backbone", None)
        head = getattr(masked_lm, "masked_lm_head", None)
        if backbone is None or head is None:
            raise ValueError(
                "`masked_lm` must be a KerasHub masked LM task with `.backbone` "
                "and `.masked_lm_head`, e.g. `keras_hub.models.RobertaMaskedLM`. "
                "For an encoder alone use `TextSleepConnection`. "
                f"Received: masked_lm={masked_lm!r}."
            )
        self.spec = describe_text_encoder(backbone)
        self.masked_lm = masked_lm
        self.backbone = backbone
        self.masked_lm_head = head
        policy = head.dtype_policy
        if type(head).__name__ == "MaskedLMHead" and (
            policy.compute_dtype != policy.variable_dtype
        ):
            # KerasHub's MaskedLMHead adds its float32 bias to logits cast to
            # the compute dtype without autocasting it, which TensorFlow
            # refuses for float16: its last step runs in float32 (the vocabulary
            # logits are better there anyway).
            head.dtype_policy = "float32"
        self._check_backbone()
        self.hold_frozen_model(masked_lm)

    @property
    def metrics(self):
        # A KerasHub task compiles itself on creation; its (unbuilt) compile
        # metrics must not become the metrics of a model that holds this.
        return list(self._metrics)

    def call(self, inputs, padding_mask=None, training=None):
        padding_mask = self._default_padding_mask(inputs, padding_mask)
        _, states = self._run_encoder(inputs, padding_mask, training)
        batch, length = ops.shape(states)[0], ops.shape(states)[1]
        positions = ops.broadcast_to(
            ops.expand_dims(ops.arange(length, dtype="int32"), 0), (batch, length)
        )
        logits = self.masked_lm_head(states, mask_positions=positions)
        dream_ids, dream_embeddings = self._select_tokens(
            logits, with_embeddings=self.token_mode == "straight_through"
        )
        if dream_embeddings is None:
            dream_embeddings = self.backbone.token_embedding(dream_ids)
        dream_embeddings = dream_embeddings * _mask_like(padding_mask, dream_embeddings)
        pad_id = ops.zeros_like(dream_ids)
        dream_ids = ops.where(ops.cast(padding_mask, "bool"), dream_ids, pad_id)
        features = self._project(dream_embeddings, padding_mask)
        return features, {"token_ids": dream_ids, "embeddings": dream_embeddings}

    def compute_output_spec(self, inputs, padding_mask=None, training=None):
        shape = tuple(inputs.shape)
        dream = {
            "token_ids": keras.KerasTensor(shape[:2], dtype="int32"),
            "embeddings": keras.KerasTensor(
                shape[:2] + (self.spec.hidden_dim,), dtype=self.compute_dtype
            ),
        }
        return self._features_spec(shape), dream

