"""Checks shared by the Hugging Face `config.json` converters.

`hf_vit`, `hf_vit_mae` and `hf_xlnet` read a checkpoint's `config.json`;
the checks they have in common (the model type, the image and patch sizes of
the vision transformers) raise the same messages from here.
"""


def pair(value):
    """`(value, value)` for an int, else the two ints of `value`."""
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


def check_model_type(hf_config, model_type, name, source="the checkpoint"):
    """Raises a `ValueError` unless `hf_config` has `model_type`.

    Args:
        hf_config: dict. The checkpoint's `config.json`.
        model_type: str. The expected `model_type`, e.g. `"vit_mae"`.
        name: str. The model's name with its article, e.g. `"a ViT-MAE"`.
        source: str. Where the config came from, for the message.
    """
    found = hf_config.get("model_type")
    if found != model_type:
        raise ValueError(
            f"{source} is not {name} checkpoint: its config.json has "
            f"model_type={found!r}, expected {model_type!r}."
        )


def image_and_patch_size(hf_config, source="the checkpoint"):
    """The `(height, width)` image and patch sizes of a ViT `config.json`.

    Args:
        hf_config: dict. The checkpoint's `config.json` (`image_size` and
            `patch_size` default to 224 and 16, as in `transformers`).
        source: str. Where the config came from, for the message.

    Returns:
        `(image_size, patch_size)`, two pairs of ints.

    Raises:
        ValueError: the patch size does not divide the image size.
    """
    image_size = pair(hf_config.get("image_size", 224))
    patch_size = pair(hf_config.get("patch_size", 16))
    if image_size[0] % patch_size[0] or image_size[1] % patch_size[1]:
        raise ValueError(
            f"{source} has a patch_size {patch_size} that does not divide its "
            f"image_size {image_size}. Fix config.json: the image size must be "
            "a multiple of the patch size."
        )
    return image_size, patch_size
