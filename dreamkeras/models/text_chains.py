"""The chains `g_1 .. g_M` of the text networks, and the classifier on them.

The paper's chain ablation (§4.6.3) runs SleepNet and DreamNet on three text
chains: 2-layer LSTMs, a CharCNN and a WordCNN (TextCNN). Each chain is built
here as a functional model from the model inputs `{"token_ids",
"padding_mask"}` to the last stage's `(batch, seq, features)` output, with
named stages; `dreamkeras.models.connect.wire_connections` then adds a text
connection around every stage (`h_m = g_m(h_{m-1}) + connection_m(h_{m-1})`),
and `TextChainClassifier` adds the head.

- `"lstm"`: the embedding, then `LSTMBlock`s (LSTM + LayerNorm), one per
  stage. Head: masked mean over the sequence.
- `"textcnn"`: the embedding, then `TextCNNBlock`s: Kim's (2014) parallel
  `same`-padded convolutions of widths 3, 4 and 5 (ReLU, concatenated), one
  set per stage. A stage keeps one vector per token, which is what a
  connection adds to; max-over-time pooling, which removes the sequence
  axis, is the head. With one stage this is Kim's TextCNN.
- `"charcnn"`: Zhang, Zhao & LeCun's (2015) six convolutions (kernels 7, 7,
  3, 3, 3, 3; max pooling by 3 after the 1st, 2nd and 6th), `same`-padded.
  The first convolution and its pooling are the chain's stem (like a
  ResNet's 7x7 convolution and pooling; the first connection reads its
  output, a third of the input's length), then three stages: conv 2 +
  pool, convs 3-4, convs 5-6 + pool. Padding masks are max-pooled with the
  sequence; a connection's features are average-pooled to the length of
  the stage they join; inputs need at least 9 positions (27 for three
  stages). Head: masked max-over-time pooling (Zhang's
  flattening into two 1024-unit layers fixes the input length; it is the
  head of the `CharCNNClassifier` baseline).

Every chain reads the same inputs: by default the frozen encoder's token ids
(as in the paper's Fig. 3), or the ids of a vocabulary of its own, e.g.
characters from `dreamkeras.layers.CharacterEncoder` (then the encoder only
ever sees the tokens the connections' `to_vocabulary` projections choose).
"""

import collections

import keras
from keras import ops

from dreamkeras.layers.lstm_block import LSTMBlock
from dreamkeras.layers.text_conv_blocks import CharCNNBlock
from dreamkeras.layers.text_conv_blocks import TextCNNBlock
from dreamkeras.layers.text_conv_blocks import pooled_padding_mask
from dreamkeras.models.connect import wire_connections
from dreamkeras.models.rebuilt import RebuiltModel
from dreamkeras.models.rebuilt import softmax_head

CHAINS = ("lstm", "textcnn", "charcnn")
MAX_BLOCKS = 4
KIM_FILTER_SIZES = (3, 4, 5)
# Zhang et al.'s layers as (kernel sizes, pool size): the stem, then stages.
CHARCNN_STEM = ((7,), 3)
CHARCNN_STAGES = (((7,), 3), ((3, 3), None), ((3, 3), 3))
MAX_STAGES = {"lstm": MAX_BLOCKS, "textcnn": MAX_BLOCKS, "charcnn": len(CHARCNN_STAGES)}
# Subtracted from padded positions before a max over the sequence.
MAX_POOL_EXCLUSION = 1e4

TextChain = collections.namedtuple(
    "TextChain", ["model", "start", "points", "input_pools", "output_pool"]
)
TextChain.__doc__ = """A text chain as a functional model, ready for connections.

Fields:
    model: `keras.Model` from the text inputs to the last stage's output.
    start: name of the layer whose output is `h_0`.
    points: names of the stages' last layers, in chain order.
    input_pools: for each stage, by how much its input is pooled relative to
        the model input (1 when the sequence keeps its length).
    output_pool: the same for the chain's output.
"""


def check_positive_int(name, value, minimum=1, maximum=None, hint=""):
    """Raises a one-line `ValueError` unless `value` is an int in range."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bound = f"from {minimum} to {maximum}" if maximum else f"at least {minimum}"
        raise ValueError(
            f"`{name}` must be an integer {bound}{hint}. Received: {name}={value!r}."
        )


def text_inputs(sequence_length=None):
    """KerasHub-style `{"token_ids", "padding_mask"}` int32 inputs."""
    return {
        name: keras.Input(shape=(sequence_length,), dtype="int32", name=name)
        for name in ("token_ids", "padding_mask")
    }


def check_chain(chain, num_blocks, max_blocks=MAX_BLOCKS):
    """Checks `chain` and its number of stages (`max_blocks=None`: any)."""
    if chain not in CHAINS:
        raise ValueError(f"`chain` must be one of {CHAINS}. Received: chain={chain!r}.")
    maximum = MAX_STAGES[chain]
    if max_blocks is None and chain == "lstm":
        maximum = None
    hint = (
        f" (the {chain} chain has {maximum} stages after its stem)"
        if chain == "charcnn"
        else ""
    )
    check_positive_int("num_blocks", num_blocks, maximum=maximum, hint=hint)


def build_text_chain(
    chain,
    vocabulary_size,
    num_blocks,
    width,
    embedding_dim,
    block_depth=1,
    trainable_embedding=True,
    dtype=None,
    max_blocks=MAX_BLOCKS,
):
    """Builds a text chain (see the module docstring) as a `TextChain`.

    Args:
        chain: `"lstm"`, `"textcnn"` or `"charcnn"`.
        vocabulary_size: int. Rows of the token embedding.
        num_blocks: int. Number of stages M.
        width: int. LSTM units (`"lstm"`), filters per convolution width
            (`"textcnn"`, so `3 * width` features) or convolution features
            (`"charcnn"`).
        embedding_dim: int. Width of the token embedding.
        block_depth: int. LSTMs per stage (`"lstm"` only).
        trainable_embedding: bool.
        dtype: `None` or a `keras.DTypePolicy` for the layers.
        max_blocks: `None` lifts the limit of 4 LSTM stages (for the
            connection-free `LSTMClassifier`).

    Returns:
        A `TextChain`.
    """
    check_chain(chain, num_blocks, max_blocks)
    if chain != "lstm" and block_depth != 1:
        raise ValueError(
            f"`block_depth` (LSTMs per block) applies to chain='lstm' only. "
            f"Received: block_depth={block_depth!r} with chain={chain!r}."
        )
    inputs = text_inputs()
    padding_mask = inputs["padding_mask"]
    embedded = keras.layers.Embedding(
        vocabulary_size,
        embedding_dim,
        trainable=trainable_embedding,
        dtype=dtype,
        name="token_embedding",
    )(inputs["token_ids"])
    real = ops.expand_dims(ops.cast(padding_mask, "float32"), -1)
    x = keras.layers.Multiply(dtype=dtype, name="masked_embedding")([embedded, real])
    start, pool, input_pools, points = "masked_embedding", 1, [], []
    if chain == "charcnn":
        kernels, stem_pool = CHARCNN_STEM
        x = CharCNNBlock(width, kernels, stem_pool, dtype=dtype, name="stem")(
            x, padding_mask=padding_mask
        )
        start, pool = "stem", stem_pool
    for m in range(num_blocks):
        name = f"block_{m + 1}"
        mask = pooled_padding_mask(padding_mask, pool)
        input_pools.append(pool)
        points.append(name)
        if chain == "lstm":
            block = LSTMBlock(width, block_depth, dtype=dtype, name=name)
        elif chain == "textcnn":
            block = TextCNNBlock(width, KIM_FILTER_SIZES, dtype=dtype, name=name)
        else:
            kernels, stage_pool = CHARCNN_STAGES[m]
            block = CharCNNBlock(width, kernels, stage_pool, dtype=dtype, name=name)
            pool *= stage_pool or 1
        x = block(x, padding_mask=mask)
    model = keras.Model(inputs, x, name=f"{chain}_chain")
    return TextChain(model, start, points, input_pools, pool)


def _pool_to(x, pool_size, name, dtype):
    """Average-pools `x` along the sequence by `pool_size` (when > 1)."""
    if pool_size == 1:
        return x
    return keras.layers.AveragePooling1D(pool_size, dtype=dtype, name=name)(x)


def connection_maker(text_chain, make_connection, dtype=None):
    """`make_connection` for `wire_connections` on a `TextChain`.

    Args:
        text_chain: a `TextChain`.
        make_connection: callable `(index, stage_output_shape)` returning a
            `TextSleepConnection` or `TextDreamConnection`.
        dtype: policy of the pooling layers that fit the features.
    """
    pools = list(text_chain.input_pools) + [text_chain.output_pool]

    def make(index, h, stage_output, inputs):
        connection = make_connection(index, tuple(stage_output.shape))
        mask = pooled_padding_mask(inputs["padding_mask"], pools[index])
        outputs = connection(h, padding_mask=mask)
        dream = None
        if isinstance(outputs, (tuple, list)):
            outputs, dream = outputs
        features = _pool_to(
            outputs, pools[index + 1] // pools[index], f"{connection.name}_fit", dtype
        )
        return features if dream is None else (features, dream)

    return make


def add_dream_block(x, dreams, inputs, chain, text_chain, width, block_depth, dtype):
    """The text DreamNet's parallel block (paper Fig. 5, block 3).

    The dreams' embeddings (pooled to the chain output's length) are
    concatenated on the feature axis and go through one stage of the
    chain's own kind, whose output is added to the chain's.
    """
    embedded = []
    for m, dream in enumerate(dreams):
        ratio = text_chain.output_pool // text_chain.input_pools[m]
        embedded.append(_pool_to(dream["embeddings"], ratio, f"dream_fit_{m + 1}", dtype))
    y = (
        embedded[0]
        if len(embedded) == 1
        else keras.layers.Concatenate(dtype=dtype, name="dreams")(embedded)
    )
    mask = pooled_padding_mask(inputs["padding_mask"], text_chain.output_pool)
    if chain == "lstm":
        block = LSTMBlock(width, block_depth, dtype=dtype, name="dream_block")
    elif chain == "textcnn":
        block = TextCNNBlock(width, KIM_FILTER_SIZES, dtype=dtype, name="dream_block")
    else:
        block = CharCNNBlock(width, (3,), dtype=dtype, name="dream_block")
    y = block(y, padding_mask=mask)
    return keras.layers.Add(name="merge_dreams")([x, y])


def pool_sequence(x, padding_mask, chain, dtype):
    """The head's pooling: masked mean (LSTM) or masked max over time (CNNs)."""
    if chain == "lstm":
        return keras.layers.GlobalAveragePooling1D(dtype=dtype, name="pool")(
            x, mask=padding_mask
        )
    excluded = (1.0 - ops.cast(ops.expand_dims(padding_mask, -1), "float32")) * (
        MAX_POOL_EXCLUSION
    )
    x = x - ops.cast(excluded, x.dtype)
    return keras.layers.GlobalMaxPooling1D(dtype=dtype, name="pool")(x)


class TextChainClassifier(RebuiltModel, keras.Model):
    """Base of the chain text classifiers: embedding, chain, head.

    `h_0 = Embedding(token_ids)` (zero at padded positions); `h_m =
    g_m(h_{m-1}) [+ connection_m(h_{m-1})]` with `g_m` a stage of `chain`;
    optional DreamNet merge; pooling over the sequence (see
    `pool_sequence`); dropout; softmax Dense. Built as a functional model in
    the constructor (the chain from `build_text_chain`, the connections
    added by `wire_connections`); `from_config` re-runs the constructor.
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
        chain="lstm",
        dtype=None,
        **kwargs,
    ):
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("num_classes", num_classes, minimum=2)
        check_chain(chain, num_blocks, max_blocks)
        check_positive_int("width", width)
        check_positive_int("embedding_dim", embedding_dim)
        check_positive_int("block_depth", block_depth)
        policy = keras.dtype_policies.get(dtype) if dtype else None

        # === Functional Model ===
        text_chain = build_text_chain(
            chain, vocabulary_size, num_blocks, width, embedding_dim,
            block_depth, trainable_embedding, policy, max_blocks,
        )
        if make_connection is None:
            inputs, x, dreams = text_chain.model.input, text_chain.model.output, []
        else:
            inputs, x, dreams = wire_connections(
                text_chain.model,
                text_chain.points,
                connection_maker(text_chain, make_connection, policy),
                start=text_chain.start,
                copy_layers=True,
            )
        if merge_dreams:
            x = add_dream_block(
                x, dreams, inputs, chain, text_chain, width, block_depth, policy
            )
        padding_mask = pooled_padding_mask(
            inputs["padding_mask"], text_chain.output_pool
        )
        x = pool_sequence(x, padding_mask, chain, policy)
        outputs = softmax_head(x, num_classes, dropout, head_dtype, policy)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.num_blocks = num_blocks
        self.chain = chain
        self.width = width
        self.embedding_dim = embedding_dim
        self.block_depth = block_depth
        self.dropout = dropout
        self.head_dtype = head_dtype
        self.trainable_embedding = trainable_embedding
        self._dream_token_ids = [dream["token_ids"] for dream in dreams]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "num_blocks": self.num_blocks,
                "width": self.width,
                "block_depth": self.block_depth,
                "dropout": self.dropout,
                "head_dtype": self.head_dtype,
                "trainable_embedding": self.trainable_embedding,
            }
        )
        return config
