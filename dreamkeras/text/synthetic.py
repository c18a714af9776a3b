"""Generated texts for smoke runs (`--fast-dev-run`), never for results.

Each text is a handful of words from a small list, with its class shown by
one keyword, so that a model can learn something in a few steps.
"""

import numpy as np

DEMO_WORDS = (
    "the a cat dog sat ran on under mat sofa news sport game team won lost "
    "market stock price rose fell film movie good bad great awful food "
    "tasty science space star planet law court vote world business"
).split()


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
    """A `TextDataset` of `synthetic_texts`, marked `synthetic`.

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
        name=f"{name} (synthetic)",
        train=tf.data.Dataset.from_tensor_slices(train),
        eval=tf.data.Dataset.from_tensor_slices(evaluation),
        num_classes=num_classes,
        train_size=train_examples,
        eval_size=eval_examples,
        synthetic=True,
    )
