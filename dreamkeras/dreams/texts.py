"""Decoding a text DreamNet's reconstructions ("dreams") to strings.

The paper's Table 1 shows a text with the first, second and third dream of
DreamNet-3. `decode_dreams` gives the same for any `TextDreamNet`: each
dream connection's reconstructed token sequence, decoded with the preset's
tokenizer.
"""

import numpy as np
from keras import ops


def _to_numpy(x):
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(ops.convert_to_numpy(x))


def _to_str(value):
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value)


def decode_tokens(tokenizer, token_ids, padding_mask=None, skip_special_tokens=True):
    """Decodes a batch of token ids to strings, dropping padded positions.

    Args:
        tokenizer: a KerasHub tokenizer (e.g. `RobertaTokenizer`).
        token_ids: `(batch, seq)` int array.
        padding_mask: optional `(batch, seq)` array, nonzero for real tokens.
        skip_special_tokens: bool. Drop `<s>`, `</s>`, `<pad>`, `<mask>`...

    Returns:
        list of str.

    Example:

    ```python
    decode_tokens(tokenizer, inputs["token_ids"], inputs["padding_mask"])
    ```
    """
    token_ids = _to_numpy(token_ids)
    if token_ids.ndim != 2:
        raise ValueError(
            f"`token_ids` must be a `(batch, seq)` array. Received shape "
            f"{token_ids.shape}."
        )
    mask = (
        np.ones(token_ids.shape, bool)
        if padding_mask is None
        else _to_numpy(padding_mask).astype(bool)
    )
    special = set()
    if skip_special_tokens:
        special = set(getattr(tokenizer, "special_token_ids", None) or ())
    texts = []
    for row, keep in zip(token_ids, mask):
        ids = [int(i) for i in row[keep] if int(i) not in special]
        texts.append(_to_str(tokenizer.detokenize(ids)).strip() if ids else "")
    return texts


def decode_dreams(model, inputs, tokenizer, skip_special_tokens=True, batch_size=32):
    """The original texts and the M dreams of a `TextDreamNet`, as strings.

    Args:
        model: a `dreamkeras.models.TextDreamNet`.
        inputs: dict `{"token_ids", "padding_mask"}` of `(batch, seq)` arrays
            (a KerasHub preprocessor's output).
        tokenizer: the tokenizer of the model's preset.
        skip_special_tokens: bool. Drop special tokens from the strings.
        batch_size: int. Prediction batch size.

    Returns:
        list (one per example) of dicts `{"original": str, "dreams": [str, ...]}`
        with one dream per dream connection, first connection first.

    Example:

    ```python
    inputs = preprocessor(["Researchers seek to untangle the e-mail thread."])
    for row in decode_dreams(model, inputs, preprocessor.tokenizer):
        print(row["original"], *row["dreams"], sep="\\n")
    ```
    """
    if not hasattr(model, "dream_model"):
        raise ValueError(
            "`decode_dreams` needs a `dreamkeras.models.TextDreamNet` (a model "
            f"with dream connections). Received: {type(model).__name__}."
        )
    inputs = {key: _to_numpy(inputs[key]) for key in ("token_ids", "padding_mask")}
    dreams = model.dream_model().predict(inputs, batch_size=batch_size, verbose=0)
    if not isinstance(dreams, (list, tuple)):
        dreams = [dreams]
    mask = inputs["padding_mask"]
    original = decode_tokens(tokenizer, inputs["token_ids"], mask, skip_special_tokens)
    decoded = [
        decode_tokens(tokenizer, ids, mask, skip_special_tokens) for ids in dreams
    ]
    return [
        {"original": text, "dreams": [d[i] for d in decoded]}
        for i, text in enumerate(original)
    ]


def dream_texts(model, texts, preprocessor, skip_special_tokens=True, batch_size=32):
    """`decode_dreams` from raw strings, with the preset's preprocessor.

    Args:
        model: a `dreamkeras.models.TextDreamNet`.
        texts: list of str.
        preprocessor: a KerasHub text classifier preprocessor (e.g.
            `RobertaTextClassifierPreprocessor`) whose `tokenizer` decodes.
        skip_special_tokens: bool.
        batch_size: int.

    Returns:
        list of dicts `{"original": str, "dreams": [str, ...]}`; `original`
        is the text as the model saw it (after truncation).

    Example:

    ```python
    rows = dream_texts(model, ["E-mail is a victim of its own success."], preprocessor)
    ```
    """
    inputs = preprocessor(list(texts))
    if isinstance(inputs, tuple):
        inputs = inputs[0]
    return decode_dreams(
        model, inputs, preprocessor.tokenizer, skip_special_tokens, batch_size
    )
