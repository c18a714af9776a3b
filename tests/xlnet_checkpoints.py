"""Tiny Hugging Face XLNet checkpoints and SentencePiece models, made offline,
and the outputs compared with `transformers`.

`transformers` writes randomly initialised models with `save_pretrained`;
`sentencepiece` trains a small unigram model with XLNet's special pieces at
XLNet's ids (`<unk>` 0, `<s>` 1, `</s>` 2, `<cls>` 3, `<sep>` 4, `<pad>` 5,
`<mask>` 6, `<eod>` 7, `<eop>` 8).
"""

import os
import shutil

import keras
import numpy as np

CORPUS = [
    "the cat sat on the mat and the dog ran in the park",
    "stock market rose today as the team won the game in the rain",
    "science news: a new planet near a distant star",
    "Café prices fell in Zürich, the naïve critic said ``not bad''",
    "films, movies and tasty food; good, bad, great or awful reviews",
]
TINY = dict(d_model=32, n_layer=2, n_head=4, d_inner=37)


def train_spiece(folder, vocab_size=90):
    """Trains `folder/spiece.model`; returns its path."""
    import sentencepiece as spm

    os.makedirs(folder, exist_ok=True)
    corpus = os.path.join(folder, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as file:
        file.write("\n".join(CORPUS * 20))
    spm.SentencePieceTrainer.train(
        input=corpus,
        model_prefix=os.path.join(folder, "spiece"),
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        control_symbols="<cls>,<sep>,<pad>,<mask>,<eod>,<eop>",
        model_type="unigram",
        minloglevel=2,
    )
    os.remove(corpus)
    return os.path.join(folder, "spiece.model")


def vocabulary_size(spiece_path):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=spiece_path).get_piece_size()


def randomize(model, seed=0, scale=0.1):
    """Perturbs every parameter (zero-initialised biases included)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def save_checkpoint(
    folder, spiece_path, model_class="XLNetLMHeadModel", weights="safetensors",
    seed=0, **overrides,
):
    """Writes a random XLNet checkpoint folder; returns the `transformers` model.

    Args:
        weights: `"safetensors"` (`save_pretrained`) or `"bin"`: the state dict
            in `pytorch_model.bin`, as older `transformers` versions wrote it
            (tied LM weight included).
    """
    import torch
    import transformers

    config = transformers.XLNetConfig(
        vocab_size=vocabulary_size(spiece_path), **{**TINY, **overrides}
    )
    torch.manual_seed(seed)
    model = randomize(getattr(transformers, model_class)(config), seed)
    model.save_pretrained(folder)
    if weights == "bin":
        os.remove(os.path.join(folder, "model.safetensors"))
        torch.save(model.state_dict(), os.path.join(folder, "pytorch_model.bin"))
    shutil.copy(spiece_path, os.path.join(folder, "spiece.model"))
    return model


def random_inputs(vocab, batch=3, length=9, seed=0):
    """Token ids with left padding of different lengths per row."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(9, vocab, (batch, length)).astype("int32")
    mask = np.ones((batch, length), "int32")
    for row in range(1, batch):
        mask[row, : 2 * row] = 0
    ids = np.where(mask == 1, ids, 5)
    segments = np.zeros_like(ids)
    segments[:, -1] = 2  # `<cls>`'s segment, as XLNet's tokenizer sets it
    return ids, mask, segments


def hf_outputs(model, ids, mask, segments):
    """Last hidden states and logits (None without an LM head) of `transformers`."""
    import torch

    with torch.no_grad():
        out = model(
            input_ids=torch.from_numpy(ids).long(),
            attention_mask=torch.from_numpy(mask).float(),
            token_type_ids=torch.from_numpy(segments).long(),
            output_hidden_states=True,
        )
    logits = getattr(out, "logits", None)
    return out.hidden_states[-1].numpy(), None if logits is None else logits.numpy()


def max_diff(a, b, mask):
    """Largest difference at real tokens (padded positions are unused)."""
    return float(np.abs(np.where(mask[..., None] == 1, a - b, 0)).max())


def keras_outputs(masked_lm, ids, mask, segments):
    """Hidden states and logits at every position of an `XLNetMaskedLM`."""
    inputs = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
    hidden = keras.ops.convert_to_numpy(masked_lm.backbone(inputs))
    positions = np.tile(np.arange(ids.shape[1], dtype="int32"), (ids.shape[0], 1))
    logits = keras.ops.convert_to_numpy(masked_lm({**inputs, "mask_positions": positions}))
    return hidden, logits
