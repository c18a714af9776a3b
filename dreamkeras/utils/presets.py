"""Local preset folders in KerasHub's layout for dreamkeras models.

KerasHub's `Backbone.save_to_preset` writes a folder with `config.json` (the
`keras.saving.serialize_keras_object` config, with its registered class name,
minus `compile_config` and `build_config`), `model.weights.h5` and
`metadata.json`. KerasHub only offers that saver on its own `Backbone`
subclasses and keeps the implementation private
(`keras_hub/src/utils/preset_utils.py`, `KerasPresetSaver`), so this module
writes the same files for any serialisable Keras model, such as
`MAEAutoencoder`.
"""

import contextlib
import datetime
import json
import os

import keras

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
_SKIPPED_KEYS = ("compile_config", "build_config")


def _pop_recursive(config, key):
    config.pop(key, None)
    for value in config.values():
        if isinstance(value, dict):
            _pop_recursive(value, key)


def save_preset(model, preset_dir):
    """Saves a Keras model to a preset folder in KerasHub's layout.

    A new folder appears whole or not at all: it is written under a
    temporary name next to `preset_dir` and renamed. In an existing folder
    each file is replaced atomically (other files there are kept).

    Args:
        model: a serialisable `keras.Model` (e.g. `MAEAutoencoder`).
        preset_dir: str. Folder to write (created if needed).

    Example:

    ```python
    mae = dreamkeras.encoders.load_autoencoder("mae-tiny-32")
    dreamkeras.encoders.save_preset(mae, "./my_mae")
    mae = dreamkeras.encoders.load_preset("./my_mae")
    ```
    """
    from dreamkeras.utils import atomic

    if not os.path.exists(preset_dir):
        parent = os.path.dirname(os.path.abspath(preset_dir))
        os.makedirs(parent, exist_ok=True)
        with atomic.replacing(preset_dir) as temporary:
            os.makedirs(temporary)
            _write_preset_files(model, temporary)
        return
    _write_preset_files(model, preset_dir, atomic.replacing)


def _write_preset_files(model, preset_dir, replacing=None):
    from dreamkeras.version import __version__

    writing = replacing or (lambda path: contextlib.nullcontext(path))
    config = keras.saving.serialize_keras_object(model)
    for key in _SKIPPED_KEYS:
        _pop_recursive(config, key)
    with writing(os.path.join(preset_dir, WEIGHTS_FILE)) as path:
        model.save_weights(path)
    try:
        import keras_hub

        keras_hub_version = keras_hub.__version__
    except ImportError:  # pragma: no cover - keras_hub is a dependency.
        keras_hub_version = None
    metadata = {
        "keras_version": keras.version(),
        "keras_hub_version": keras_hub_version,
        "dreamkeras_version": __version__,
        "parameter_count": model.count_params(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "tasks": [],
    }
    for name, content in ((METADATA_FILE, metadata), (CONFIG_FILE, config)):
        with writing(os.path.join(preset_dir, name)) as path:
            with open(path, "w", encoding="utf-8") as file:
                file.write(json.dumps(content, indent=4))


def read_preset_config(preset_dir):
    """Returns the parsed `config.json` of a local preset, with clear errors."""
    if not os.path.isdir(preset_dir):
        raise FileNotFoundError(
            f"Preset folder {preset_dir!r} does not exist or is not a folder. "
            "Pass a folder written by `save_to_preset`."
        )
    path = os.path.join(preset_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No {CONFIG_FILE} in {preset_dir!r} (found: "
            f"{sorted(os.listdir(preset_dir))}). Pass a folder written by "
            "`save_to_preset` or by transformers' `save_pretrained`."
        )
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Could not read {path!r} as JSON ({error}). Save the preset again."
        ) from error


def load_preset(preset_dir, load_weights=True, **kwargs):
    """Loads a model saved by `save_preset` (or `MAEAutoencoder.save_to_preset`).

    Args:
        preset_dir: str. A local preset folder.
        load_weights: bool. Load `model.weights.h5`; `False` keeps the
            architecture's initial weights.
        **kwargs: overrides of the saved config (e.g. `mask_ratio`).

    Returns:
        The deserialised model.

    Example:

    ```python
    mae = dreamkeras.encoders.load_preset("./my_mae")
    ```
    """
    import dreamkeras  # noqa: F401  Registers the dreamkeras classes.

    config = read_preset_config(preset_dir)
    registered_name = config.get("registered_name")
    if registered_name is None or "config" not in config:
        raise ValueError(
            f"{os.path.join(preset_dir, CONFIG_FILE)!r} is not a Keras preset "
            "config (no 'registered_name'/'config'). Found keys: "
            f"{sorted(config)}."
        )
    if keras.saving.get_registered_object(registered_name) is None:
        raise ValueError(
            f"The preset in {preset_dir!r} holds a {registered_name!r}, a class "
            "that is not registered with Keras. Import the library that "
            "defines it first."
        )
    config = dict(config)
    config["config"] = {**config["config"], **kwargs}
    model = keras.saving.deserialize_keras_object(config)
    if load_weights:
        weights_path = os.path.join(preset_dir, WEIGHTS_FILE)
        if not os.path.isfile(weights_path):
            raise FileNotFoundError(
                f"No {WEIGHTS_FILE} in {preset_dir!r}. Save the preset again, or "
                "pass `load_weights=False` for the architecture alone."
            )
        model.load_weights(weights_path)
    return model
