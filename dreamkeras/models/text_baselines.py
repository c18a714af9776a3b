"""The text baselines: LSTM (paper Table 4), TextCNN (Kim 2014), CharCNN.

`LSTMClassifier` is `TextSleepNet`'s LSTM chain without connections.
`TextCNNClassifier` and `CharCNNClassifier` are the published networks, the
"original classifiers" of the paper's chain ablation (§4.6.3, Fig. 7).
"""

import keras
from keras import ops

from dreamkeras.layers.character_encoder import ZHANG_ALPHABET
from dreamkeras.models.rebuilt import RebuiltModel
from dreamkeras.models.rebuilt import softmax_head
from dreamkeras.models.text_chains import TextChainClassifier
from dreamkeras.models.text_chains import check_positive_int
from dreamkeras.models.text_chains import text_inputs


def _zero_padded(x, padding_mask):
    return x * ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)


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
        check_positive_int("num_layers", num_layers)
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


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextCNNClassifier(RebuiltModel, keras.Model):
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
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("num_classes", num_classes, minimum=2)
        check_positive_int("embedding_dim", embedding_dim)
        check_positive_int("num_filters", num_filters)
        filter_sizes = tuple(filter_sizes)
        if not filter_sizes:
            raise ValueError("`filter_sizes` must name at least one width.")
        for size in filter_sizes:
            check_positive_int("filter_sizes[i]", size)
        policy = keras.dtype_policies.get(dtype) if dtype else None

        # === Functional Model ===
        inputs = text_inputs()
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
        outputs = softmax_head(x, num_classes, dropout, head_dtype, policy)
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
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_classes": self.num_classes,
                "embedding_dim": self.embedding_dim,
                "filter_sizes": self.filter_sizes,
                "num_filters": self.num_filters,
                "dropout": self.dropout,
                "head_dtype": self.head_dtype,
            }
        )
        return config



# Zhang et al.'s sizes: (convolution features, dense units, initial std).
CHARCNN_SIZES = {"small": (256, 1024, 0.05), "large": (1024, 2048, 0.02)}
# Their six convolutions as (kernel size, max-pool size after it).
CHARCNN_LAYERS = ((7, 3), (7, 3), (3, None), (3, None), (3, None), (3, 3))
CHARCNN_PADDINGS = ("valid", "same")
# Character ids below this are padding (0) and unknown characters (1):
# all-zero one-hot vectors, as in the paper.
FIRST_CHARACTER_ID = 2


def charcnn_output_length(sequence_length, padding="valid"):
    """Positions left after the CharCNN's convolutions and poolings."""
    length = sequence_length
    for kernel, pool in CHARCNN_LAYERS:
        if padding == "valid":
            length -= kernel - 1
        if pool:
            length //= pool
    return length


@keras.saving.register_keras_serializable(package="dreamkeras")
class CharCNNClassifier(RebuiltModel, keras.Model):
    """The character-level CNN of Zhang, Zhao & LeCun (2015), "small" or "large".

    Characters (one-hot by default) go through six `Conv1D` layers (ReLU;
    kernels 7, 7, 3, 3, 3, 3; non-overlapping max pooling by 3 after the
    1st, 2nd and 6th), are flattened and go through two dense layers (ReLU,
    dropout 0.5 after each) and a softmax layer. "small": 256 features and
    1024 dense units, weights initialised from N(0, 0.05); "large": 1024 and
    2048, N(0, 0.02). At the paper's 1014 characters the convolutions leave
    34 positions.

    Inputs are `{"token_ids", "padding_mask"}` of fixed length
    `sequence_length`, as `dreamkeras.layers.CharacterEncoder` makes them:
    id 0 is padding, 1 an unknown character, `2 + i` the alphabet's `i`-th
    character. In the paper's quantization padding and unknown characters
    are all-zero vectors; so they are here.

    Args:
        num_classes: int. Number of classes, at least 2.
        vocabulary_size: int. Number of character ids. Defaults to
            `CharacterEncoder().vocabulary_size` (the paper's alphabet, 69
            distinct characters, plus padding and unknown: 71).
        sequence_length: int. Characters per text. Defaults to 1014.
        size: `"small"` (default) or `"large"`.
        num_filters: optional int. Features of the convolutions; overrides
            `size`'s.
        dense_dim: optional int. Units of the two dense layers; overrides
            `size`'s.
        embedding_dim: optional int. `None` (default): one-hot characters,
            as in the paper; an int: a trained embedding of that width.
        padding: `"valid"` (default, the paper's) or `"same"` (keeps the
            length until the poolings: the convolutions of the text
            networks' `chain="charcnn"`).
        dropout: float. Dropout after each dense layer. Defaults to 0.5.
        head_dtype: dtype of the softmax layer. Defaults to `"float32"`.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    encoder = dreamkeras.layers.CharacterEncoder()  # 1014 characters
    model = dreamkeras.models.CharCNNClassifier(num_classes=4, size="small")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_ds.map(lambda text, label: (encoder(text), label)).batch(128))
    ```

    References:
        Zhang, Zhao & LeCun, "Character-level Convolutional Networks for Text
        Classification", NIPS 2015.
    """

    def __init__(
        self,
        num_classes,
        vocabulary_size=len(ZHANG_ALPHABET) + FIRST_CHARACTER_ID,
        sequence_length=1014,
        size="small",
        num_filters=None,
        dense_dim=None,
        embedding_dim=None,
        padding="valid",
        dropout=0.5,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        check_positive_int("num_classes", num_classes, minimum=2)
        check_positive_int(
            "vocabulary_size", vocabulary_size, minimum=FIRST_CHARACTER_ID + 1
        )
        check_positive_int("sequence_length", sequence_length)
        if size not in CHARCNN_SIZES:
            raise ValueError(
                f"`size` must be one of {tuple(CHARCNN_SIZES)}. Received: size={size!r}."
            )
        if padding not in CHARCNN_PADDINGS:
            raise ValueError(
                f"`padding` must be one of {CHARCNN_PADDINGS}. "
                f"Received: padding={padding!r}."
            )
        for name, value in (
            ("num_filters", num_filters),
            ("dense_dim", dense_dim),
            ("embedding_dim", embedding_dim),
        ):
            if value is not None:
                check_positive_int(name, value)
        if charcnn_output_length(sequence_length, padding) < 1:
            minimum = next(
                n for n in range(1, 10000) if charcnn_output_length(n, padding) >= 1
            )
            raise ValueError(
                f"`sequence_length` must be at least {minimum} for the CharCNN's "
                f"six convolutions and three poolings with padding={padding!r}. "
                f"Received: sequence_length={sequence_length}."
            )
        features, units, stddev = CHARCNN_SIZES[size]
        features = num_filters or features
        units = dense_dim or units
        policy = keras.dtype_policies.get(dtype) if dtype else None

        def initializer():
            return keras.initializers.RandomNormal(0.0, stddev)

        # === Functional Model ===
        inputs = text_inputs(sequence_length)
        token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
        if embedding_dim is None:
            x = ops.one_hot(token_ids, vocabulary_size)[..., FIRST_CHARACTER_ID:]
        else:
            x = keras.layers.Embedding(
                vocabulary_size, embedding_dim, dtype=policy, name="token_embedding"
            )(token_ids)
        x = _zero_padded(x, padding_mask)
        num_pools = 0
        for i, (kernel, pool) in enumerate(CHARCNN_LAYERS):
            x = keras.layers.Conv1D(
                features, kernel, padding=padding, activation="relu",
                kernel_initializer=initializer(), dtype=policy, name=f"conv_{i + 1}",
            )(x)
            if pool:
                num_pools += 1
                x = keras.layers.MaxPooling1D(
                    pool, dtype=policy, name=f"pool_{num_pools}"
                )(x)
        x = keras.layers.Flatten(dtype=policy, name="flatten")(x)
        for j in (1, 2):
            x = keras.layers.Dense(
                units, activation="relu", kernel_initializer=initializer(),
                dtype=policy, name=f"dense_{j}",
            )(x)
            if dropout:
                x = keras.layers.Dropout(dropout, dtype=policy, name=f"dropout_{j}")(x)
        outputs = keras.layers.Dense(
            num_classes, activation="softmax", kernel_initializer=initializer(),
            dtype=head_dtype, name="predictions",
        )(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.size = size
        self.num_filters = num_filters
        self.dense_dim = dense_dim
        self.embedding_dim = embedding_dim
        self.padding = padding
        self.dropout = dropout
        self.head_dtype = head_dtype

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "size": self.size,
                "num_filters": self.num_filters,
                "dense_dim": self.dense_dim,
                "embedding_dim": self.embedding_dim,
                "padding": self.padding,
                "dropout": self.dropout,
                "head_dtype": self.head_dtype,
            }
        )
        return config

