"""Text SleepNet and DreamNet: a text chain enriched by a frozen text encoder.

Both take KerasHub-style inputs `{"token_ids", "padding_mask"}` (the output of
a KerasHub text preprocessor, e.g. `RobertaTextClassifierPreprocessor`, or of
`dreamkeras.layers.CharacterEncoder` for a character-level chain) and end in
a float32 softmax. Padded positions never influence the prediction. The
chains are in `text_chains.py`, the baselines in `text_baselines.py`
(importable from here too, as before).
"""

import copy

import keras
from keras import ops

from dreamkeras.layers.text_connections import TextDreamConnection
from dreamkeras.layers.text_connections import TextSleepConnection
from dreamkeras.layers.text_encoder_spec import describe_text_encoder
from dreamkeras.models.text_baselines import CharCNNClassifier  # noqa: F401
from dreamkeras.models.text_baselines import LSTMClassifier  # noqa: F401
from dreamkeras.models.text_baselines import TextCNNClassifier  # noqa: F401
from dreamkeras.models.text_chains import MAX_BLOCKS  # noqa: F401
from dreamkeras.models.text_chains import TextChainClassifier
from dreamkeras.models.text_chains import check_positive_int
from dreamkeras.utils.freezing import set_trainable
from dreamkeras.utils.sharing import serialize_frozen_model

EMBEDDINGS = ("encoder", "random")


def _tokenizer_size(tokenizer):
    try:
        size = tokenizer.vocabulary_size
        return int(size() if callable(size) else size)
    except Exception as error:  # no vocabulary set
        raise ValueError(
            f"Could not read the vocabulary size of tokenizer {tokenizer!r}: "
            f"{error}"
        ) from error


def check_tokenizer(tokenizer, backbone):
    """Raises a clear `ValueError` if a tokenizer does not fit a backbone.

    The networks feed the tokenizer's ids to the backbone's token embedding
    (and the connections produce ids in the backbone's vocabulary), so the
    two vocabularies must have the same size.

    Args:
        tokenizer: a KerasHub tokenizer (e.g. `RobertaTokenizer`).
        backbone: a KerasHub text backbone.

    Example:

    ```python
    dreamkeras.models.check_tokenizer(tokenizer, backbone)
    ```
    """
    if tokenizer is None:
        return
    vocabulary_size = describe_text_encoder(backbone).vocabulary_size
    tokenizer_size = _tokenizer_size(tokenizer)
    if tokenizer_size != vocabulary_size:
        raise ValueError(
            f"The tokenizer's vocabulary ({tokenizer_size} tokens, "
            f"{type(tokenizer).__name__}) does not match the backbone's token "
            f"embedding ({vocabulary_size} rows, {type(backbone).__name__}). "
            "Load the tokenizer or preprocessor from the same preset as the "
            "backbone."
        )


class _EncoderChainClassifier(TextChainClassifier):
    """Shared constructor and config of TextSleepNet and TextDreamNet.

    Subclasses set `connection_class` (called with the frozen `encoder`, the
    backbone or the masked LM), `connection_prefix` (names
    `{prefix}_connection_{m}`), `merge_dreams` and `encoder_key` (the
    config key, and attribute, of `encoder`) and `serialize_encoder`.
    """

    connection_class = None
    connection_prefix = None
    merge_dreams = False
    encoder_key = None
    serialize_encoder = staticmethod(serialize_frozen_model)

    def __init__(
        self,
        encoder,
        backbone,
        num_classes,
        num_blocks,
        chain,
        width,
        embedding,
        embedding_dim,
        vocabulary_size,
        block_depth,
        token_mode,
        trainable_encoder,
        trainable_embedding,
        dropout,
        tokenizer,
        head_dtype,
        dtype,
        **kwargs,
    ):
        set_trainable(encoder, trainable_encoder)

        def make_connection(index, shape):
            return self.connection_class(
                encoder,
                token_mode=token_mode,
                output_dim=shape[-1],
                trainable_encoder=trainable_encoder,
                dtype=dtype,
                name=f"{self.connection_prefix}_connection_{index + 1}",
            )

        spec = describe_text_encoder(backbone)
        if embedding not in EMBEDDINGS:
            raise ValueError(
                f"`embedding` must be one of {EMBEDDINGS}. "
                f"Received: embedding={embedding!r}."
            )
        if vocabulary_size is None:
            check_tokenizer(tokenizer, backbone)
            chain_vocabulary_size = spec.vocabulary_size
        else:
            check_positive_int("vocabulary_size", vocabulary_size)
            if embedding == "encoder":
                raise ValueError(
                    f"`embedding='encoder'` copies the encoder's token embeddings, "
                    f"which needs the encoder's token ids as inputs; with inputs "
                    f"of their own (vocabulary_size={vocabulary_size}) use "
                    f"`embedding='random'`."
                )
            if tokenizer is not None and _tokenizer_size(tokenizer) != vocabulary_size:
                raise ValueError(
                    f"The tokenizer's vocabulary ({_tokenizer_size(tokenizer)} ids, "
                    f"{type(tokenizer).__name__}) does not match "
                    f"vocabulary_size={vocabulary_size}."
                )
            chain_vocabulary_size = vocabulary_size
        if embedding == "encoder":
            if embedding_dim not in (None, spec.hidden_dim):
                raise ValueError(
                    f"`embedding='encoder'` copies the encoder's token embeddings, "
                    f"of width {spec.hidden_dim}; `embedding_dim` must be None or "
                    f"{spec.hidden_dim}. Received: embedding_dim={embedding_dim}. "
                    "Use `embedding='random'` for another width."
                )
            embedding_dim = spec.hidden_dim
        elif embedding_dim is None:
            embedding_dim = width
        super().__init__(
            chain_vocabulary_size, num_classes, num_blocks, width, embedding_dim,
            block_depth, dropout, head_dtype, make_connection=make_connection,
            merge_dreams=self.merge_dreams, trainable_embedding=trainable_embedding,
            chain=chain, dtype=dtype, **kwargs,
        )
        if embedding == "encoder":
            table = ops.convert_to_numpy(backbone.token_embedding.embeddings)
            self.get_layer("token_embedding").embeddings.assign(table)
        setattr(self, self.encoder_key, encoder)
        self.embedding = embedding
        self._embedding_dim_arg = None if embedding == "encoder" else embedding_dim
        self._vocabulary_size_arg = vocabulary_size
        self.token_mode = token_mode
        self.trainable_encoder = trainable_encoder

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "chain": self.chain,
                "embedding": self.embedding,
                "embedding_dim": self._embedding_dim_arg,
                "vocabulary_size": self._vocabulary_size_arg,
                self.encoder_key: self.serialize_encoder(
                    getattr(self, self.encoder_key)
                ),
                "token_mode": self.token_mode,
                "trainable_encoder": self.trainable_encoder,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config[cls.encoder_key] = keras.layers.deserialize(
            copy.deepcopy(config[cls.encoder_key])
        )
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextSleepNet(_EncoderChainClassifier):
    """Text SleepNet: a text chain enriched by a frozen text encoder.

    `h_m = g_m(h_{m-1}) + TextSleepConnection_m(h_{m-1})` for M chain stages
    (paper eq. 1, Fig. 3): each connection turns the hidden sequence into
    tokens, runs the frozen encoder (RoBERTa by default) on them with the
    input's padding mask and projects its states back. Then pooling over the
    sequence and a softmax head. The chain is LSTM blocks by default, or a
    TextCNN or CharCNN (`chain`). One backbone is shared by all connections:
    the model holds (and a `.keras` file stores) its weights once, and it
    stays frozen after `keras.saving.load_model` unless
    `trainable_encoder=True`.

    Args:
        backbone: a KerasHub text backbone, e.g.
            `keras_hub.models.RobertaBackbone.from_preset("roberta_base_en")`.
        num_classes: int. Number of classes, at least 2.
        num_blocks: int. M, the number of sleep blocks, 1 to 4 (1 to 3 for
            `chain="charcnn"`).
        chain: `"lstm"` (default), `"textcnn"` or `"charcnn"`: the chain
            `g_1 .. g_M` (the paper's chain ablation, §4.6.3). `"lstm"`:
            `LSTMBlock`s, masked mean pooling. `"textcnn"`: stages of Kim's
            parallel convolutions of widths 3, 4, 5 (`TextCNNBlock`, `3 *
            width` features), max-over-time pooling; one stage is Kim's
            TextCNN. `"charcnn"`: Zhang et al.'s six convolutions, the first
            (with its pooling) as stem, then up to 3 stages
            (`CharCNNBlock`s; inputs of at least 9 positions, 27 for 3
            stages), max-over-time pooling. See
            `dreamkeras.models.text_chains`.
        width: int. Units of the chain's LSTMs, filters per width of a
            TextCNN stage, or features of the CharCNN's convolutions.
        embedding: `"encoder"` (default; the chain's embedding starts as a
            copy of the encoder's token embeddings, width `hidden_dim`) or
            `"random"` (randomly initialised, width `embedding_dim`).
        embedding_dim: optional int. Width of a `"random"` embedding;
            defaults to `width`.
        vocabulary_size: optional int. `None` (default): the chain reads the
            encoder tokenizer's ids. An int: the chain reads ids of a
            vocabulary of its own, e.g. characters from
            `dreamkeras.layers.CharacterEncoder` (`vocabulary_size=
            encoder.vocabulary_size`), with `embedding="random"`; the
            frozen encoder still receives its own token ids, chosen by the
            connections.
        block_depth: int. LSTMs per chain block (the paper's ablation uses
            2); `chain="lstm"` only.
        token_mode: `"straight_through"` (default) or `"argmax"` (the paper's
            form, whose vocabulary projections cannot train); see
            `dreamkeras.layers.TextSleepConnection`.
        trainable_encoder: bool. Unfreezes the encoder.
        trainable_embedding: bool. Whether the chain's embedding trains.
        dropout: float. Dropout before the head.
        tokenizer: optional tokenizer, checked against the backbone's
            vocabulary (or `vocabulary_size`) at build time (not stored).
        head_dtype: dtype of the head. Defaults to `"float32"`.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    backbone = keras_hub.models.RobertaBackbone.from_preset("roberta_base_en")
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor.from_preset(
        "roberta_base_en", sequence_length=128
    )
    model = dreamkeras.models.TextSleepNet(
        backbone, num_classes=4, num_blocks=3, tokenizer=preprocessor.tokenizer
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_ds.map(preprocessor), epochs=3)
    # The paper's character-level CNN chain:
    characters = dreamkeras.layers.CharacterEncoder(sequence_length=1014)
    charcnn = dreamkeras.models.TextSleepNet(
        backbone, num_classes=4, chain="charcnn", width=256,
        vocabulary_size=characters.vocabulary_size, embedding="random",
    )
    charcnn.fit(train_ds.map(lambda text, label: (characters(text), label)))
    ```
    """

    connection_class = TextSleepConnection
    connection_prefix = "sleep"
    encoder_key = "backbone"
    serialize_encoder = staticmethod(keras.layers.serialize)

    def __init__(
        self,
        backbone,
        num_classes,
        num_blocks=3,
        chain="lstm",
        width=128,
        embedding="encoder",
        embedding_dim=None,
        vocabulary_size=None,
        block_depth=1,
        token_mode="straight_through",
        trainable_encoder=False,
        trainable_embedding=True,
        dropout=0.0,
        tokenizer=None,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        super().__init__(
            backbone, backbone, num_classes, num_blocks, chain, width, embedding,
            embedding_dim, vocabulary_size, block_depth, token_mode,
            trainable_encoder, trainable_embedding, dropout, tokenizer,
            head_dtype, dtype, **kwargs,
        )


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextDreamNet(_EncoderChainClassifier):
    """Text DreamNet: a text chain with masked-LM reconstruction connections.

    `h_m = g_m(h_{m-1}) + TextDreamConnection_m(h_{m-1})` for M chain stages
    (paper eq. 2, Fig. 5). Each connection runs the frozen encoder and its
    masked-LM head on tokens made from the hidden sequence, reconstructing a
    token sequence (a "dream"). The M embedded dreams (pooled to the chain
    output's length for the CharCNN) are concatenated and go through a
    parallel block, one stage of the chain's own kind (`LSTMBlock`,
    `TextCNNBlock` or `CharCNNBlock`), whose output is added to the chain's
    before pooling and the softmax head. One masked LM is shared by all
    connections and stored once. `dream_model()` gives the dreams' token
    ids; decode them with `dreamkeras.dreams.decode_dreams`.

    Args:
        masked_lm: a KerasHub masked LM, e.g.
            `keras_hub.models.RobertaMaskedLM.from_preset("roberta_base_en")`
            (with its pretrained head; `.backbone` is the encoder).
        num_classes: int. Number of classes, at least 2.
        num_blocks: int. M, the number of dream blocks, 1 to 4 (1 to 3 for
            `chain="charcnn"`).
        chain: `"lstm"` (default), `"textcnn"` or `"charcnn"`: the chain
            `g_1 .. g_M`; see `TextSleepNet`.
        width: int. Units, filters or features of the chain; see
            `TextSleepNet`.
        embedding: `"encoder"` (default) or `"random"`; see `TextSleepNet`.
        embedding_dim: optional int. Width of a `"random"` embedding.
        vocabulary_size: optional int. The chain's own input vocabulary
            (e.g. characters); see `TextSleepNet`.
        block_depth: int. LSTMs per chain block; `chain="lstm"` only.
        token_mode: `"straight_through"` (default) or `"argmax"`.
        trainable_encoder: bool. Unfreezes the masked LM.
        trainable_embedding: bool. Whether the chain's embedding trains.
        dropout: float. Dropout before the head.
        tokenizer: optional tokenizer, checked at build time.
        head_dtype: dtype of the head. Defaults to `"float32"`.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    masked_lm = keras_hub.models.RobertaMaskedLM.from_preset("roberta_base_en")
    model = dreamkeras.models.TextDreamNet(
        masked_lm, num_classes=4, num_blocks=3, chain="textcnn", width=100
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ```
    """

    connection_class = TextDreamConnection
    connection_prefix = "dream"
    merge_dreams = True
    encoder_key = "masked_lm"

    def __init__(
        self,
        masked_lm,
        num_classes,
        num_blocks=3,
        chain="lstm",
        width=128,
        embedding="encoder",
        embedding_dim=None,
        vocabulary_size=None,
        block_depth=1,
        token_mode="straight_through",
        trainable_encoder=False,
        trainable_embedding=True,
        dropout=0.0,
        tokenizer=None,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        backbone = getattr(masked_lm, "backbone", None)
        if backbone is None or getattr(masked_lm, "masked_lm_head", None) is None:
            raise ValueError(
                "`masked_lm` must be a KerasHub masked LM task with `.backbone` "
                "and `.masked_lm_head`, e.g. `keras_hub.models.RobertaMaskedLM`. "
                f"Received: masked_lm={masked_lm!r}."
            )
        super().__init__(
            masked_lm, backbone, num_classes, num_blocks, chain, width,
            embedding, embedding_dim, vocabulary_size, block_depth, token_mode,
            trainable_encoder, trainable_embedding, dropout, tokenizer,
            head_dtype, dtype, **kwargs,
        )

    def dream_model(self):
        """A model from the inputs to the M dreams' token ids.

        Returns:
            `keras.Model` mapping `{"token_ids", "padding_mask"}` to a list of
            M `(batch, seq)` int32 tensors (0 at padded positions), sharing
            this model's layers. A dream has the length of the sequence its
            connection read (shorter than the input after a CharCNN's
            poolings). (With M = 1, Keras' `predict` returns the single
            array rather than a list.)
        """
        return keras.Model(
            inputs=self.input, outputs=list(self._dream_token_ids), name="dreams"
        )
