"""XLNet's SentencePiece tokenizer and text classification preprocessor."""

import unicodedata

import keras
import keras_hub
import numpy as np

from dreamkeras.models.xlnet.xlnet_backbone import XLNetBackbone

# XLNet's special pieces, as in its `spiece.model` (ids 0 to 8 there).
SPECIAL_TOKENS = {
    "unk_token": "<unk>",
    "cls_token": "<cls>",
    "sep_token": "<sep>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "eod_token": "<eod>",
    "eop_token": "<eop>",
}
QUOTES_PATTERN = "``|''"
ACCENTS_PATTERN = r"\p{Mn}"


def _normalize_text(text):
    text = text.replace("``", '"').replace("''", '"')
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


def _normalize_python(inputs):
    if isinstance(inputs, bytes):
        return _normalize_text(inputs.decode("utf-8"))
    if isinstance(inputs, str):
        return _normalize_text(inputs)
    if isinstance(inputs, (list, tuple)):
        return [_normalize_python(x) for x in inputs]
    if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "OSU":
        flat = [_normalize_python(x) for x in inputs.reshape(-1).tolist()]
        return np.array(flat, dtype=object).reshape(inputs.shape)
    return inputs


def _normalize_tf(inputs):
    import tensorflow as tf
    import tensorflow_text as tf_text

    def normalize(strings):
        strings = tf.strings.regex_replace(strings, QUOTES_PATTERN, '"')
        strings = tf_text.normalize_utf8(strings, "NFKD")
        return tf.strings.regex_replace(strings, ACCENTS_PATTERN, "")

    if isinstance(inputs, tf.RaggedTensor):
        return tf.ragged.map_flat_values(normalize, inputs)
    return normalize(inputs)


@keras.saving.register_keras_serializable(package="dreamkeras")
class XLNetTokenizer(keras_hub.tokenizers.SentencePieceTokenizer):
    """XLNet's tokenizer: its SentencePiece model and special tokens.

    Loads XLNet's `spiece.model` (e.g. from `xlnet/xlnet-base-cased`)
    through KerasHub's `SentencePieceTokenizer`, and normalises text as
    `transformers`' `XLNetTokenizer` does (`keep_accents=False`,
    `do_lower_case=False`): ``` `` ``` and `''` become `"`, then NFKD and
    accents (combining marks) are removed, before SentencePiece's own
    normalisation. Special tokens: `<unk>`, `<s>`, `</s>`, `<cls>`, `<sep>`,
    `<pad>`, `<mask>`, `<eod>`, `<eop>`; the model must contain all of them.

    Args:
        proto: str or bytes. Path to, or content of, a SentencePiece model.
        **kwargs: passed to `keras_hub.tokenizers.SentencePieceTokenizer`.

    Example:

    ```python
    tokenizer = dreamkeras.models.XLNetTokenizer(proto="xlnet/spiece.model")
    tokenizer("The café opened.")  # ids, accents stripped first
    ```
    """

    backbone_cls = XLNetBackbone

    def __init__(self, proto=None, **kwargs):
        for name, token in SPECIAL_TOKENS.items():
            self._add_special_token(token, name)
        super().__init__(proto=proto, **kwargs)

    def tokenize(self, inputs):
        import tensorflow as tf

        if isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            inputs = _normalize_tf(inputs)
        else:
            inputs = _normalize_python(inputs)
        return super().tokenize(inputs)


@keras.saving.register_keras_serializable(package="dreamkeras")
class XLNetTextClassifierPreprocessor(keras_hub.models.TextClassifierPreprocessor):
    """Packs texts as XLNet expects: `tokens <sep> <cls>`, padded on the left.

    XLNet's convention (`transformers`' `XLNetTokenizer`): the special
    tokens come at the end and the padding (`<pad>`) at the start, so that
    `<cls>` is always the last position. Long texts keep their beginning.
    Outputs `{"token_ids", "padding_mask"}` (1 for real tokens, `<sep>` and
    `<cls>` included), the inputs of the dreamkeras text classifiers. Segment
    ids are left out: the text connections feed the encoder zeros (one
    segment), and `<cls>`'s segment id 2 only matters to models that read
    `<cls>`.

    Args:
        tokenizer: an `XLNetTokenizer`.
        sequence_length: int. Length of the packed inputs.
        truncate: str. How several segments are truncated, as in
            `keras_hub.layers.MultiSegmentPacker`.
        **kwargs: passed to `keras_hub.models.TextClassifierPreprocessor`.

    Example:

    ```python
    preprocessor = dreamkeras.models.XLNetTextClassifierPreprocessor(
        tokenizer, sequence_length=128
    )
    train_ds = train_ds.map(preprocessor)
    ```
    """

    backbone_cls = XLNetBackbone
    tokenizer_cls = XLNetTokenizer

    def build(self, input_shape):
        # XLNet puts its special tokens at the end and pads on the left.
        sep = self.tokenizer.sep_token_id
        self.packer = keras_hub.layers.MultiSegmentPacker(
            start_value=[],
            end_value=[sep, self.tokenizer.cls_token_id],
            sep_value=[sep],
            pad_value=self.tokenizer.pad_token_id,
            truncate=self.truncate,
            sequence_length=self.sequence_length,
            padding_side="left",
        )
        self.built = True

    def call(self, x, y=None, sample_weight=None):
        output = super().call(x, y=y, sample_weight=sample_weight)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(output)
        del x["segment_ids"]
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
