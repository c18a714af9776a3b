"""Converts Hugging Face ViT-MAE checkpoints into `MAEAutoencoder`.

A checkpoint is a folder (or an `hf://` repository) with the `config.json` and
weights (`model.safetensors`, sharded safetensors with an index, or
`pytorch_model.bin`) that `transformers.ViTMAEForPreTraining.save_pretrained`
writes, e.g. `facebook/vit-mae-base`. Every tensor is copied: patch embedding,
class token, position embeddings, encoder blocks and final layer norm, decoder
embedding, mask token, decoder position embeddings, decoder blocks, decoder
norm and pixel head. Parity with `transformers` is checked in
`tests/test_hf_vit_mae.py`.
"""

import json
import os
import re

import numpy as np

from dreamkeras.encoders.hf_config import check_model_type
from dreamkeras.encoders.hf_config import image_and_patch_size

HF_MODEL_TYPE = "vit_mae"
HF_CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
PYTORCH_FILE = "pytorch_model.bin"

# transformers versions have written the same tensors under different names:
# the checkpoints on the Hub use the first form; transformers 5 names its
# modules with the second (and writes `decoder_encoder.layer` on save). Every
# key is brought to the Hub form before conversion.
_KEY_RULES = (
    (r"^(embeddings|encoder|layers|layernorm)\.", r"vit.\1."),
    (r"^decoder\.decoder_encoder\.layer\.", "decoder.decoder_layers."),
    (r"^vit\.layers\.", "vit.encoder.layer."),
    (r"\.attention\.q_proj\.", ".attention.attention.query."),
    (r"\.attention\.k_proj\.", ".attention.attention.key."),
    (r"\.attention\.v_proj\.", ".attention.attention.value."),
    (r"\.attention\.o_proj\.", ".attention.output.dense."),
    (r"\.mlp\.fc1\.", ".intermediate.dense."),
    (r"\.mlp\.fc2\.", ".output.dense."),
)


def normalize_key(key):
    """Returns the Hub-style name of a ViT-MAE checkpoint tensor."""
    for pattern, replacement in _KEY_RULES:
        key = re.sub(pattern, replacement, key)
    return key


def is_vit_mae_config(hf_config):
    return hf_config.get("model_type") == HF_MODEL_TYPE


def convert_config(hf_config, source="the checkpoint"):
    """Returns `MAEAutoencoder` keyword arguments for a ViT-MAE `config.json`.

    Args:
        hf_config: dict. The checkpoint's `config.json`.
        source: str. Where it came from, for error messages.

    Returns:
        A dict of `MAEAutoencoder` arguments.

    Example:

    ```python
    kwargs = dreamkeras.encoders.hf_vit_mae.convert_config(
        json.load(open("vit-mae-base/config.json"))
    )
    mae = dreamkeras.models.MAEAutoencoder(**kwargs)
    ```
    """
    check_model_type(hf_config, HF_MODEL_TYPE, "a ViT-MAE", source)
    activation = hf_config.get("hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(
            f"{source} uses hidden_act={activation!r}; the converter supports "
            "the exact 'gelu' of the ViT-MAE checkpoints only."
        )
    if not hf_config.get("qkv_bias", True):
        raise ValueError(
            f"{source} has qkv_bias=False; MAEAutoencoder's attention always "
            "has query/key/value biases. Only checkpoints with qkv_bias=True "
            "convert."
        )
    image_size, patch_size = image_and_patch_size(hf_config, source)
    return dict(
        image_shape=(image_size[0], image_size[1], hf_config.get("num_channels", 3)),
        patch_size=patch_size,
        num_layers=hf_config["num_hidden_layers"],
        num_heads=hf_config["num_attention_heads"],
        hidden_dim=hf_config["hidden_size"],
        mlp_dim=hf_config["intermediate_size"],
        decoder_num_layers=hf_config["decoder_num_hidden_layers"],
        decoder_num_heads=hf_config["decoder_num_attention_heads"],
        decoder_hidden_dim=hf_config["decoder_hidden_size"],
        decoder_mlp_dim=hf_config["decoder_intermediate_size"],
        mask_ratio=hf_config.get("mask_ratio", 0.75),
        norm_pix_loss=bool(hf_config.get("norm_pix_loss", False)),
        layer_norm_epsilon=hf_config.get("layer_norm_eps", 1e-12),
        dropout_rate=hf_config.get("hidden_dropout_prob", 0.0),
    )


def read_config(folder):
    """Reads `config.json` of a local checkpoint folder, with clear errors."""
    path = os.path.join(folder, HF_CONFIG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No {HF_CONFIG_FILE} in {folder!r}. Pass a folder written by "
            "`save_pretrained` (transformers) or `save_to_preset` (KerasHub, "
            "dreamkeras)."
        )
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Could not read {path!r} as JSON ({error}). Re-download or "
            "re-save the checkpoint."
        ) from error


def weight_files(folder):
    """The kind ("safetensors" or "torch") and paths of a checkpoint's weights."""
    index_path = os.path.join(folder, SAFETENSORS_INDEX_FILE)
    if os.path.isfile(index_path):
        with open(index_path, encoding="utf-8") as file:
            weight_map = json.load(file)["weight_map"]
        return "safetensors", sorted(
            os.path.join(folder, name) for name in set(weight_map.values())
        )
    for kind, name in (("safetensors", SAFETENSORS_FILE), ("torch", PYTORCH_FILE)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return kind, [path]
    raise FileNotFoundError(
        f"No weights in {folder!r}: expected {SAFETENSORS_FILE}, "
        f"{SAFETENSORS_INDEX_FILE} (sharded) or {PYTORCH_FILE}. Found: "
        f"{sorted(os.listdir(folder))}."
    )


def read_weights(folder):
    """Returns `{hub_style_name: numpy array}` for a checkpoint folder."""
    kind, paths = weight_files(folder)
    tensors = {}
    for path in paths:
        if kind == "safetensors":
            from safetensors import safe_open

            with safe_open(path, framework="np") as file:
                for key in file.keys():
                    tensors[normalize_key(key)] = file.get_tensor(key)
        else:
            try:
                import torch
            except ImportError as error:
                raise ImportError(
                    f"{path!r} is a PyTorch pickle; reading it needs torch. "
                    "Install torch or convert the checkpoint to safetensors."
                ) from error
            state = torch.load(path, map_location="cpu", weights_only=True)
            for key, value in state.items():
                tensors[normalize_key(key)] = value.float().numpy()
    return tensors


class _Porter:
    """Copies named checkpoint tensors into Keras variables, checking shapes."""

    def __init__(self, tensors, source):
        self.tensors = tensors
        self.source = source
        self.used = set()

    def get(self, key):
        if key not in self.tensors:
            raise ValueError(
                f"{self.source} has no tensor {key!r}, which a "
                "ViTMAEForPreTraining checkpoint has. Tensors found (first 8): "
                f"{sorted(self.tensors)[:8]}. Is it a complete ViT-MAE "
                "checkpoint?"
            )
        self.used.add(key)
        return np.asarray(self.tensors[key], dtype="float32")

    def port(self, variable, key, transform=None):
        value = self.get(key)
        if transform is not None:
            value = transform(value)
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"Tensor {key!r} of {self.source} has shape {value.shape} after "
                f"conversion, but the Keras variable {variable.path!r} has "
                f"shape {tuple(variable.shape)}. The config.json does not "
                "match the weights."
            )
        variable.assign(value)

    def dense(self, layer, key):
        self.port(layer.kernel, f"{key}.weight", lambda w: w.T)
        self.port(layer.bias, f"{key}.bias")

    def layer_norm(self, layer, key):
        self.port(layer.gamma, f"{key}.weight")
        self.port(layer.beta, f"{key}.bias")

    def attention(self, mha, key, num_heads):
        def split_heads(w):  # (out, in) -> (in, heads, head_dim)
            return w.T.reshape(w.shape[1], num_heads, -1)

        for name in ("query", "key", "value"):
            dense = getattr(mha, f"{name}_dense")
            self.port(dense.kernel, f"{key}.attention.{name}.weight", split_heads)
            self.port(
                dense.bias,
                f"{key}.attention.{name}.bias",
                lambda b: b.reshape(num_heads, -1),
            )
        self.port(
            mha.output_dense.kernel,
            f"{key}.output.dense.weight",
            lambda w: w.T.reshape(num_heads, -1, w.shape[0]),
        )
        self.port(mha.output_dense.bias, f"{key}.output.dense.bias")


def convert_weights(autoencoder, tensors, encoder_only=False, source="checkpoint"):
    """Copies ViT-MAE checkpoint tensors into a `MAEAutoencoder`.

    Args:
        autoencoder: `MAEAutoencoder` built with `convert_config(...)`.
        tensors: dict from `read_weights`: Hub-style names to arrays.
        encoder_only: bool. Copy the encoder only (a `ViTMAEModel`
            checkpoint has no decoder).
        source: str. Where the tensors came from, for error messages.
    """
    porter = _Porter(tensors, source)
    embedding = autoencoder._patch_embedding
    porter.port(
        embedding.patch_embedding.kernel,
        "vit.embeddings.patch_embeddings.projection.weight",
        lambda w: np.transpose(w, (2, 3, 1, 0)),
    )
    porter.port(
        embedding.patch_embedding.bias,
        "vit.embeddings.patch_embeddings.projection.bias",
    )
    porter.port(embedding.class_token, "vit.embeddings.cls_token")
    porter.port(
        embedding.position_embedding.embeddings,
        "vit.embeddings.position_embeddings",
        lambda p: p[0],
    )
    encoder = autoencoder.encoder.get_layer("vit_encoder")
    for i, block in enumerate(encoder.encoder_layers):
        key = f"vit.encoder.layer.{i}"
        porter.attention(block.mha, f"{key}.attention", block.num_heads)
        porter.layer_norm(block.layer_norm_1, f"{key}.layernorm_before")
        porter.layer_norm(block.layer_norm_2, f"{key}.layernorm_after")
        porter.dense(block.mlp.dense_1, f"{key}.intermediate.dense")
        porter.dense(block.mlp.dense_2, f"{key}.output.dense")
    porter.layer_norm(encoder.layer_norm, "vit.layernorm")
    if encoder_only:
        return

    decoder = autoencoder.decoder
    porter.dense(decoder.embed, "decoder.decoder_embed")
    porter.port(decoder.mask_token, "decoder.mask_token")
    porter.port(decoder.position_embedding, "decoder.decoder_pos_embed")
    for i, block in enumerate(decoder.blocks):
        key = f"decoder.decoder_layers.{i}"
        porter.attention(
            block._self_attention_layer, f"{key}.attention", decoder.num_heads
        )
        porter.layer_norm(block._self_attention_layer_norm, f"{key}.layernorm_before")
        porter.layer_norm(block._feedforward_layer_norm, f"{key}.layernorm_after")
        porter.dense(block._feedforward_intermediate_dense, f"{key}.intermediate.dense")
        porter.dense(block._feedforward_output_dense, f"{key}.output.dense")
    porter.layer_norm(decoder.norm, "decoder.decoder_norm")
    porter.dense(decoder.head, "decoder.decoder_pred")
    unused = sorted(set(tensors) - porter.used)
    if unused:
        raise ValueError(
            f"{source} has {len(unused)} tensors the converter did not use "
            f"(first 8: {unused[:8]}); its config.json probably declares fewer "
            "layers than the weights hold."
        )


def has_decoder(tensors):
    return any(key.startswith("decoder.") for key in tensors)


def load_vit_mae_folder(folder, encoder_only=False, **kwargs):
    """Converts a local ViT-MAE checkpoint folder into a `MAEAutoencoder`.

    Args:
        folder: str. Folder with `config.json` and the weights.
        encoder_only: bool. Allow checkpoints without a decoder (a
            `ViTMAEModel`); the decoder then keeps random weights and the
            caller must use `.encoder` only.
        **kwargs: `MAEAutoencoder` overrides (e.g. `mask_ratio`).

    Returns:
        A `dreamkeras.models.MAEAutoencoder`.

    Example:

    ```python
    mae = dreamkeras.encoders.hf_vit_mae.load_vit_mae_folder("./vit-mae-base")
    ```
    """
    from dreamkeras.models.mae.mae_autoencoder import MAEAutoencoder

    hf_config = read_config(folder)
    config = convert_config(hf_config, source=repr(folder))
    tensors = read_weights(folder)
    if not has_decoder(tensors) and not encoder_only:
        raise ValueError(
            f"{folder!r} holds a ViT-MAE encoder without its decoder (a "
            "ViTMAEModel checkpoint). A DreamConnection needs the decoder: "
            "pass a ViTMAEForPreTraining checkpoint (e.g. facebook/vit-mae-base), "
            "or use `load_encoder` for the encoder alone."
        )
    autoencoder = MAEAutoencoder(**{**config, **kwargs})
    convert_weights(
        autoencoder,
        tensors,
        encoder_only=encoder_only and not has_decoder(tensors),
        source=repr(folder),
    )
    return autoencoder
