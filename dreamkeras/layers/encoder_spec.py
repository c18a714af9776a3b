"""Reads what a connection needs to know about a frozen image encoder."""

import math
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class ImageEncoderSpec:
    """The input and token layout of a ViT-style image encoder.

    Attributes:
        image_size: (int, int). The encoder's input height and width.
        num_channels: int. The encoder's input channels.
        grid_size: (int, int). Rows and columns of the patch-token grid.
        hidden_dim: int. Width of each token.
        num_prefix_tokens: int. Tokens before the patch tokens (class token).
    """

    image_size: tuple
    num_channels: int
    grid_size: tuple
    hidden_dim: int
    num_prefix_tokens: int

    @property
    def num_patches(self):
        return self.grid_size[0] * self.grid_size[1]


def _pair(value):
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


def _not_an_image_encoder(encoder, problem):
    return ValueError(
        f"`encoder` must be a ViT-style image backbone (for example "
        f"`keras_hub.models.ViTBackbone` or `MAEAutoencoder(...).encoder`) that "
        f"maps `(batch, height, width, channels)` images to a "
        f"`(batch, tokens, hidden_dim)` sequence of patch tokens. {problem} "
        f"Received: encoder={encoder!r}."
    )


def is_autoencoder(model):
    """Whether `model` is a masked autoencoder such as `MAEAutoencoder`.

    Read from what a `DreamConnection` calls: an `encode` method, a
    `decoder` and an `unpatchify` method.
    """
    return all(
        callable(getattr(model, name, None))
        for name in ("encode", "decoder", "unpatchify")
    )


def describe_image_encoder(encoder):
    """Returns the `ImageEncoderSpec` of `encoder`, or raises a clear error.

    The encoder must be a Keras layer with one `channels_last` image input and a
    token-sequence output whose last `grid_h * grid_w` tokens are the patch
    tokens (any leading tokens, such as ViT's class token, are skipped).

    Args:
        encoder: `keras.layers.Layer`. A ViT-style image backbone.

    Returns:
        An `ImageEncoderSpec`.

    Example:

    ```python
    vit = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32,
    )
    spec = dreamkeras.layers.describe_image_encoder(vit)
    spec.grid_size  # (4, 4)
    ```
    """
    if is_autoencoder(encoder):
        raise ValueError(
            "`encoder` is a full `MAEAutoencoder`. A SleepConnection uses the "
            "encoder half only: pass `autoencoder.encoder`, or use a "
            "`DreamConnection` for the full autoencoder."
        )
    if not isinstance(encoder, keras.layers.Layer):
        raise _not_an_image_encoder(encoder, "It is not a Keras layer.")
    if getattr(encoder, "data_format", "channels_last") != "channels_last":
        raise _not_an_image_encoder(
            encoder,
            f"Only `channels_last` encoders are supported; this one uses "
            f"data_format={encoder.data_format!r}.",
        )

    image_shape = getattr(encoder, "image_shape", None)
    if image_shape is None:
        inputs = getattr(encoder, "inputs", None)
        if not inputs or len(inputs) != 1:
            raise _not_an_image_encoder(
                encoder, "It has no single image input to read its size from."
            )
        image_shape = tuple(inputs[0].shape[1:])
    image_shape = tuple(image_shape)
    if len(image_shape) != 3 or None in image_shape:
        raise _not_an_image_encoder(
            encoder,
            f"Its input must be a fixed-size image `(height, width, channels)`, "
            f"but it is {image_shape}.",
        )
    height, width, channels = (int(d) for d in image_shape)

    try:
        output_shape = encoder.compute_output_shape((None, height, width, channels))
    except Exception as error:  # The encoder cannot take images at all.
        raise _not_an_image_encoder(
            encoder, f"Calling it on images failed: {error}"
        ) from error
    if isinstance(output_shape, dict) or len(output_shape) != 3:
        raise _not_an_image_encoder(
            encoder, f"Its output has shape {output_shape}, not a token sequence."
        )
    num_tokens, hidden_dim = int(output_shape[1]), int(output_shape[2])

    patch_size = getattr(encoder, "patch_size", None)
    if patch_size is not None:
        patch_h, patch_w = _pair(patch_size)
        grid_size = (height // patch_h, width // patch_w)
    else:
        side = math.isqrt(num_tokens)
        grid_size = (side, side)
    num_prefix_tokens = num_tokens - grid_size[0] * grid_size[1]
    if num_prefix_tokens < 0:
        raise _not_an_image_encoder(
            encoder,
            f"It returns {num_tokens} tokens, fewer than its {grid_size} patch grid.",
        )
    return ImageEncoderSpec(
        image_size=(height, width),
        num_channels=channels,
        grid_size=grid_size,
        hidden_dim=hidden_dim,
        num_prefix_tokens=num_prefix_tokens,
    )
