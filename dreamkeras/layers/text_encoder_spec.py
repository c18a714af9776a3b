"""What a text connection needs to know of its frozen KerasHub text encoder."""

import collections

TextEncoderSpec = collections.namedtuple(
    "TextEncoderSpec",
    [
        "vocabulary_size",
        "hidden_dim",
        "max_sequence_length",
        "input_names",
        "embedding_layout",
    ],
)
TextEncoderSpec.__doc__ = """What a text connection needs to know of its encoder.

Fields:
    vocabulary_size: int. Rows of the encoder's token embedding.
    hidden_dim: int. Width of the encoder's token embedding and outputs.
    max_sequence_length: int or None. Longest sequence the encoder accepts.
    input_names: tuple of str. Names of the encoder's inputs.
    embedding_layout: `"token_and_position"` (RoBERTa, XLM-RoBERTa,
        DistilBERT), `"token_position_segment"` (BERT), `"call_with_embeddings"`
        (the backbone takes embeddings through that method, e.g.
        `dreamkeras.models.XLNetBackbone`) or `None` (the encoder can only be
        fed token ids: `token_mode="argmax"` only).
"""

SUPPORTED_INPUTS = ("token_ids", "padding_mask", "segment_ids")


def describe_text_encoder(backbone):
    """Reads the shape facts of a KerasHub text encoder.

    Args:
        backbone: a KerasHub text backbone (e.g.
            `keras_hub.models.RobertaBackbone`) with a `token_embedding` and
            dict inputs `{"token_ids", "padding_mask"}` (and optionally
            `"segment_ids"`, fed zeros).

    Returns:
        A `TextEncoderSpec`.

    Example:

    ```python
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=300, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    )
    dreamkeras.layers.describe_text_encoder(backbone).hidden_dim  # 16
    ```
    """
    token_embedding = getattr(backbone, "token_embedding", None)
    inputs = getattr(backbone, "input", None)
    if token_embedding is None or not isinstance(inputs, dict):
        raise ValueError(
            "A text connection needs a KerasHub text backbone with a "
            "`token_embedding` layer and dict inputs such as "
            "`keras_hub.models.RobertaBackbone`. Received: "
            f"{type(backbone).__name__} ({backbone!r})."
        )
    names = tuple(inputs)
    if "token_ids" not in names or "padding_mask" not in names:
        raise ValueError(
            "The text backbone must take `token_ids` and `padding_mask` inputs. "
            f"Received a {type(backbone).__name__} with inputs {names}."
        )
    unsupported = [name for name in names if name not in SUPPORTED_INPUTS]
    if unsupported:
        raise ValueError(
            f"The text backbone has inputs {unsupported} that a text "
            f"connection cannot fill (supported: {SUPPORTED_INPUTS}). "
            f"Received a {type(backbone).__name__}."
        )
    _check_not_keras_hub_xlnet(backbone)
    layout = None
    has_stack = hasattr(backbone, "transformer_layers") and hasattr(
        backbone, "embeddings_layer_norm"
    )
    if callable(getattr(backbone, "call_with_embeddings", None)):
        layout = "call_with_embeddings"
    elif has_stack and hasattr(
        getattr(backbone, "embeddings", None), "position_embedding"
    ):
        layout = "token_and_position"
    elif (
        has_stack
        and hasattr(backbone, "position_embedding")
        and hasattr(backbone, "segment_embedding")
        and not hasattr(backbone, "embeddings_projection")
    ):
        layout = "token_position_segment"
    return TextEncoderSpec(
        vocabulary_size=int(token_embedding.input_dim),
        hidden_dim=int(token_embedding.output_dim),
        max_sequence_length=getattr(backbone, "max_sequence_length", None),
        input_names=names,
        embedding_layout=layout,
    )


def _check_not_keras_hub_xlnet(backbone):
    """KerasHub 0.32's own XLNetBackbone mixes the rows of a batch: refused."""
    import keras_hub

    if isinstance(backbone, keras_hub.models.XLNetBackbone) and not callable(
        getattr(backbone, "call_with_embeddings", None)
    ):
        raise ValueError(
            "KerasHub 0.32's XLNetBackbone mixes the rows of a batch (its "
            "position encoding and attention mask are reshaped, not "
            "transposed), so its outputs are wrong for batches of more than "
            "one sequence. Use `dreamkeras.models.XLNetBackbone` (same "
            "arguments and weights): "
            "`dreamkeras.models.XLNetBackbone.from_backbone(backbone)`."
        )
