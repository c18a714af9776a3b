"""Text SleepNet, DreamNet and the LSTM / TextCNN baselines as Keras models.

All take KerasHub-style inputs `{"token_ids", "padding_mask"}` (the output of
a KerasHub text preprocessor, e.g. `RobertaTextClassifierPreprocessor`) and
end in a float32 softmax. Padded positions never influence the prediction.
"""

import copy

import keras
from keras import ops

from dreamkeras.layers.text_connections import LSTMBlock
from dreamkeras.layers.text_connections import TextDreamConnection
from dreamkeras.layers.text_connections import TextSleepConnection
from dreamkeras.layers.text_connections import describe_text_encoder
from dreamkeras.models.chain import interleave_connections
from dreamkeras.models.guard import RecoverableModel
from dreamkeras.utils.freezing import set_trainable
from dreamkeras.utils.sharing import serialize_frozen_model

MAX_BLOCKS = 4
EMBEDDINGS = ("encoder", "random")


def _check_positive_int(name, value, minimum=1, maximum=None):
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bound = f"from {minimum} to {maximum}" if maximum else f"at least {minimum}"
        raise ValueError(
            f"`{name}` must be an integer {bound}. Received: {name}={value!r}."
        )


def _text_inputs():
    return {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
    }


def _zero_padded(x, padding_mask):
    return x * ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)


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
    try:
        tokenizer_size = int(tokenizer.vocabulary_size())
    except Exception as error:  # no vocabulary set
        raise ValueError(
            f"Could not read the vocabulary size of tokenizer {tokenizer!r}: "
            f"{error}"
        ) from error
    if tokenizer_size != vocabulary_size:
        raise ValueError(
            f"The tokenizer's vocabulary ({tokenizer_size} tokens, "
            f"{type(tokenizer).__name__}) does not match the backbone's token "
            f"embedding ({vocabulary_size} rows, {type(backbone).__name__}). "
            "Load the tokenizer or preprocessor from the same preset as the "
            "backbone."
        )


class TextChainClassifier(RecoverableModel, keras.Model):
    """Base of the LSTM-chain text classifiers: embedding, chain, head.

    `h_0 = Embedding(token_ids)`; `h_m = g_m(h_{m-1}) [+ connection_m(h_{m-1})]`
    with `g_m` an `LSTMBlock`; optional DreamNet merge; masked mean over the
    sequence; dropout; softmax Dense. Built as a functional model in the
    constructor; `from_config` re-runs the constructor.
    """

    def __init__(
        self,
        vocabulary_size,
        num_classes,
        num_blocks,
        width,
        embedding_dim,
        block_depth,
        dropout,
        head_dtype,
        make_connection=None,
        merge_dreams=False,
        trainable_embedding=True,
        max_blocks=MAX_BLOCKS,
        dtype=None,
        **kwargs,
    ):
        _check_positive_int("vocabulary_size", vocabulary_size)
        _check_positive_int("num_classes", num_classes, minimum=2)
        _check_positive_int("num_blocks", num_blocks, maximum=max_blocks)
        _check_positive_int("width", width)
        _check_positive_int("embedding_dim", embedding_dim)
        _check_positive_int("block_depth", block_depth)
        policy = keras.dtype_policies.get(dtype) if dtype else None

        # === Functional Model ===
        inputs = _text_inputs()
        padding_mask = inputs["padding_mask"]
        embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            trainable=trainable_embedding,
            dtype=policy,
            name="token_embedding",
        )
        x = _zero_padded(embedding(inputs["token_ids"]), padding_mask)
        blocks = [
            LSTMBlock(width, block_depth, dtype=policy, name=f"block_{m + 1}")
            for m in range(num_blocks)
        ]

        def with_mask(layer):
            return lambda h: layer(h, padding_mask=padding_mask)

        def make(index, shape):
            connection = make_connection(index, shape) if make_connection else None
            return None if connection is None else with_mask(connection)

        x, dreams = interleave_connections(
            x, [with_mask(block) for block in blocks], make
        )
        if merge_dreams:
            embedded = [dream["embeddings"] for dream in dreams]
            y = (
                embedded[0]
                if len(embedded) == 1
                else keras.layers.Concatenate(dtype=policy, name="dreams")(embedded)
            )
            y = LSTMBlock(width, block_depth, dtype=policy, name="dream_block")(
                y, padding_mask=padding_mask
            )
            x = keras.layers.Add(name="merge_dreams")([x, y])
        x = keras.layers.GlobalAveragePooling1D(dtype=policy, name="pool")(
            x, mask=padding_mask
        )
        if dropout:
            x = keras.layers.Dropout(dropout, dtype=policy, name="dropout")(x)
        outputs = keras.layers.Dense(
            num_classes, activation="softmax", dtype=head_dtype, name="predictions"
        )(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.num_blocks = num_blocks
        self.width = width
        self.embedding_dim = embedding_dim
        self.block_depth = block_depth
        self.dropout = dropout
        self.head_dtype = head_dtype
        self.trainable_embedding = trainable_embedding
        self._dream_token_ids = [dream["token_ids"] for dream in dreams]

    def get_config(self):
        # Don't chain to the functional config: the constructor rebuilds it.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "num_classes": self.num_classes,
            "num_blocks": self.num_blocks,
            "width": self.width,
            "block_depth": self.block_depth,
            "dropout": self.dropout,
            "head_dtype": self.head_dtype,
            "trainable_embedding": self.trainable_embedding,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="dreamkeras")
class LSTMClassifier(TextChainClassifier):
    """The LSTM baseline (paper Table 4, "LSTM-2/3/4").

    Embedding, `num_layers` `LSTMBlock`s (LSTM + LayerNorm) that skip padded
    positions, masked mean pooling and a softmax head: `TextSleepNet`'s network
    without connections (with `embedding="random"` and the same sizes), so that
    comparisons isolate the connections.

    Args:
        vocabulary_size: int. Size of the tokenizer's vocabulary.
        num_classes: int. Number of classes, at least 2.
        num_layers: int. Number of LSTM blocks.
        width: int. Units of every LSTM.
        embedding_dim: int. Width of the token embedding.
        block_depth: int. LSTMs per block.
        dropout: float. Dropout before the head.
        head_dtype: dtype of the head. Defaults to `"float32"`.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    model = dreamkeras.models.LSTMClassifier(
        vocabulary_size=50265, num_classes=4, num_layers=3
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_classes,
        num_layers=2,
        width=128,
        embedding_dim=128,
        block_depth=1,
        dropout=0.0,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        _check_positive_int("num_layers", num_layers)
        super().__init__(
            vocabulary_size, num_classes, num_layers, width, embedding_dim,
            block_depth, dropout, head_dtype, max_blocks=None, dtype=dtype,
            **kwargs,
        )
        self.num_layers = num_layers

    def get_config(self):
        config = super().get_config()
        del config["num_blocks"], config["trainable_embedding"]
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "embedding_dim": self.embedding_dim,
            }
        )
        return config


class _EncoderChainClassifier(TextChainClassifier):
    """Shared constructor logic of TextSleepNet and TextDreamNet."""

    def __init__(
        self,
        backbone,
        num_classes,
        num_blocks,
        width,
        embedding,
        embedding_dim,
        block_depth,
        trainable_embedding,
        dropout,
        tokenizer,
        head_dtype,
        make_connection,
        merge_dreams,
        dtype,
        **kwargs,
    ):
        spec = describe_text_encoder(backbone)
        check_tokenizer(tokenizer, backbone)
        if embedding not in EMBEDDINGS:
            raise ValueError(
                f"`embedding` must be one of {EMBEDDINGS}. "
                f"Received: embedding={embedding!r}."
            )
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
            spec.vocabulary_size, num_classes, num_blocks, width, embedding_dim,
            block_depth, dropout, head_dtype, make_connection=make_connection,
            merge_dreams=merge_dreams, trainable_embedding=trainable_embedding,
            dtype=dtype, **kwargs,
        )
        if embedding == "encoder":
            table = ops.convert_to_numpy(backbone.token_embedding.embeddings)
            self.get_layer("token_embedding").embeddings.assign(table)
        self.embedding = embedding
        self._embedding_dim_arg = None if embedding == "encoder" else embedding_dim

    def get_config(self):
        config = super().get_config()
        config.update(
            {"embedding": self.embedding, "embedding_dim": self._embedding_dim_arg}
        )
        return config


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextSleepNet(_EncoderChainClassifier):
    """Text SleepNet: an LSTM chain enriched by a frozen text encoder.

    `h_m = g_m(h_{m-1}) + TextSleepConnection_m(h_{m-1})` for M LSTM blocks
    (paper eq. 1, Fig. 3): each connection turns the hidden sequence into
    tokens, runs the frozen encoder (RoBERTa by default) on them with the
    input's padding mask and projects its states back. Then masked mean
    pooling and a softmax head. One backbone is shared by all connections:
    the model holds (and a `.keras` file stores) its weights once, and it
    stays frozen after `keras.saving.load_model` unless
    `trainable_encoder=True`.

    Args:
        backbone: a KerasHub text backbone, e.g.
            `keras_hub.models.RobertaBackbone.from_preset("roberta_base_en")`.
        num_classes: int. Number of classes, at least 2.
        num_blocks: int. M, the number of sleep blocks, 1 to 4.
        width: int. Units of the chain's LSTMs.
        embedding: `"encoder"` (default; the chain's embedding starts as a
            copy of the encoder's token embeddings, width `hidden_dim`) or
            `"random"` (randomly initialised, width `embedding_dim`).
        embedding_dim: optional int. Width of a `"random"` embedding;
            defaults to `width`.
        block_depth: int. LSTMs per chain block (the paper's ablation uses 2).
        token_mode: `"straight_through"` (default) or `"argmax"` (the paper's
            form, whose vocabulary projections cannot train); see
            `dreamkeras.layers.TextSleepConnection`.
        trainable_encoder: bool. Unfreezes the encoder.
        trainable_embedding: bool. Whether the chain's embedding trains.
        dropout: float. Dropout before the head.
        tokenizer: optional KerasHub tokenizer, checked against the backbone's
            vocabulary at build time (not stored).
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
    ```
    """

    def __init__(
        self,
        backbone,
        num_classes,
        num_blocks=3,
        width=128,
        embedding="encoder",
        embedding_dim=None,
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
        set_trainable(backbone, trainable_encoder)

        def make_connection(index, shape):
            return TextSleepConnection(
                backbone,
                token_mode=token_mode,
                output_dim=shape[-1],
                trainable_encoder=trainable_encoder,
                dtype=dtype,
                name=f"sleep_connection_{index + 1}",
            )

        super().__init__(
            backbone, num_classes, num_blocks, width, embedding, embedding_dim,
            block_depth, trainable_embedding, dropout, tokenizer, head_dtype,
            make_connection, False, dtype, **kwargs,
        )
        self.backbone = backbone
        self.token_mode = token_mode
        self.trainable_encoder = trainable_encoder

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.layers.serialize(self.backbone),
                "token_mode": self.token_mode,
                "trainable_encoder": self.trainable_encoder,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(copy.deepcopy(config["backbone"]))
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextDreamNet(_EncoderChainClassifier):
    """Text DreamNet: an LSTM chain with masked-LM reconstruction connections.

    `h_m = g_m(h_{m-1}) + TextDreamConnection_m(h_{m-1})` for M LSTM blocks
    (paper eq. 2, Fig. 5). Each connection runs the frozen encoder and its
    masked-LM head on tokens made from the hidden sequence, reconstructing a
    token sequence (a "dream"). The M embedded dreams are concatenated and go
    through a parallel `LSTMBlock` whose output is added to the chain's before
    pooling and the softmax head. One masked LM is shared by all connections
    and stored once. `dream_model()` gives the dreams' token ids; decode them
    with `dreamkeras.text.decode_dreams`.

    Args:
        masked_lm: a KerasHub masked LM, e.g.
            `keras_hub.models.RobertaMaskedLM.from_preset("roberta_base_en")`
            (with its pretrained head; `.backbone` is the encoder).
        num_classes: int. Number of classes, at least 2.
        num_blocks: int. M, the number of dream blocks, 1 to 4.
        width: int. Units of the chain's LSTMs.
        embedding: `"encoder"` (default) or `"random"`; see `TextSleepNet`.
        embedding_dim: optional int. Width of a `"random"` embedding.
        block_depth: int. LSTMs per chain block.
        token_mode: `"straight_through"` (default) or `"argmax"`.
        trainable_encoder: bool. Unfreezes the masked LM.
        trainable_embedding: bool. Whether the chain's embedding trains.
        dropout: float. Dropout before the head.
        tokenizer: optional KerasHub tokenizer, checked at build time.
        head_dtype: dtype of the head. Defaults to `"float32"`.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    masked_lm = keras_hub.models.RobertaMaskedLM.from_preset("roberta_base_en")
    model = dreamkeras.models.TextDreamNet(masked_lm, num_classes=4, num_blocks=3)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ```
    """

    def __init__(
        self,
        masked_lm,
        num_classes,
        num_blocks=3,
        width=128,
        embedding="encoder",
        embedding_dim=None,
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
        set_trainable(masked_lm, trainable_encoder)

        def make_connection(index, shape):
            return TextDreamConnection(
                masked_lm,
                token_mode=token_mode,
                output_dim=shape[-1],
                trainable_encoder=trainable_encoder,
                dtype=dtype,
                name=f"dream_connection_{index + 1}",
            )

        super().__init__(
            backbone, num_classes, num_blocks, width, embedding, embedding_dim,
            block_depth, trainable_embedding, dropout, tokenizer, head_dtype,
            make_connection, True, dtype, **kwargs,
        )
        self.masked_lm = masked_lm
        self.token_mode = token_mode
        self.trainable_encoder = trainable_encoder

    def dream_model(self):
        """A model from the inputs to the M dreams' token ids.

        Returns:
            `keras.Model` mapping `{"token_ids", "padding_mask"}` to a list of
            M `(batch, seq)` int32 tensors (0 at padded positions), sharing
            this model's layers. (With M = 1, Keras' `predict` returns the
            single array rather than a list.)
        """
        return keras.Model(
            inputs=self.input, outputs=list(self._dream_token_ids), name="dreams"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "masked_lm": serialize_frozen_model(self.masked_lm),
                "token_mode": self.token_mode,
                "trainable_encoder": self.trainable_encoder,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["masked_lm"] = keras.layers.deserialize(copy.deepcopy(config["masked_lm"]))
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextCNNClassifier(RecoverableModel, keras.Model):
    """The TextCNN / WordCNN baseline (Kim 2014; paper Table 4, "WordCNN").

    Embedding, parallel 1D convolutions of several widths (ReLU),
    max-over-time pooling over the real tokens, concatenation, dropout and a
    softmax head. Padded positions are zeroed before the convolutions and
    excluded from the pooling, so they never change the prediction.

    Args:
        vocabulary_size: int. Size of the tokenizer's vocabulary.
        num_classes: int. Number of classes, at least 2.
        embedding_dim: int. Width of the token embedding.
        filter_sizes: tuple of int. Convolution widths (n-gram sizes).
        num_filters: int. Filters per width.
        dropout: float. Dropout before the head.
        head_dtype: dtype of the head. Defaults to `"float32"`.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    model = dreamkeras.models.TextCNNClassifier(vocabulary_size=50265, num_classes=4)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_classes,
        embedding_dim=128,
        filter_sizes=(3, 4, 5),
        num_filters=100,
        dropout=0.5,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        _check_positive_int("vocabulary_size", vocabulary_size)
        _check_positive_int("num_classes", num_classes, minimum=2)
        _check_positive_int("embedding_dim", embedding_dim)
        _check_positive_int("num_filters", num_filters)
        filter_sizes = tuple(filter_sizes)
        if not filter_sizes:
            raise ValueError("`filter_sizes` must name at least one width.")
        for size in filter_sizes:
            _check_positive_int("filter_sizes[i]", size)
        policy = keras.dtype_policies.get(dtype) if dtype else None

        # === Functional Model ===
        inputs = _text_inputs()
        padding_mask = inputs["padding_mask"]
        x = keras.layers.Embedding(
            vocabulary_size, embedding_dim, dtype=policy, name="token_embedding"
        )(inputs["token_ids"])
        x = _zero_padded(x, padding_mask)
        # Padded positions get a large negative value before the max.
        excluded = (1.0 - ops.cast(ops.expand_dims(padding_mask, -1), "float32")) * 1e4
        pooled = []
        for size in filter_sizes:
            y = keras.layers.Conv1D(
                num_filters, size, padding="same", activation="relu",
                dtype=policy, name=f"conv_{size}",
            )(x)
            y = y - ops.cast(excluded, y.dtype)
            pooled.append(
                keras.layers.GlobalMaxPooling1D(dtype=policy, name=f"pool_{size}")(y)
            )
        x = (
            pooled[0]
            if len(pooled) == 1
            else keras.layers.Concatenate(dtype=policy, name="concat")(pooled)
        )
        if dropout:
            x = keras.layers.Dropout(dropout, dtype=policy, name="dropout")(x)
        outputs = keras.layers.Dense(
            num_classes, activation="softmax", dtype=head_dtype, name="predictions"
        )(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.filter_sizes = filter_sizes
        self.num_filters = num_filters
        self.dropout = dropout
        self.head_dtype = head_dtype

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "filter_sizes": self.filter_sizes,
            "num_filters": self.num_filters,
            "dropout": self.dropout,
            "head_dtype": self.head_dtype,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
