"""A KerasHub ViT's patch embedding as one matrix product (XLA:CPU)."""

import keras
from keras import ops

from dreamkeras.xla_cpu.matmul_conv import patch_convolution


def embed_patches(embedding, images):
    """Runs a KerasHub `ViTPatchingAndEmbedding`, its convolution as a matmul.

    Gives what `embedding(images)` gives (patch embeddings, class token,
    position embeddings), but computes the patch convolution with
    `patch_convolution`, which is much faster
    forward and backward on CPU. Other embedding layers are simply called.

    Args:
        embedding: the `vit_patching_and_embedding` layer of a `ViTBackbone`.
        images: `(batch, height, width, channels)` images.

    Returns:
        `(batch, prefix + patches, hidden_dim)` embedded tokens.

    Example:

    ```python
    embedding = backbone.get_layer("vit_patching_and_embedding")
    tokens = embed_patches(embedding, images)
    ```
    """
    conv = getattr(embedding, "patch_embedding", None)
    if (
        type(embedding).__name__ != "ViTPatchingAndEmbedding"
        or not isinstance(conv, keras.layers.Conv2D)
    ):
        return embedding(images)
    dtype = embedding.compute_dtype
    patches = patch_convolution(
        conv, ops.cast(images, dtype), ops.cast(conv.kernel, dtype)
    )
    if patches is None:  # channels_first, overlapping patches, ...
        return embedding(images)
    if conv.use_bias:
        patches = patches + ops.cast(conv.bias, dtype)
    tokens = ops.reshape(
        patches, (-1, patches.shape[1] * patches.shape[2], conv.filters)
    )
    if embedding.use_class_token:
        class_token = ops.tile(
            ops.cast(embedding.class_token, dtype), (ops.shape(tokens)[0], 1, 1)
        )
        tokens = ops.concatenate([class_token, tokens], axis=1)
    positions = embedding.position_embedding(embedding.position_ids)
    return ops.add(tokens, ops.cast(positions, dtype))
