"""Converts Hugging Face XLNet checkpoints into `dreamkeras.models.XLNetBackbone`.

A checkpoint is a folder (or an `hf://` repository such as
`hf://xlnet/xlnet-base-cased`) with `config.json` (`model_type: "xlnet"`),
weights (`model.safetensors`, sharded safetensors with an index, or
`pytorch_model.bin`) and the SentencePiece model `spiece.model`. Every tensor
of the transformer is copied (word embedding, `mask_emb`, and per layer the
q/k/v/o/r projections, the three relative-attention biases, the segment
embedding, both layer norms and the feedforward layers), and, for
`XLNetLMHeadModel` checkpoints, the LM head's bias (its weight is the tied word
embedding). Parity with `transformers` is checked in `tests/test_xlnet.py`.
"""

import os

import numpy as np

from dreamkeras.encoders import hf_vit_mae
from dreamkeras.encoders.hf_config import check_model_type

HF_MODEL_TYPE = "xlnet"
TOKENIZER_FILE = "spiece.model"
PREFIX = "transformer."
LM_BIAS = "lm_loss.bias"
LM_WEIGHT = "lm_loss.weight"
EMBEDDING = "word_embedding.weight"
# Heads of other XLNet tasks, ignored when loading the transformer.
OTHER_HEADS = ("lm_loss.", "sequence_summary.", "logits_proj.", "qa_outputs.",
               "start_logits.", "end_logits.", "answer_class.")
LAYER_NORM_EPSILON = 1e-12  # KerasHub's XLNet layers use this value.
HUB_NAME = "hf://xlnet/xlnet-base-cased"
REQUIRED_KEYS = ("vocab_size", "d_model", "n_layer", "n_head", "d_inner")


def is_xlnet_config(hf_config):
    return isinstance(hf_config, dict) and hf_config.get("model_type") == HF_MODEL_TYPE


def convert_config(hf_config, source="the checkpoint"):
    """Returns `XLNetBackbone` keyword arguments for an XLNet `config.json`.

    Args:
        hf_config: dict. The checkpoint's `config.json`.
        source: str. Where it came from, for error messages.

    Returns:
        A dict of `dreamkeras.models.XLNetBackbone` arguments.

    Example:

    ```python
    kwargs = dreamkeras.encoders.hf_xlnet.convert_config(
        json.load(open("xlnet-base-cased/config.json"))
    )
    backbone = dreamkeras.models.XLNetBackbone(**kwargs)
    ```
    """
    from dreamkeras.models.xlnet.xlnet_backbone import HF_ACTIVATIONS

    check_model_type(hf_config, HF_MODEL_TYPE, "an XLNet", source)
    missing = [k for k in REQUIRED_KEYS if not isinstance(hf_config.get(k), int)]
    if missing:
        raise ValueError(
            f"The config.json of {source} lacks the integer entries {missing} "
            "of an XLNet config; re-download or re-save the checkpoint."
        )
    checks = [
        (
            hf_config.get("attn_type", "bi") == "bi",
            f"attn_type={hf_config.get('attn_type')!r}; only the bidirectional "
            "'bi' attention of the released XLNet checkpoints converts",
        ),
        (
            not hf_config.get("bi_data", False),
            "bi_data=True (a pretraining-only setting); set it to false in "
            "config.json",
        ),
        (
            hf_config.get("ff_activation", "gelu") in HF_ACTIVATIONS,
            f"ff_activation={hf_config.get('ff_activation')!r}; supported: "
            f"{sorted(HF_ACTIVATIONS)}",
        ),
        (
            abs(hf_config.get("layer_norm_eps", LAYER_NORM_EPSILON) - LAYER_NORM_EPSILON)
            <= 1e-15,
            f"layer_norm_eps={hf_config.get('layer_norm_eps')}; KerasHub's XLNet "
            f"layers use {LAYER_NORM_EPSILON} only",
        ),
        (
            hf_config["d_model"] % hf_config["n_head"] == 0
            and hf_config.get("d_head", hf_config["d_model"] // hf_config["n_head"])
            == hf_config["d_model"] // hf_config["n_head"],
            f"d_head={hf_config.get('d_head')} with d_model={hf_config['d_model']} "
            f"and n_head={hf_config['n_head']}; KerasHub's XLNet needs "
            "d_head = d_model / n_head",
        ),
    ]
    for ok, problem in checks:
        if not ok:
            raise ValueError(f"{source} has {problem}; it cannot be converted.")
    clamp = hf_config.get("clamp_len", -1)
    return dict(
        vocabulary_size=hf_config["vocab_size"],
        num_layers=hf_config["n_layer"],
        num_heads=hf_config["n_head"],
        hidden_dim=hf_config["d_model"],
        intermediate_dim=hf_config["d_inner"],
        dropout=hf_config.get("dropout", 0.1),
        activation=HF_ACTIVATIONS[hf_config.get("ff_activation", "gelu")],
        kernel_initializer_range=hf_config.get("initializer_range", 0.02),
        clamp_length=-1 if clamp is None else int(clamp),
    )


def normalize_key(key):
    """Checkpoint tensor name without the `transformer.` prefix of task models."""
    return key[len(PREFIX):] if key.startswith(PREFIX) else key


def _import_torch(path):
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"{path!r} is a PyTorch pickle; reading it needs torch. Install "
            "torch or convert the checkpoint to safetensors."
        ) from error
    return torch


def read_weights(folder, source=None):
    """Returns `{name: numpy array}` for an XLNet checkpoint folder.

    Names lose the `transformer.` prefix of `XLNetLMHeadModel` (and other
    task) checkpoints, so that `XLNetModel` checkpoints read the same.
    Unreadable files raise a `ValueError` that names them.
    """
    source = source or repr(folder)
    kind, paths = hf_vit_mae.weight_files(folder)
    tensors = {}
    for path in paths:
        try:
            if kind == "safetensors":
                from safetensors import safe_open

                with safe_open(path, framework="np") as file:
                    for key in file.keys():
                        tensors[normalize_key(key)] = file.get_tensor(key)
            else:
                torch = _import_torch(path)
                state = torch.load(path, map_location="cpu", weights_only=True)
                for key, value in state.items():
                    tensors[normalize_key(key)] = value.float().numpy()
        except ImportError:
            raise
        except Exception as error:  # noqa: BLE001 - corrupt files raise many types
            raise ValueError(
                f"Could not read the weights {path!r} of {source} "
                f"({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}); "
                "the file is corrupt or truncated: re-download or re-save the "
                "checkpoint."
            ) from error
    return tensors


class _Porter(hf_vit_mae._Porter):
    """Copies named XLNet tensors into Keras variables, checking shapes."""

    def get(self, key):
        if key not in self.tensors:
            raise ValueError(
                f"{self.source} has no tensor {key!r}, which an XLNet "
                f"checkpoint has (found {len(self.tensors)} tensors, first 8: "
                f"{sorted(self.tensors)[:8]}). Is it a complete XLNet checkpoint?"
            )
        return super().get(key)


def convert_weights(backbone, tensors, source="checkpoint"):
    """Copies XLNet checkpoint tensors into an `XLNetBackbone`.

    Args:
        backbone: `dreamkeras.models.XLNetBackbone` built with
            `convert_config(...)`.
        tensors: dict from `read_weights`.
        source: str. Where the tensors came from, for error messages.

    Returns:
        The set of tensor names used.
    """
    porter = _Porter(tensors, source)
    porter.port(backbone.token_embedding.embeddings, EMBEDDING)
    porter.port(backbone.attention_mask.mask_emb, "mask_emb")
    for i, layer in enumerate(backbone.transformer_layers):
        key = f"layer.{i}"
        attention = layer.relative_attention
        for dense, name in (
            (attention._query_dense, "q"),
            (attention._key_dense, "k"),
            (attention._value_dense, "v"),
            (attention._output_dense, "o"),
            (attention._encoding_dense, "r"),
        ):
            porter.port(dense.kernel, f"{key}.rel_attn.{name}")
        porter.port(layer.content_attention_bias, f"{key}.rel_attn.r_w_bias")
        porter.port(layer.positional_attention_bias, f"{key}.rel_attn.r_r_bias")
        porter.port(layer.segment_attention_bias, f"{key}.rel_attn.r_s_bias")
        porter.port(layer.segment_encoding, f"{key}.rel_attn.seg_embed")
        porter.layer_norm(layer.layer_norm, f"{key}.rel_attn.layer_norm")
        porter.layer_norm(layer.layer_norm_ff, f"{key}.ff.layer_norm")
        porter.dense(layer.feedforward_intermediate_dense, f"{key}.ff.layer_1")
        porter.dense(layer.feedforward_output_dense, f"{key}.ff.layer_2")
    unused = sorted(
        key for key in set(tensors) - porter.used if not key.startswith(OTHER_HEADS)
    )
    if unused:
        raise ValueError(
            f"{source} has {len(unused)} transformer tensors the converter did "
            f"not use (first 8: {unused[:8]}); its config.json probably declares "
            "fewer layers than the weights hold."
        )
    return porter.used


def has_lm_head(tensors):
    return LM_BIAS in tensors


def check_lm_head(tensors, source="checkpoint"):
    """Raises unless the tensors hold a tied XLNet LM head."""
    if not has_lm_head(tensors):
        raise ValueError(
            f"{source} has no LM head ({LM_BIAS}): it is an XLNetModel (or "
            "another task's) checkpoint. A DreamNet needs XLNetLMHeadModel "
            f"weights, e.g. {HUB_NAME}; use it with --model sleepnet otherwise."
        )
    if LM_WEIGHT in tensors and not np.allclose(
        tensors[LM_WEIGHT], tensors[EMBEDDING], atol=1e-6
    ):
        raise ValueError(
            f"{source} has an LM head weight that differs from its word "
            "embedding (tie_word_embeddings=false); dreamkeras' XLNet head is "
            "tied. Re-save the model with tied embeddings."
        )


def convert_lm_head(masked_lm, tensors, source="checkpoint"):
    """Copies the LM head's bias (its weight is the tied word embedding)."""
    check_lm_head(tensors, source)
    porter = _Porter(tensors, source)
    porter.port(masked_lm.masked_lm_head.bias, LM_BIAS)


def load_tokenizer(folder, source=None):
    """Returns the `XLNetTokenizer` of a checkpoint folder's `spiece.model`."""
    from dreamkeras.models.xlnet.xlnet_tokenizer import XLNetTokenizer

    source = source or repr(folder)
    path = os.path.join(folder, TOKENIZER_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No {TOKENIZER_FILE} in {source}: XLNet's tokenizer is that "
            "SentencePiece model. Copy it from the original repository (e.g. "
            f"{HUB_NAME}); transformers 5's save_pretrained writes only "
            "tokenizer.json, which dreamkeras does not read."
        )
    try:
        return XLNetTokenizer(proto=path)
    except Exception as error:  # noqa: BLE001 - sentencepiece raises many types
        raise ValueError(
            f"{path!r} is not a usable XLNet SentencePiece model "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}); "
            f"copy spiece.model again from the original repository (e.g. "
            f"{HUB_NAME})."
        ) from error


def load_xlnet_folder(folder, masked_lm=False, source=None, **kwargs):
    """Converts a local XLNet checkpoint folder.

    Args:
        folder: str. Folder with `config.json` and the weights.
        masked_lm: bool. Return an `XLNetMaskedLM` (needs an
            `XLNetLMHeadModel` checkpoint) instead of the backbone.
        source: str. What the user asked for, for error messages.
        **kwargs: `XLNetBackbone` overrides (e.g. `dtype`).

    Returns:
        A `dreamkeras.models.XLNetBackbone` or `XLNetMaskedLM`.

    Example:

    ```python
    backbone = dreamkeras.encoders.hf_xlnet.load_xlnet_folder("./xlnet-base-cased")
    ```
    """
    from dreamkeras.models.xlnet import XLNetBackbone
    from dreamkeras.models.xlnet import XLNetMaskedLM

    source = source or repr(folder)
    config = convert_config(hf_vit_mae.read_config(folder), source=source)
    tensors = read_weights(folder, source)
    if masked_lm:
        check_lm_head(tensors, source)
    backbone = XLNetBackbone(**{**config, **kwargs})
    convert_weights(backbone, tensors, source)
    if not masked_lm:
        return backbone
    model = XLNetMaskedLM(backbone)
    convert_lm_head(model, tensors, source)
    return model


def load_xlnet(name, masked_lm=False, **kwargs):
    """Returns `(tokenizer, model)` for an XLNet checkpoint name.

    Args:
        name: str. A local folder written by `save_pretrained` (with
            `spiece.model` next to it) or an `hf://` handle such as
            `"hf://xlnet/xlnet-base-cased"` (downloaded; needs the network,
            or `HF_HUB_OFFLINE=1` with the files in the Hugging Face cache).
        masked_lm: bool. Return an `XLNetMaskedLM` (for `TextDreamNet`)
            instead of an `XLNetBackbone` (for `TextSleepNet`).
        **kwargs: `XLNetBackbone` overrides (e.g. `dtype`).

    Returns:
        `(XLNetTokenizer, XLNetBackbone or XLNetMaskedLM)`.

    Raises:
        FileNotFoundError: a missing folder or file, or no network.
        ValueError: not an XLNet checkpoint, or unreadable files.

    Example:

    ```python
    tokenizer, masked_lm = dreamkeras.encoders.load_xlnet(
        "hf://xlnet/xlnet-base-cased", masked_lm=True
    )
    ```
    """
    from dreamkeras.encoders import loader

    source = loader.resolve_source(name)
    config = loader.read_config(source)
    if not is_xlnet_config(config):
        raise ValueError(
            f"{source.name!r} is not a Hugging Face XLNet checkpoint (its "
            f"config.json has model_type={config.get('model_type')!r})."
        )
    return _load(source, masked_lm, **kwargs)


def _load(source, masked_lm, **kwargs):
    from dreamkeras.encoders import loader

    folder = loader.hf_checkpoint_folder(source)
    if source.kind != "local":
        source.fetch(TOKENIZER_FILE)
    tokenizer = load_tokenizer(folder, repr(source.name))
    model = load_xlnet_folder(
        folder, masked_lm=masked_lm, source=repr(source.name), **kwargs
    )
    return tokenizer, model


def load_hf_text_encoder(name, model_kind):
    """`(tokenizer, encoder)` for the text apps, if `name` is an XLNet checkpoint.

    Args:
        name: str. The apps' `--encoder`.
        model_kind: str. The apps' `--model`: `"dreamnet"` gets an
            `XLNetMaskedLM`, `"sleepnet"` an `XLNetBackbone`, the baselines
            only the tokenizer (encoder None).

    Returns:
        `(tokenizer, encoder)`, or None when `name` is not a Hugging Face
        XLNet checkpoint (a KerasHub preset, another architecture): the
        caller then loads it with KerasHub.

    Example:

    ```python
    loaded = load_hf_text_encoder("hf://xlnet/xlnet-base-cased", "sleepnet")
    ```
    """
    from dreamkeras.encoders import loader

    if not isinstance(name, str):
        return None
    path = os.path.expanduser(name)
    if os.path.isdir(path):
        config_path = os.path.join(path, hf_vit_mae.HF_CONFIG_FILE)
        if not os.path.isfile(config_path):
            return None
    elif not name.startswith(loader.HF_PREFIX):
        return None
    source = loader.resolve_source(name)
    config = loader.read_config(source)
    if not is_xlnet_config(config):
        return None
    if model_kind not in ("dreamnet", "sleepnet"):
        folder = source.name if source.kind == "local" else os.path.dirname(
            source.fetch(TOKENIZER_FILE)
        )
        return load_tokenizer(folder, repr(source.name)), None
    return _load(source, masked_lm=model_kind == "dreamnet")
