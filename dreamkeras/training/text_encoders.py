"""Loading the frozen text encoder of a text run: tokenizer, backbone or masked LM.

`--encoder` names a KerasHub preset (`roberta_base_en`), a local preset
folder, or a Hugging Face XLNet checkpoint (`hf://...` or a local folder); a
missing or broken one is one clear error naming the fix.
"""

import json
import os

from dreamkeras_cli.config import TrainingSetupError


def _preset_error(preset, what, error):
    local = os.path.isdir(os.path.expanduser(preset))
    detail = str(error).splitlines()[0][:300] if str(error) else ""
    return TrainingSetupError(
        f"Could not load the {what} of --encoder {preset!r} ({type(error).__name__}: "
        f"{detail}). "
        + (
            ""
            if local
            else "Without network access, download the preset elsewhere, save it "
            "with save_to_preset and pass --encoder <local folder>. "
        )
        + "A small random preset: dreamkeras text-preset --corpus DIR --output DIR "
        "(or --fast-dev-run for a smoke test)."
    )


def load_text_encoder(model):
    """Loads the tokenizer and the frozen model a `TextModel` needs.

    Args:
        model: `dreamkeras_cli.config.TextModel`.

    Returns:
        `(tokenizer, encoder)`: a KerasHub tokenizer, and a masked LM
        (dreamnet), a backbone (sleepnet) or None (lstm, textcnn, charcnn:
        they use only the tokenizer).

    Example:

    ```python
    tokenizer, masked_lm = load_text_encoder(config.model)
    ```
    """
    import keras_hub

    preset = os.path.expanduser(model.encoder)
    looks_local = preset.startswith((".", "/", "~")) or os.sep in preset.split("://")[-1]
    if "://" not in preset and looks_local and not os.path.isdir(preset):
        raise TrainingSetupError(
            f"--encoder {model.encoder!r}: no such preset folder. Pass a folder "
            f"written by save_to_preset, a KerasHub preset name (roberta_base_en) "
            f"or an hf:// handle."
        )
    from dreamkeras.encoders.hf_xlnet import load_hf_text_encoder

    try:  # Hugging Face XLNet checkpoints, which dreamkeras converts.
        loaded = load_hf_text_encoder(preset, model.kind)
    except (OSError, ValueError) as error:
        raise _preset_error(model.encoder, "checkpoint", error) from error
    if loaded is not None:
        return loaded
    try:
        tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(preset)
    except Exception as error:
        raise _preset_error(model.encoder, "tokenizer", error) from error
    encoder = None
    try:
        if model.kind == "dreamnet":
            encoder = keras_hub.models.MaskedLM.from_preset(preset, preprocessor=None)
        elif model.kind == "sleepnet":
            encoder = keras_hub.models.Backbone.from_preset(preset)
    except TrainingSetupError:  # A --mesh that does not fit the encoder.
        raise
    except Exception as error:
        what = "masked LM" if model.kind == "dreamnet" else "backbone"
        raise _preset_error(model.encoder, what, error) from error
    return tokenizer, encoder


def encoder_width(preset, encoder=None):
    """The hidden size of a text encoder preset (its token embeddings' width).

    Read from the loaded encoder, else from a local `config.json` (a
    KerasHub preset's `hidden_dim`, a Hugging Face checkpoint's `d_model` or
    `hidden_size`), else from the KerasHub preset's architecture built
    without weights; None when none of them says.

    Example:

    ```python
    encoder_width("roberta_base_en")  # 768
    ```
    """
    if encoder is not None:
        return int(getattr(encoder, "backbone", encoder).hidden_dim)
    config_path = os.path.join(os.path.expanduser(preset), "config.json")
    if os.path.exists(config_path):
        with open(config_path) as f:
            config = json.load(f)
        for value in (config.get("config", {}).get("hidden_dim"), config.get("d_model"),
                      config.get("hidden_size")):
            if value:
                return int(value)
        return None
    import keras_hub

    try:
        return int(keras_hub.models.Backbone.from_preset(preset, load_weights=False).hidden_dim)
    except Exception:  # Not a KerasHub preset (a Hugging Face XLNet handle).
        return None


def load_text_preprocessor(model):
    """The tokenizer, frozen model and preprocessor of a `TextModel`.

    Returns:
        `(tokenizer, encoder, preprocessor)`: as `load_text_encoder`, and
        the preprocessor that packs texts to `model.max_length` tokens.

    Raises:
        TrainingSetupError: the encoder cannot load, or takes fewer
            positions than `--max-length`.

    Example:

    ```python
    tokenizer, encoder, preprocessor = load_text_preprocessor(config.model)
    ```
    """
    from dreamkeras.text import make_preprocessor

    tokenizer, encoder = load_text_encoder(model)
    backbone = getattr(encoder, "backbone", encoder)
    try:
        preprocessor = make_preprocessor(tokenizer, model.max_length, backbone)
    except ValueError as error:
        raise TrainingSetupError(f"--encoder {model.encoder!r}: {error}") from error
    return tokenizer, encoder, preprocessor
