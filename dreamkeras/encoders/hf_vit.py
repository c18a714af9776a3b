"""Hugging Face ViT checkpoints through KerasHub's own converter.

KerasHub converts `transformers` ViT checkpoints in `ViTBackbone.from_preset`
(`keras_hub/src/utils/transformers/convert_vit.py`). Two gaps are closed here:

- `layer_norm_eps`: KerasHub keeps its default epsilon (1e-6) while the
  checkpoints use 1e-12; the checkpoint's value is passed on.
- `ViTModel` checkpoints (e.g. `google/vit-base-patch16-224-in21k`) name their
  tensors without the `vit.` prefix that KerasHub's converter asks for (it
  expects `ViTForImageClassification`), and `from_preset` fails on them. For
  those, KerasHub's converter functions run with a loader that adds the
  prefix back.
"""

import json
import os

import keras_hub

from dreamkeras.encoders.hf_config import image_and_patch_size

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
VIT_PREFIX = "vit."


def _tensor_names(folder):
    """Names of the tensors of a safetensors checkpoint, without reading them."""
    from safetensors import safe_open

    index_path = os.path.join(folder, SAFETENSORS_INDEX_FILE)
    if os.path.isfile(index_path):
        with open(index_path, encoding="utf-8") as file:
            return {
                name: os.path.join(folder, shard)
                for name, shard in json.load(file)["weight_map"].items()
            }
    path = os.path.join(folder, SAFETENSORS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No {SAFETENSORS_FILE} or {SAFETENSORS_INDEX_FILE} in {folder!r} "
            f"(found: {sorted(os.listdir(folder))}). KerasHub converts ViT "
            "checkpoints saved as safetensors; re-save it with "
            "`save_pretrained(..., safe_serialization=True)`."
        )
    with safe_open(path, framework="np") as file:
        return {name: path for name in file.keys()}


class _UnprefixedLoader:
    """Serves `vit.`-prefixed names from a checkpoint saved without them.

    Has the `port_weight` method that KerasHub's converters call.
    """

    def __init__(self, names):
        self.names = names
        self._files = {}

    def get_tensor(self, hf_weight_key):
        from safetensors import safe_open

        key = hf_weight_key
        if key not in self.names and key.startswith(VIT_PREFIX):
            key = key[len(VIT_PREFIX) :]
        if key not in self.names:
            raise ValueError(
                f"The checkpoint has no tensor {hf_weight_key!r} (nor {key!r})."
            )
        path = self.names[key]
        if path not in self._files:
            self._files[path] = safe_open(path, framework="np")
        return self._files[path].get_tensor(key)

    def port_weight(self, keras_variable, hf_weight_key, hook_fn=None):
        tensor = self.get_tensor(hf_weight_key)
        if hook_fn:
            tensor = hook_fn(tensor, list(keras_variable.shape))
        keras_variable.assign(tensor)


def load_hf_vit_folder(folder, hf_config, source=None, **kwargs):
    """Loads a local Hugging Face ViT checkpoint as a `ViTBackbone`.

    Args:
        folder: str. Folder with `config.json` and safetensors weights.
        hf_config: dict. Its parsed `config.json` (`model_type: "vit"`).
        source: str. What the user asked for, for error messages.
        **kwargs: passed to `ViTBackbone` (e.g. `dtype`).

    Returns:
        A `keras_hub.models.ViTBackbone` with the checkpoint's weights.

    Example:

    ```python
    vit = dreamkeras.encoders.hf_vit.load_hf_vit_folder(
        "./vit-base", json.load(open("./vit-base/config.json"))
    )
    ```
    """
    source = source or repr(folder)
    image_size, patch_size = image_and_patch_size(hf_config, source)
    activation = hf_config.get("hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(
            f"{source} uses hidden_act={activation!r}; KerasHub's ViTBackbone "
            "uses the exact 'gelu' only."
        )
    kwargs.setdefault("layer_norm_epsilon", hf_config.get("layer_norm_eps", 1e-12))
    names = _tensor_names(folder)
    if any(name.startswith(VIT_PREFIX) for name in names):
        # The regular path: KerasHub's public `from_preset` on the folder.
        return keras_hub.models.ViTBackbone.from_preset(folder, **kwargs)
    # A `ViTModel` checkpoint: KerasHub's converter, with the prefix added.
    from keras_hub.src.utils.transformers import convert_vit

    backbone = keras_hub.models.ViTBackbone(
        **{**convert_vit.convert_backbone_config(hf_config), **kwargs}
    )
    convert_vit.convert_weights(backbone, _UnprefixedLoader(names), hf_config)
    return backbone
