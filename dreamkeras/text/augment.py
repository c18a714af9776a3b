"""The paper's text augmentation: random word edits as a `tf.data` step.

The paper augments every training text by editing 10% of its words with
TextAttack-style word swaps, insertions and substitutions (deletions are in
TextAttack's EDA recipe too), doubling the training set (paper Sec. 4.2). Here
the edits are plain `tf.strings` / `tf.random` ops, so they run inside
`Dataset.map` on any backend. TextAttack picks replacement words from WordNet
or embedding neighbours; offline, we draw them from a word list you pass
(e.g. `word_vocabulary(train_texts)`) or, without one, from the text itself.
"""

import collections

import tensorflow as tf

OPERATIONS = ("swap", "insert", "delete", "substitute")


def _check_arguments(rate, operations):
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"`rate` must be in (0, 1]. Received: rate={rate}.")
    operations = tuple(operations)
    unknown = [op for op in operations if op not in OPERATIONS]
    if not operations or unknown:
        raise ValueError(
            f"`operations` must be a non-empty subset of {OPERATIONS}. "
            f"Received: operations={operations}."
        )
    return operations


def augment_text(
    text, rate=0.1, operations=OPERATIONS, vocabulary=None, seed=None
):
    """Edits about `rate` of the words of one text (a scalar `tf.string`).

    `max(1, round(rate * n))` distinct word positions of an `n`-word text are
    edited (none if the text is empty), each with an operation drawn
    uniformly from `operations`: swap with the next word (the previous one for
    the last word), insert a random word after it, delete it, or substitute
    a random word for it. Words are split on whitespace and re-joined with
    single spaces. Deleting the only word of a text, or swapping in a
    one-word text, leaves it unchanged.

    Args:
        text: scalar `tf.string` tensor.
        rate: float in (0, 1]. Share of words to edit. Defaults to `0.1`.
        operations: subset of `("swap", "insert", "delete", "substitute")`.
        vocabulary: optional list of str, or 1-D `tf.string` tensor. Words to
            insert and substitute; defaults to the text's own words.
        seed: optional int, the op-level seed of the random ops.

    Returns:
        Scalar `tf.string` tensor.

    Example:

    ```python
    augment_text(tf.constant("the cat sat on the mat today"), rate=0.3)
    ```
    """
    operations = _check_arguments(rate, operations)
    words = tf.strings.split(tf.convert_to_tensor(text, tf.string))
    size = tf.size(words)
    count = tf.cast(tf.round(rate * tf.cast(size, tf.float32)), tf.int32)
    count = tf.where(size > 0, tf.maximum(count, 1), 0)
    positions = tf.random.shuffle(tf.range(size), seed=seed)[:count]
    # Edit from the end: an edit at p only moves words after p, so the
    # positions still to edit (all smaller) keep their meaning.
    positions = tf.sort(positions, direction="DESCENDING")
    kinds = tf.random.uniform(
        [count], 0, len(operations), dtype=tf.int32, seed=seed
    )
    if vocabulary is None:
        source = words
    else:
        source = tf.convert_to_tensor(vocabulary, tf.string)
        if source.shape.rank != 1:
            raise ValueError("`vocabulary` must be a 1-D list of words.")

    def random_word():
        n = tf.maximum(tf.size(source), 1)
        index = tf.random.uniform([], 0, n, dtype=tf.int32, seed=seed)
        return tf.reshape(tf.gather(source, tf.minimum(index, tf.size(source) - 1)), [1])

    def body(i, words):
        p = positions[i]
        n = tf.size(words)

        def swap():
            q = tf.where(p + 1 < n, p + 1, p - 1)
            order = tf.tensor_scatter_nd_update(
                tf.range(n), tf.stack([[p], [q]]), tf.stack([q, p])
            )
            return tf.cond(n > 1, lambda: tf.gather(words, order), lambda: words)

        def insert():
            return tf.concat([words[: p + 1], random_word(), words[p + 1 :]], 0)

        def delete():
            return tf.cond(
                n > 1, lambda: tf.concat([words[:p], words[p + 1 :]], 0), lambda: words
            )

        def substitute():
            return tf.tensor_scatter_nd_update(words, [[p]], random_word())

        branches = {
            "swap": swap, "insert": insert, "delete": delete, "substitute": substitute
        }
        words = tf.switch_case(kinds[i], [branches[op] for op in operations])
        return i + 1, words

    _, words = tf.while_loop(
        lambda i, _: i < count,
        body,
        (tf.constant(0), words),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None])),
    )
    return tf.strings.reduce_join(words, separator=" ")


def augment_dataset(
    dataset, rate=0.1, operations=OPERATIONS, vocabulary=None, seed=None
):
    """Maps `augment_text` over a dataset of texts, keeping the labels.

    Elements may be a text, `(text, label)` or `(text, label, weight)`; texts
    may be scalars or batches (1-D). Only the text changes.

    Args:
        dataset: `tf.data.Dataset`.
        rate, operations, vocabulary, seed: see `augment_text`.

    Returns:
        `tf.data.Dataset` with the same structure.

    Example:

    ```python
    ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    augmented = augment_dataset(ds, rate=0.1)
    ```
    """
    _check_arguments(rate, operations)
    if vocabulary is not None:
        vocabulary = tf.constant(list(vocabulary), tf.string)

    def edit(text):
        fn = lambda t: augment_text(t, rate, operations, vocabulary, seed)  # noqa
        if text.shape.rank == 0:
            return fn(text)
        return tf.map_fn(fn, text, fn_output_signature=tf.string)

    def step(*element):
        if len(element) == 1:
            return edit(element[0])
        return (edit(element[0]),) + tuple(element[1:])

    return dataset.map(step, num_parallel_calls=tf.data.AUTOTUNE)


def double_dataset(
    dataset,
    rate=0.1,
    operations=OPERATIONS,
    vocabulary=None,
    seed=None,
    fixed=False,
):
    """Original examples followed by an augmented copy (paper Sec. 4.2).

    Shuffle afterwards (`.shuffle(...)`) to mix the two halves.

    Args:
        dataset: `tf.data.Dataset` of texts, `(text, label)` or
            `(text, label, weight)`.
        rate, operations, vocabulary, seed: see `augment_text`.
        fixed: bool. `False` (default) draws new edits every epoch; `True`
            caches the augmented copy in memory, so it is the same every
            epoch, as a once-doubled training set.

    Returns:
        `tf.data.Dataset` twice as long.

    Example:

    ```python
    train = double_dataset(train, vocabulary=word_vocabulary(train_texts))
    train = train.shuffle(10_000).batch(32).map(preprocessor)
    ```
    """
    augmented = augment_dataset(dataset, rate, operations, vocabulary, seed)
    if fixed:
        augmented = augmented.cache()
    return dataset.concatenate(augmented)


def word_vocabulary(texts, max_words=20000, min_count=2):
    """The most frequent whitespace-separated words of some texts.

    Args:
        texts: iterable of str (or bytes), e.g. the training texts.
        max_words: int. Keep at most this many words.
        min_count: int. Drop words seen fewer times.

    Returns:
        list of str, most frequent first.

    Example:

    ```python
    word_vocabulary(["a cat", "a dog"], min_count=1)  # ['a', 'cat', 'dog']
    ```
    """
    counts = collections.Counter()
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        counts.update(str(text).split())
    return [w for w, c in counts.most_common(max_words) if c >= min_count]
