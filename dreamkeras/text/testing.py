"""Tiny byte-level BPE tokenizers and random RoBERTa encoders for offline use.

Public RoBERTa presets need a download. These helpers build small, random
stand-ins with the same classes (`RobertaTokenizer`, `RobertaBackbone`,
`RobertaMaskedLM`) so that code paths, shapes, saving and `from_preset`
loading can be exercised offline. Their weights are random: a warning says so
whenever one is built. Never report accuracies obtained with them.
"""

import os
import warnings

import keras_hub
import numpy as np

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
MASK_TOKEN = "<mask>"
RANDOM_WEIGHTS_MARKER = "RANDOM_WEIGHTS.txt"
DEMO_WORDS = (
    "the a cat dog sat ran on under mat sofa news sport game team won lost "
    "market stock price rose fell film movie good bad great awful food "
    "tasty science space star planet law court vote world business"
).split()


def _bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes)}


def tiny_bpe_vocabulary(words):
    """A byte-level BPE vocabulary and merges that spell out `words` whole.

    The vocabulary holds RoBERTa's special tokens, the 256 byte symbols (so
    any text can be tokenized) and every substring of every word, with and
    without the leading-space marker "Ġ". The merges join any two adjacent
    pieces of a word, shorter results first, so every listed word always
    ends up as one token, whatever order the merges apply in.

    Args:
        words: iterable of str. Words to keep whole.

    Returns:
        `(vocabulary, merges)`: a dict token -> id and a list of merge rules,
        for `keras_hub.tokenizers.RobertaTokenizer(vocabulary, merges)`.

    Example:

    ```python
    vocabulary, merges = tiny_bpe_vocabulary(["the", "cat", "sat"])
    tokenizer = keras_hub.tokenizers.RobertaTokenizer(vocabulary, merges)
    ```
    """
    table = _bytes_to_unicode()
    vocabulary = {}

    def add(token):
        if token not in vocabulary:
            vocabulary[token] = len(vocabulary)

    for token in SPECIAL_TOKENS:
        add(token)
    for byte in range(256):
        add(table[byte])
    rules = {}
    for word in dict.fromkeys(words):
        for spelled in (word, " " + word):
            symbols = [table[b] for b in spelled.encode("utf-8")]
            for start in range(len(symbols)):
                for end in range(start + 2, len(symbols) + 1):
                    for split in range(start + 1, end):
                        left = "".join(symbols[start:split])
                        right = "".join(symbols[split:end])
                        rules.setdefault(f"{left} {right}", end - start)
    merges = sorted(rules, key=rules.get)
    for rule in merges:
        add(rule.replace(" ", ""))
    add(MASK_TOKEN)
    return vocabulary, merges


def tiny_roberta(
    words,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=64,
    seed=None,
):
    """A tokenizer and a random-weight `RobertaMaskedLM` sized for tests.

    Args:
        words: iterable of str. Words the tokenizer keeps whole.
        num_layers, num_heads, hidden_dim, intermediate_dim,
        max_sequence_length: `keras_hub.models.RobertaBackbone` sizes.
        seed: optional int for `keras.utils.set_random_seed`.

    Returns:
        `(tokenizer, masked_lm)`: a `RobertaTokenizer` and a
        `RobertaMaskedLM` with random weights (`masked_lm.backbone` is the
        `RobertaBackbone`).

    Example:

    ```python
    tokenizer, masked_lm = tiny_roberta(["the", "cat", "sat"])
    masked_lm.backbone.vocabulary_size == tokenizer.vocabulary_size()  # True
    ```
    """
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    vocabulary, merges = tiny_bpe_vocabulary(words)
    tokenizer = keras_hub.tokenizers.RobertaTokenizer(
        vocabulary=vocabulary, merges=merges
    )
    warnings.warn(
        "dreamkeras.text.testing.tiny_roberta builds a RoBERTa with RANDOM "
        "weights, for tests and offline demos only.",
        stacklevel=2,
    )
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
        max_sequence_length=max_sequence_length,
    )
    masked_lm = keras_hub.models.RobertaMaskedLM(backbone)
    return tokenizer, masked_lm


def save_tiny_preset(directory, tokenizer, masked_lm, sequence_length=32):
    """Saves a tiny RoBERTa as a local KerasHub preset folder.

    The folder then loads with `keras_hub.models.RobertaBackbone.from_preset`,
    `RobertaMaskedLM.from_preset`, `RobertaTokenizer.from_preset` and
    `RobertaTextClassifierPreprocessor.from_preset`, like a downloaded one.
    A `RANDOM_WEIGHTS.txt` file marks it (`is_random_preset`), so that the
    training apps warn that its weights are random.

    Args:
        directory: str. Folder to write.
        tokenizer: `RobertaTokenizer`.
        masked_lm: `RobertaMaskedLM`.
        sequence_length: int. Sequence length of the saved preprocessor.

    Returns:
        `directory`.
    """
    preprocessor = keras_hub.models.RobertaMaskedLMPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    masked_lm.preprocessor = preprocessor
    try:
        masked_lm.save_to_preset(directory)
    finally:
        masked_lm.preprocessor = None
    with open(os.path.join(directory, RANDOM_WEIGHTS_MARKER), "w") as f:
        f.write(
            "This preset was written by dreamkeras.text.testing with RANDOM "
            "weights (no pretraining). Never report its accuracies as those "
            "of a pretrained encoder.\n"
        )
    return directory


def is_random_preset(preset):
    """True for a local preset folder written by `save_tiny_preset`."""
    return isinstance(preset, str) and os.path.exists(
        os.path.join(os.path.expanduser(preset), RANDOM_WEIGHTS_MARKER)
    )


def synthetic_texts(num_classes, num_examples, words=DEMO_WORDS, length=12, seed=0):
    """Generated texts whose class shows in one keyword (smoke tests only).

    Each text is `length` random words of `words`; the word at a random
    position is replaced by the class's keyword (`words[label]`, so
    `num_classes <= len(words)`).

    Args:
        num_classes: int.
        num_examples: int.
        words: sequence of str.
        length: int. Words per text.
        seed: int.

    Returns:
        `(texts, labels)`: a list of str and an int64 numpy array.

    Example:

    ```python
    texts, labels = synthetic_texts(4, 32)
    ```
    """
    if num_classes > len(words):
        raise ValueError(
            f"`num_classes={num_classes}` needs at least as many `words` "
            f"(got {len(words)})."
        )
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_examples).astype("int64")
    texts = []
    for label in labels:
        chosen = list(rng.choice(words, length))
        chosen[rng.integers(0, length)] = words[label]
        texts.append(" ".join(chosen))
    return texts, labels


def synthetic_text_dataset(name, num_classes, train_examples=32, eval_examples=16, seed=0):
    """A `TextDataset` of `synthetic_texts` (for `--fast-dev-run`).

    Args:
        name: str. Dataset name.
        num_classes: int.
        train_examples: int.
        eval_examples: int.
        seed: int.

    Returns:
        A `dreamkeras.text.TextDataset` with `synthetic=True`.

    Example:

    ```python
    data = synthetic_text_dataset("toy", 4)
    ```
    """
    import tensorflow as tf

    from dreamkeras.text.sources import TextDataset

    train = synthetic_texts(num_classes, train_examples, seed=seed)
    evaluation = synthetic_texts(num_classes, eval_examples, seed=seed + 1)
    return TextDataset(
        name=name,
        train=tf.data.Dataset.from_tensor_slices(train),
        eval=tf.data.Dataset.from_tensor_slices(evaluation),
        num_classes=num_classes,
        train_size=train_examples,
        eval_size=eval_examples,
        synthetic=True,
    )
