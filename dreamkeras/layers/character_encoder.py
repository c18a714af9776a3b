"""`CharacterEncoder`: texts to character ids, in `tf.data` or eagerly."""

import keras

# Zhang, Zhao & LeCun (2015), section 2.2: "26 english letters, 10 digits,
# 33 other characters and the new line character". Their list of the 33
# other characters names "-" twice, so it holds 32 distinct ones: 69
# distinct characters in all.
ZHANG_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz0123456789"
    "-,;.!?:'\"/\\|_@#$%^&*~`+=<>()[]{}\n"
)
PADDING_ID = 0
UNKNOWN_ID = 1


def _check_alphabet(alphabet):
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(
            f"`alphabet` must be a non-empty string of characters. "
            f"Received: alphabet={alphabet!r}."
        )
    if len(set(alphabet)) != len(alphabet):
        repeated = sorted({c for c in alphabet if alphabet.count(c) > 1})
        raise ValueError(
            f"`alphabet` must not repeat characters. Repeated: {repeated!r}."
        )


@keras.saving.register_keras_serializable(package="dreamkeras")
class CharacterEncoder:
    """Encodes texts as character ids for character-level models.

    The preprocessing of Zhang, Zhao & LeCun (2015): each text is lowercased
    (by default), split into Unicode characters and cut or padded to
    `sequence_length`. A character of `alphabet` gets id `2 + its index`;
    any other character (the space included, as in the paper) gets
    `UNKNOWN_ID = 1`; padding gets `PADDING_ID = 0`. The output is a dict
    `{"token_ids", "padding_mask"}` like a KerasHub text preprocessor's,
    so character models train with the same code as the other text models.

    It is made of TensorFlow string ops, so it runs inside `tf.data`
    (`dataset.map(encoder)`) whatever the Keras backend, as KerasHub's
    preprocessors do; called directly it returns `tf.Tensor`s (convert with
    `keras.ops.convert_to_numpy` or `np.asarray`). It is a plain callable
    rather than a `keras.layers.Layer` because string tensors cannot enter a
    JAX or PyTorch model.

    Zhang et al. also reverse the character order ("the latest reading on
    characters is always placed near the beginning of the output"); this
    encoder keeps the reading order.

    Args:
        sequence_length: int. Characters per text. Defaults to the paper's
            1014.
        alphabet: str. The characters that get their own id. Defaults to
            `ZHANG_ALPHABET` (the paper's, 69 distinct characters: the
            paper's list of 70 names "-" twice).
        lowercase: bool. Lowercase before encoding. Defaults to `True`.

    Call arguments:
        texts: a string, or a `(batch,)` string tensor or array.

    Returns:
        dict of `"token_ids"` `(batch, sequence_length)` int32 and
        `"padding_mask"` `(batch, sequence_length)` int32 (1 for the
        characters of the text, whether known or not).

    Example:

    ```python
    encoder = dreamkeras.layers.CharacterEncoder(sequence_length=16)
    encoder(["Hi there!"])["token_ids"][0, :3]  # [9, 10, 1]: "h", "i", space
    train_ds = train_ds.map(lambda text, label: (encoder(text), label))
    model = dreamkeras.models.CharCNNClassifier(
        num_classes=4, vocabulary_size=encoder.vocabulary_size,
        sequence_length=16,
    )
    ```
    """

    def __init__(self, sequence_length=1014, alphabet=ZHANG_ALPHABET, lowercase=True):
        if (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, int)
            or sequence_length < 1
        ):
            raise ValueError(
                f"`sequence_length` must be a positive integer. "
                f"Received: sequence_length={sequence_length!r}."
            )
        _check_alphabet(alphabet)
        self.sequence_length = sequence_length
        self.alphabet = alphabet
        self.lowercase = bool(lowercase)
        self._table = None

    @property
    def vocabulary_size(self):
        """Number of ids: padding, unknown and one per alphabet character."""
        return len(self.alphabet) + 2

    def _lookup_table(self):
        import tensorflow as tf

        if self._table is None:
            keys = tf.constant(list(self.alphabet))
            values = tf.range(2, len(self.alphabet) + 2, dtype=tf.int32)
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(keys, values),
                default_value=UNKNOWN_ID,
            )
        return self._table

    def __call__(self, texts):
        import tensorflow as tf

        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        scalar = texts.shape.rank == 0
        if scalar:
            texts = tf.expand_dims(texts, 0)
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        characters = tf.strings.unicode_split(texts, "UTF-8", errors="replace")
        characters = characters[:, : self.sequence_length]
        ids = tf.ragged.map_flat_values(self._lookup_table().lookup, characters)
        shape = [None, self.sequence_length]
        token_ids = ids.to_tensor(default_value=PADDING_ID, shape=shape)
        padding_mask = tf.ones_like(ids).to_tensor(default_value=0, shape=shape)
        outputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        if scalar:
            outputs = {name: value[0] for name, value in outputs.items()}
        return outputs

    def get_config(self):
        return {
            "sequence_length": self.sequence_length,
            "alphabet": self.alphabet,
            "lowercase": self.lowercase,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
