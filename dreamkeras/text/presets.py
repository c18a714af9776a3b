"""Small random-weight RoBERTa presets, built offline from a word list or a corpus.

Public RoBERTa presets need a download. `build_random_preset` writes a small
stand-in with the same KerasHub classes (`RobertaTokenizer`,
`RobertaBackbone`, `RobertaMaskedLM`) to a local preset folder that
`--encoder` and `from_preset` load like a downloaded one: for smoke tests
(`--fast-dev-run` builds one), for code paths, shapes and saving, and for
measuring an architecture on a machine without network. Its weights are
RANDOM: a `RANDOM_WEIGHTS.txt` file marks the folder, and the apps say so
whenever a model uses its weights. Never report its accuracies as those of a
pretrained encoder.

The byte-level BPE vocabulary keeps chosen words whole, with their case:
RoBERTa's tokenizer is case-sensitive, so "Paris" and "paris" are different
tokens, and a word missing from the vocabulary is spelled from smaller
pieces (down to single bytes).
"""

import collections
import os
import re

import keras
import keras_hub

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
MASK_TOKEN = "<mask>"
RANDOM_WEIGHTS_MARKER = "RANDOM_WEIGHTS.txt"
# RoBERTa's pre-tokenizer splits texts into runs of letters, of digits and of
# other symbols (a leading space belongs to the run): count words the same way.
WORD_PATTERN = re.compile(r"[^\W\d_]+|\d+")


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


def bpe_vocabulary(words):
    """A byte-level BPE vocabulary and merges that spell out `words` whole.

    The vocabulary holds RoBERTa's special tokens, the 256 byte symbols (so
    any text can be tokenized) and every substring of every word, with and
    without the leading-space marker "Ġ". The merges join any two adjacent
    pieces of a word, shorter results first, so every listed word always
    ends up as one token, whatever order the merges apply in. Words keep
    their case.

    Args:
        words: iterable of str. Words to keep whole.

    Returns:
        `(vocabulary, merges)`: a dict token -> id and a list of merge rules,
        for `keras_hub.tokenizers.RobertaTokenizer(vocabulary, merges)`.

    Example:

    ```python
    vocabulary, merges = bpe_vocabulary(["the", "Cat", "sat"])
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


def corpus_texts(folder):
    """The texts of the `.txt` files under `folder`: one per paragraph.

    Paragraphs are separated by blank lines; whitespace at their ends is
    dropped, and so are empty ones. Files are read in name order.

    Args:
        folder: str. Searched recursively for `.txt` files.

    Returns:
        `(texts, files)`: a list of str and the number of `.txt` files.

    Raises:
        ValueError: `folder` is not a folder.

    Example:

    ```python
    texts, files = corpus_texts("~/data/reviews")
    ```
    """
    folder = os.path.expanduser(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"The corpus folder {folder!r} does not exist; pass a folder of .txt files.")
    texts, files = [], 0
    for root, _, names in sorted(os.walk(folder, followlinks=True)):
        for name in sorted(names):
            if name.endswith(".txt"):
                files += 1
                with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                    paragraphs = re.split(r"\n\s*\n", f.read())
                texts += [p.strip() for p in paragraphs if p.strip()]
    return texts, files


def most_frequent_words(texts, max_words=2000):
    """The `max_words` most frequent words of `texts`, case kept.

    Words are runs of letters or of digits, as RoBERTa's pre-tokenizer
    splits them; ties keep their first-seen order.

    Example:

    ```python
    most_frequent_words(["the cat", "the dog"], 1)  # ["the"]
    ```
    """
    counts = collections.Counter()
    for text in texts:
        counts.update(WORD_PATTERN.findall(text))
    return [word for word, _ in counts.most_common(max_words)]


def corpus_words(folder, max_words=2000):
    """The most frequent words of the `.txt` files under `folder`, case kept.

    Words are runs of letters or of digits, as RoBERTa's pre-tokenizer
    splits them; "Paris" and "paris" count apart.

    Args:
        folder: str. Searched recursively for `.txt` files.
        max_words: int. How many words to return.

    Returns:
        list of str, most frequent first (ties in first-seen order).

    Raises:
        ValueError: no `.txt` file, or no word in them.

    Example:

    ```python
    words = corpus_words("~/data/reviews", max_words=500)
    ```
    """
    texts, files = corpus_texts(folder)
    words = most_frequent_words(texts, max_words)
    if not words:
        raise ValueError(
            f"No words in {os.path.expanduser(folder)!r} ({files} .txt files); pass a "
            f"folder that holds .txt files (searched recursively)."
        )
    return words


def random_roberta(
    words,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=64,
    seed=None,
):
    """A tokenizer and a RANDOM-weight `RobertaMaskedLM` keeping `words` whole.

    Args:
        words: iterable of str. Words the tokenizer keeps whole (case kept).
        num_layers, num_heads, hidden_dim, intermediate_dim,
        max_sequence_length: `keras_hub.models.RobertaBackbone` sizes.
        seed: optional int for `keras.utils.set_random_seed`.

    Returns:
        `(tokenizer, masked_lm)`: a `RobertaTokenizer` and a
        `RobertaMaskedLM` with random weights (`masked_lm.backbone` is the
        `RobertaBackbone`).

    Example:

    ```python
    tokenizer, masked_lm = random_roberta(["the", "Cat", "sat"])
    masked_lm.backbone.vocabulary_size == tokenizer.vocabulary_size()  # True
    ```
    """
    if hidden_dim % num_heads:
        raise ValueError(
            f"`num_heads={num_heads}` must divide `hidden_dim={hidden_dim}`."
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)
    vocabulary, merges = bpe_vocabulary(words)
    tokenizer = keras_hub.tokenizers.RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
        max_sequence_length=max_sequence_length,
    )
    return tokenizer, keras_hub.models.RobertaMaskedLM(backbone)


def save_roberta_preset(directory, tokenizer, masked_lm, sequence_length):
    """Saves a `RobertaMaskedLM` and its tokenizer as a local preset folder.

    A `RobertaMaskedLMPreprocessor` of `sequence_length` is saved with it,
    so the folder loads with `Tokenizer.from_preset`, `Backbone.from_preset`
    and `MaskedLM.from_preset` like a downloaded preset (the text apps'
    `--encoder`). `masked_lm` keeps no preprocessor afterwards.

    Example:

    ```python
    save_roberta_preset("presets/mine", tokenizer, masked_lm, 128)
    ```
    """
    preprocessor = keras_hub.models.RobertaMaskedLMPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    masked_lm.preprocessor = preprocessor
    try:
        masked_lm.save_to_preset(directory)
    finally:
        masked_lm.preprocessor = None
    return directory


def save_random_preset(directory, tokenizer, masked_lm, sequence_length=32):
    """Saves a random RoBERTa as a local KerasHub preset folder, marked random.

    The folder loads with `keras_hub.models.RobertaBackbone.from_preset`,
    `RobertaMaskedLM.from_preset`, `RobertaTokenizer.from_preset` and
    `RobertaTextClassifierPreprocessor.from_preset`, like a downloaded one.
    A `RANDOM_WEIGHTS.txt` file marks it (`is_random_preset`).

    Args:
        directory: str. Folder to write.
        tokenizer: `RobertaTokenizer`.
        masked_lm: `RobertaMaskedLM`.
        sequence_length: int. Sequence length of the saved preprocessor.

    Returns:
        `directory`.

    Example:

    ```python
    save_random_preset("presets/tiny", *random_roberta(["the", "Cat"]))
    ```
    """
    save_roberta_preset(directory, tokenizer, masked_lm, sequence_length)
    with open(os.path.join(directory, RANDOM_WEIGHTS_MARKER), "w") as f:
        f.write(
            "This preset was written by dreamkeras.text.presets with RANDOM weights "
            "(no pretraining). Never report its accuracies as those of a "
            "pretrained encoder.\n"
        )
    return directory


def is_random_preset(preset):
    """True for a local preset folder written by `save_random_preset`.

    Example:

    ```python
    is_random_preset("presets/tiny")  # True
    ```
    """
    return isinstance(preset, str) and os.path.exists(
        os.path.join(os.path.expanduser(preset), RANDOM_WEIGHTS_MARKER)
    )


def build_random_preset(
    directory,
    words=None,
    corpus=None,
    max_words=2000,
    hidden_dim=32,
    num_layers=2,
    num_heads=2,
    max_sequence_length=128,
    seed=1337,
):
    """Writes a small RANDOM-weight RoBERTa preset to `directory`.

    The vocabulary keeps whole either the given `words` or the `max_words`
    most frequent words of the `.txt` files under `corpus`, with their case.
    The preset is saved in float32 whatever the global dtype policy, like a
    downloaded one. The command line is `dreamkeras text-preset --corpus DIR
    --output DIR`.

    Args:
        directory: str. The preset folder to write (must not exist).
        words: optional iterable of str. Words to keep whole.
        corpus: optional str. A folder of `.txt` files (instead of `words`).
        max_words: int. Words taken from `corpus`.
        hidden_dim, num_layers, num_heads: sizes of the encoder; the
            feed-forward width is `2 * hidden_dim`.
        max_sequence_length: int. The longest sequence the encoder takes.
        seed: int. Seed of the random weights.

    Returns:
        dict: `directory`, `vocabulary_size`, `words` (how many kept whole)
        and `hidden_dim`.

    Example:

    ```python
    build_random_preset("presets/reviews_tiny", corpus="~/data/reviews")
    ```
    """
    if (words is None) == (corpus is None):
        raise ValueError("Pass either `words` or `corpus`.")
    if os.path.exists(directory):
        raise ValueError(f"{directory!r} exists; pass a new folder for the preset.")
    words = list(words) if words is not None else corpus_words(corpus, max_words)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        tokenizer, masked_lm = random_roberta(
            words, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
            intermediate_dim=2 * hidden_dim, max_sequence_length=max_sequence_length,
            seed=seed,
        )
        save_random_preset(directory, tokenizer, masked_lm, sequence_length=max_sequence_length)
    finally:
        keras.config.set_dtype_policy(policy)
    return {
        "directory": directory,
        "vocabulary_size": int(tokenizer.vocabulary_size()),
        "words": len(words),
        "hidden_dim": hidden_dim,
    }
