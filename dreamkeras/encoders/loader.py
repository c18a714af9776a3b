"""Loads frozen encoders and autoencoders by one name.

A name is one of:

- a named size from `named_sizes()` (`"mae-tiny-32"`, `"vit-b16-224"`, ...):
  an architecture with RANDOM weights, for tests and benchmarks (a loud
  warning is logged);
- a local folder: a preset written by `save_to_preset` (KerasHub's or
  `MAEAutoencoder`'s), or a Hugging Face checkpoint written by
  `save_pretrained` (`config.json` + `model.safetensors`) of a ViT
  (`model_type: "vit"`, converted by KerasHub) or a ViT-MAE
  (`model_type: "vit_mae"`, converted by `dreamkeras.encoders.hf_vit_mae`);
- `hf://org/model` (e.g. `hf://facebook/vit-mae-base`,
  `hf://google/vit-base-patch16-224`): the same, downloaded from the Hub;
- `kaggle://org/model/keras/variant[/version]` or a KerasHub preset name
  (e.g. `vit_base_patch16_224_imagenet`), through `keras_hub`'s `from_preset`.

Remote names need the network. Without it they fail within seconds with a
`FileNotFoundError` that says so (a quick connection check runs first, since
`huggingface_hub` otherwise retries for about 25 s). With files already in the
Hugging Face cache, set `HF_HUB_OFFLINE=1` to use them offline.
"""

import json
import logging
import os
import socket
from urllib.parse import urlparse

import keras_hub

from dreamkeras.encoders import hf_vit_mae
from dreamkeras.utils import presets
from dreamkeras.encoders.configs import MAE_CONFIGS
from dreamkeras.encoders.configs import VIT_CONFIGS
from dreamkeras.models.mae.mae_autoencoder import MAEAutoencoder

logger = logging.getLogger("dreamkeras")

RANDOM_WEIGHTS_WARNING = (
    "dreamkeras: '{name}' is a named architecture with RANDOM weights, not a "
    "pretrained model. Use it for tests and benchmarks; pass a preset (a local "
    "folder written by save_to_preset, a Kaggle handle or an hf:// handle) for "
    "real training."
)
HF_PREFIX = "hf://"
KAGGLE_PREFIX = "kaggle://"
MAE_REGISTERED_NAME = "dreamkeras>MAEAutoencoder"
# Hugging Face model types an image encoder can be loaded from.
HF_IMAGE_ENCODER_TYPES = ("vit", hf_vit_mae.HF_MODEL_TYPE)
CONNECT_TIMEOUT_S = 5.0


def _warn_random(name):
    logger.warning(RANDOM_WEIGHTS_WARNING.format(name=name))


def named_sizes():
    """Returns the names of the random-weight architectures."""
    return sorted(MAE_CONFIGS) + sorted(VIT_CONFIGS)


# --- Where the files come from -------------------------------------------


class _Source:
    """A preset's location: a local folder, an `hf://` or a Kaggle handle."""

    def __init__(self, name, kind, handle=None):
        self.name = name  # What the user asked for.
        self.kind = kind  # "local", "hf" or "kaggle".
        self.handle = handle  # Repo id or Kaggle handle without the scheme.

    @property
    def keras_hub_name(self):
        # What `keras_hub`'s `from_preset` understands for this source.
        if self.kind == "kaggle":
            return KAGGLE_PREFIX + self.handle
        return self.name

    def fetch(self, filename):
        """Returns a local path to `filename`, or raises FileNotFoundError."""
        if self.kind == "local":
            path = os.path.join(self.name, filename)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"No {filename} in {self.name!r}.")
            return path
        try:
            if self.kind == "hf":
                import huggingface_hub

                return huggingface_hub.hf_hub_download(self.handle, filename)
            import kagglehub

            return kagglehub.model_download(self.handle, filename)
        except OSError as error:  # Missing file, or the connection dropped.
            raise FileNotFoundError(
                f"Could not fetch {filename} of {self.name!r}: {error}"
            ) from error
        except ValueError as error:
            # kagglehub reports a file missing from a model this way.
            if "not present in the model files" in str(error):
                raise FileNotFoundError(
                    f"{filename} is not part of {self.name!r}."
                ) from error
            raise

    def folder_with(self, *filenames):
        """Fetches `filenames` (all required) and returns their folder."""
        paths = [self.fetch(filename) for filename in filenames]
        return os.path.dirname(paths[0])


def _check_online(source):
    """Fails fast, with a clear message, when a remote source is unreachable."""
    if source.kind == "local":
        return
    if source.kind == "hf":
        import huggingface_hub.constants

        if huggingface_hub.constants.HF_HUB_OFFLINE:
            return  # The user asked for the cache only.
        host = urlparse(huggingface_hub.constants.ENDPOINT).hostname
    else:
        endpoint = os.environ.get("KAGGLE_API_ENDPOINT", "https://api.kaggle.com")
        host = urlparse(endpoint).hostname
    if any(
        os.environ.get(var)
        for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    ):
        return  # Behind a proxy the host itself may not resolve.
    try:
        socket.create_connection((host, 443), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        if source.kind == "hf":
            advice = (
                "`huggingface-cli download ORG/MODEL --local-dir FOLDER` where "
                "there is a network, then pass FOLDER; if the files are already "
                "in the Hugging Face cache, set HF_HUB_OFFLINE=1"
            )
        else:
            advice = (
                "`keras_hub.models.Backbone.from_preset(NAME).save_to_preset("
                "FOLDER)` where there is a network, then pass FOLDER"
            )
        raise FileNotFoundError(
            f"Cannot load {source.name!r}: {host} is unreachable ({error}); "
            f"there seems to be no network. Run {advice}."
        ) from error


def resolve_source(name):
    """Classifies a name that is not a named size; raises on anything else."""
    if not isinstance(name, str) or not name:
        raise ValueError(
            "The encoder name must be a non-empty string: a named size, a local "
            f"folder, an hf:// or kaggle:// handle. Received: {name!r}."
        )
    if name.startswith(HF_PREFIX):
        handle = name[len(HF_PREFIX) :].strip("/")
        if handle.count("/") != 1:
            raise ValueError(
                "Hugging Face handles have the form 'hf://org/model' (e.g. "
                f"'hf://facebook/vit-mae-base'). Received: {name!r}."
            )
        return _Source(name, "hf", handle)
    if name.startswith(KAGGLE_PREFIX):
        return _Source(name, "kaggle", name[len(KAGGLE_PREFIX) :].strip("/"))
    if "://" in name:
        raise ValueError(
            f"Unsupported scheme in {name!r}. Use a local folder, 'hf://org/model' "
            "or 'kaggle://org/model/keras/variant'."
        )
    builtin = keras_hub.models.Backbone.presets.get(name)
    if builtin is not None:
        handle = builtin["kaggle_handle"]
        return _Source(name, "kaggle", handle[len(KAGGLE_PREFIX) :])
    path = os.path.expanduser(name)
    if os.path.isdir(path):
        return _Source(path, "local")
    if os.path.exists(path):
        raise ValueError(
            f"{name!r} is a file, not a preset folder. Pass the folder that holds "
            "config.json and the weights (for a whole `.keras` model use "
            "`keras.saving.load_model`)."
        )
    raise FileNotFoundError(
        f"{name!r} is neither a named size ({named_sizes()}), nor an existing "
        "folder, nor an 'hf://'/'kaggle://' handle or KerasHub preset name. "
        "Pass a local folder written by `save_to_preset` or `save_pretrained`, "
        "or a handle."
    )


def read_config(source):
    """The config.json of a preset or checkpoint source, as a dict."""
    if source.kind == "local":
        if not os.path.isfile(os.path.join(source.name, presets.CONFIG_FILE)):
            raise FileNotFoundError(
                f"No config.json in {source.name!r} (found: "
                f"{sorted(os.listdir(source.name))}). Pass a folder written by "
                "`save_to_preset` (KerasHub, dreamkeras) or `save_pretrained` "
                "(transformers)."
            )
        path = os.path.join(source.name, presets.CONFIG_FILE)
    else:
        _check_online(source)
        path = source.fetch(presets.CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Could not read the config.json of {source.name!r} as JSON "
            f"({error}). Re-download or re-save it."
        ) from error
    if not isinstance(config, dict):
        raise ValueError(f"The config.json of {source.name!r} is not a JSON object.")
    return config


def hf_checkpoint_folder(source):
    """A local folder with config.json and the weights of an HF checkpoint."""
    if source.kind == "local":
        return source.name
    folder = source.folder_with(hf_vit_mae.HF_CONFIG_FILE)
    try:
        index = source.fetch(hf_vit_mae.SAFETENSORS_INDEX_FILE)
    except FileNotFoundError:
        index = None
    if index is not None:
        with open(index, encoding="utf-8") as file:
            shards = sorted(set(json.load(file)["weight_map"].values()))
        for shard in shards:
            source.fetch(shard)
        return folder
    for filename in (hf_vit_mae.SAFETENSORS_FILE, hf_vit_mae.PYTORCH_FILE):
        try:
            source.fetch(filename)
            return folder
        except FileNotFoundError:
            continue
    raise FileNotFoundError(
        f"{source.name!r} has a config.json but no {hf_vit_mae.SAFETENSORS_FILE}, "
        f"sharded safetensors or {hf_vit_mae.PYTORCH_FILE}."
    )


def _kind_of(config, source):
    """Returns ("keras", registered_name) or ("hf", model_type)."""
    if "registered_name" in config:
        return "keras", config["registered_name"]
    if "model_type" in config:
        return "hf", config["model_type"]
    raise ValueError(
        f"The config.json of {source.name!r} is neither a Keras preset (no "
        "'registered_name') nor a Hugging Face config (no 'model_type'). "
        f"Found keys: {sorted(config)[:10]}."
    )


def _unsupported_hf_type(source, model_type, wanted):
    return ValueError(
        f"{source.name!r} is a Hugging Face {model_type!r} checkpoint; "
        f"dreamkeras loads {wanted} from: "
        + (
            "'vit' (through KerasHub's converter) and 'vit_mae' (through "
            "dreamkeras.encoders.hf_vit_mae)"
            if wanted == "image encoders"
            else "'vit_mae' (ViTMAEForPreTraining, e.g. hf://facebook/vit-mae-base)"
        )
        + ". For another KerasHub image backbone, load it with "
        "`keras_hub.models.Backbone.from_preset(...)` and pass the object."
    )


# --- Loading -----------------------------------------------------------------


def _load_mae_preset(source, **kwargs):
    if source.kind == "local":
        folder = source.name
    else:
        folder = source.folder_with(presets.CONFIG_FILE, presets.WEIGHTS_FILE)
    return presets.load_preset(folder, **kwargs)


def _load_hf_vit(source, config, **kwargs):
    """A Hugging Face ViT through KerasHub's converter."""
    from dreamkeras.encoders.hf_vit import load_hf_vit_folder

    folder = hf_checkpoint_folder(source)
    return load_hf_vit_folder(folder, config, source=repr(source.name), **kwargs)


def _load_keras_hub_backbone(source, **kwargs):
    try:
        return keras_hub.models.Backbone.from_preset(source.keras_hub_name, **kwargs)
    except OSError as error:
        raise FileNotFoundError(
            f"KerasHub could not load {source.name!r}: {error}. Without network, "
            "pass a local preset folder written by `save_to_preset`."
        ) from error


def _check_image_encoder(encoder, source):
    from dreamkeras.layers.encoder_spec import describe_image_encoder

    try:
        describe_image_encoder(encoder)
    except ValueError as error:
        raise ValueError(
            f"{source.name!r} holds a {type(encoder).__name__}, which is not a "
            f"ViT-style image encoder: {error}"
        ) from error
    return encoder


def load_autoencoder(name, **kwargs):
    """Returns a `MAEAutoencoder` for a name.

    Args:
        name: str. A named size from `named_sizes()` (random weights, with a
            warning); a local folder written by `MAEAutoencoder.save_to_preset`
            or a Hugging Face ViT-MAE checkpoint folder (`config.json` +
            `model.safetensors`); `hf://facebook/vit-mae-base` (or another
            ViT-MAE repository); a Kaggle handle of a dreamkeras preset.
        **kwargs: overrides of the configuration (e.g. `mask_ratio`).

    Returns:
        A `dreamkeras.models.MAEAutoencoder`.

    Raises:
        FileNotFoundError: the folder or its files are missing, or a remote
            handle cannot be reached.
        ValueError: the checkpoint is not an autoencoder dreamkeras converts.

    Example:

    ```python
    mae = dreamkeras.encoders.load_autoencoder("mae-tiny-32")
    mae = dreamkeras.encoders.load_autoencoder("hf://facebook/vit-mae-base")
    ```
    """
    if isinstance(name, str) and name in MAE_CONFIGS:
        _warn_random(name)
        return MAEAutoencoder(**{**MAE_CONFIGS[name], **kwargs})
    if isinstance(name, str) and name in VIT_CONFIGS:
        raise ValueError(
            f"{name!r} is an encoder size without a decoder. Autoencoder sizes: "
            f"{sorted(MAE_CONFIGS)}; use `load_encoder({name!r})` for SleepNet."
        )
    source = resolve_source(name)
    config = read_config(source)
    kind, what = _kind_of(config, source)
    if kind == "keras":
        if what != MAE_REGISTERED_NAME:
            raise ValueError(
                f"{source.name!r} is a {what!r} preset, not a dreamkeras "
                "MAEAutoencoder. A DreamNet needs an encoder and a decoder: pass "
                "a ViT-MAE checkpoint (e.g. 'hf://facebook/vit-mae-base') or a "
                "folder written by `MAEAutoencoder.save_to_preset`; for an "
                "encoder alone use `load_encoder`."
            )
        return _load_mae_preset(source, **kwargs)
    if what != hf_vit_mae.HF_MODEL_TYPE:
        raise _unsupported_hf_type(source, what, "autoencoders")
    folder = hf_checkpoint_folder(source)
    return hf_vit_mae.load_vit_mae_folder(folder, **kwargs)


def load_encoder(name, **kwargs):
    """Returns a ViT-style image encoder for a name.

    Args:
        name: str. A named ViT size (random weights, with a warning); a named
            MAE size (its encoder half); a local preset folder (KerasHub
            `save_to_preset`, or `MAEAutoencoder.save_to_preset`: its
            encoder); a local Hugging Face checkpoint folder of a ViT or a
            ViT-MAE (its encoder); `hf://google/vit-base-patch16-224`,
            `hf://facebook/vit-mae-base`; a Kaggle handle or a KerasHub
            preset name such as `"vit_base_patch16_224_imagenet"`.
        **kwargs: overrides of the configuration, passed to the constructor
            or to KerasHub's `from_preset` (e.g. `dtype`).

    Returns:
        A `keras_hub.models.ViTBackbone` (or another ViT-style KerasHub
        backbone).

    Raises:
        FileNotFoundError: the folder or its files are missing, or a remote
            handle cannot be reached.
        ValueError: the checkpoint is not an image encoder dreamkeras loads.

    Example:

    ```python
    vit = dreamkeras.encoders.load_encoder("vit-tiny-32")
    vit = dreamkeras.encoders.load_encoder("vit_base_patch16_224_imagenet")
    ```
    """
    if isinstance(name, str) and name in VIT_CONFIGS:
        _warn_random(name)
        return keras_hub.models.ViTBackbone(**{**VIT_CONFIGS[name], **kwargs})
    if isinstance(name, str) and name in MAE_CONFIGS:
        return load_autoencoder(name, **kwargs).encoder
    source = resolve_source(name)
    config = read_config(source)
    kind, what = _kind_of(config, source)
    if kind == "keras":
        if what == MAE_REGISTERED_NAME:
            return _load_mae_preset(source, **kwargs).encoder
        encoder = _load_keras_hub_backbone(source, **kwargs)
        return _check_image_encoder(encoder, source)
    if what == hf_vit_mae.HF_MODEL_TYPE:
        folder = hf_checkpoint_folder(source)
        return hf_vit_mae.load_vit_mae_folder(folder, encoder_only=True, **kwargs).encoder
    if what == "vit":
        return _load_hf_vit(source, config, **kwargs)
    raise _unsupported_hf_type(source, what, "image encoders")


def encoder_image_shape(name):
    """Returns the input `(height, width, channels)` of the encoder `name`.

    Named sizes are read from their configuration without building them.
    """
    for configs in (MAE_CONFIGS, VIT_CONFIGS):
        if name in configs:
            return tuple(configs[name]["image_shape"])
    return tuple(load_encoder(name).image_shape)


def _mae_from_preset(preset, **kwargs):
    """`MAEAutoencoder.from_preset`: a folder or handle, never a named size."""
    if preset in MAE_CONFIGS:
        raise ValueError(
            f"{preset!r} is a named random-weight size, not a preset. Use "
            "`dreamkeras.encoders.load_autoencoder` for it, or pass a folder "
            "or handle."
        )
    return load_autoencoder(preset, **kwargs)


# The model does not import this loader (which imports the model): the
# loader registers itself with the model.
MAEAutoencoder.preset_loader = staticmethod(_mae_from_preset)
