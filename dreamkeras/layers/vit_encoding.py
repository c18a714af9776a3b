"""Talking to a frozen ViT: patch masking, token order, encoding.

The one place that knows how a KerasHub `ViTBackbone` is laid out
(`vit_patching_and_embedding`, then `vit_encoder`). By default an encoder is
called as a layer; it is taken apart only where the method needs it: to drop
masked patches between the patch embedding and the transformer (KerasHub's
ViT has no masking), and, with `dreamkeras.xla_cpu` on, to run the CPU
kernels.
"""

import keras
from keras import ops

from dreamkeras import xla_cpu


def random_masking(tokens, mask_ratio, seed, noise=None):
    """Keeps a random subset of tokens per example, as in the MAE paper.

    Args:
        tokens: tensor `(batch, N, dim)` of patch tokens (no class token).
        mask_ratio: float in `[0, 1)`. Share of tokens to drop.
        seed: a `keras.random.SeedGenerator`.
        noise: optional `(batch, N)` tensor. Tokens with the lowest noise are
            kept; defaults to uniform noise drawn from `seed`. Passing the
            same noise reproduces another implementation's masking (the
            `noise` argument of `transformers`' ViT-MAE).

    Returns:
        `(kept, ids_restore, mask)`: the kept tokens `(batch, K, dim)`, the
        permutation that puts `[kept, dropped]` back in patch order
        `(batch, N)`, and the binary mask `(batch, N)` with 1 for dropped.
    """
    num_tokens = tokens.shape[1]
    num_keep = max(1, int(round(num_tokens * (1.0 - mask_ratio))))
    batch_size = ops.shape(tokens)[0]
    if noise is None:
        noise = keras.random.uniform((batch_size, num_tokens), seed=seed)
    ids_shuffle = ops.argsort(noise, axis=1)
    ids_restore = ops.argsort(ids_shuffle, axis=1)
    ids_keep = ids_shuffle[:, :num_keep]
    kept = gather_tokens(tokens, ids_keep)
    keep_flags = ops.concatenate(
        [
            ops.zeros((batch_size, num_keep), dtype=tokens.dtype),
            ops.ones((batch_size, num_tokens - num_keep), dtype=tokens.dtype),
        ],
        axis=1,
    )
    mask = ops.take_along_axis(keep_flags, ids_restore, axis=1)
    return kept, ids_restore, mask


def gather_tokens(tokens, index):
    """Picks tokens per example: `output[b, k] = tokens[b, index[b, k]]`.

    The same as `ops.take_along_axis` along axis 1 with `index` broadcast over
    the features, computed as one gather of whole rows from the tokens
    flattened to `(batch * N, dim)`. `take_along_axis` builds a coordinate
    for every gathered number (under JAX an int32 array 3x the size of the
    output) and scatters number by number in the backward pass; the row
    gather is 3-5x faster forward and backward on XLA:CPU, and exact.

    Args:
        tokens: `(batch, N, dim)` tensor.
        index: `(batch, K)` integer tensor of positions in `[0, N)`.

    Returns:
        `(batch, K, dim)` tensor.

    Example:

    ```python
    tokens = np.arange(12.0).reshape(2, 3, 2)
    gather_tokens(tokens, np.array([[2, 0], [1, 1]]))
    # [[[4, 5], [0, 1]], [[8, 9], [8, 9]]]
    ```
    """
    num_tokens, dim = tokens.shape[1], tokens.shape[-1]
    batch_size = ops.shape(index)[0]
    index = ops.convert_to_tensor(index)
    offsets = ops.arange(batch_size, dtype=index.dtype) * num_tokens
    rows = ops.take(
        ops.reshape(tokens, (-1, dim)),
        ops.reshape(index + ops.expand_dims(offsets, -1), (-1,)),
        axis=0,
    )
    return ops.reshape(rows, (-1, index.shape[1], dim))


def restore_token_order(kept, ids_restore):
    """Puts kept tokens back on the full patch grid, zeros where masked.

    Args:
        kept: `(batch, K, dim)` tokens of the kept patches, in shuffled order.
        ids_restore: `(batch, N)` permutation from `random_masking`.

    Returns:
        `(batch, N, dim)` tokens in patch order.
    """
    batch_size = ops.shape(kept)[0]
    num_patches, dim = ids_restore.shape[1], kept.shape[-1]
    zeros = ops.zeros((batch_size, num_patches - kept.shape[1], dim), kept.dtype)
    return gather_tokens(ops.concatenate([kept, zeros], axis=1), ids_restore)


def vit_parts(encoder):
    """Returns a `ViTBackbone`'s `(patch embedding, transformer)` layers.

    Args:
        encoder: an image encoder.

    Returns:
        The `vit_patching_and_embedding` and `vit_encoder` layers of a
        KerasHub `ViTBackbone`-style encoder, or `None` for other encoders.
    """
    try:
        return (
            encoder.get_layer("vit_patching_and_embedding"),
            encoder.get_layer("vit_encoder"),
        )
    except (AttributeError, ValueError):
        return None


def embed_images(embedding, images, xla_cpu_kernels=None):
    """Runs a ViT's patch embedding layer (the XLA:CPU matmul form when on)."""
    if xla_cpu.is_on(xla_cpu_kernels):
        from dreamkeras.xla_cpu.vit import embed_patches

        return embed_patches(embedding, images)
    return embedding(images)


def run_vit_transformer(
    transformer, tokens, training=False, remat=False, xla_cpu_kernels=None
):
    """Runs a KerasHub `ViTEncoder`, optionally rematerialised per block.

    With `remat=True` and the encoder in inference mode, each transformer
    block is recomputed in the backward pass instead of keeping its
    attention maps and MLP activations (`keras.remat`, or
    `dreamkeras.xla_cpu.recompute_in_backward` with the XLA:CPU switch on).
    A transformer without KerasHub's `encoder_layers` list is
    rematerialised as one piece.

    Args:
        transformer: the `vit_encoder` layer of a `ViTBackbone`.
        tokens: `(batch, tokens, dim)` embedded tokens.
        training: bool. Dropout mode; remat applies only in inference mode.
        remat: bool.
        xla_cpu_kernels: optional bool. Overrides the `dreamkeras.xla_cpu`
            switch.

    Returns:
        `(batch, tokens, dim)` normalised encoder outputs.
    """
    if not remat or training:
        return transformer(tokens, training=training)
    blocks = getattr(transformer, "encoder_layers", None)
    if blocks is None or not all(
        hasattr(transformer, name) for name in ("dropout", "layer_norm")
    ):
        return xla_cpu.remat(transformer, on=xla_cpu_kernels)(tokens)
    x = transformer.dropout(tokens)
    for block in blocks:
        x = xla_cpu.remat(block, on=xla_cpu_kernels)(x)
    return transformer.layer_norm(x)


def encode_images(encoder, images, training=False, remat=False, xla_cpu_kernels=None):
    """Runs an image encoder on whole images: `encoder(images)` by default.

    The encoder is called as a layer (rematerialised as a whole with
    `keras.remat` when `remat=True`). With `dreamkeras.xla_cpu` on, a
    KerasHub `ViTBackbone` runs its patch embedding as a matmul and is
    recomputed block by block instead.

    Args:
        encoder: an image encoder returning `(batch, tokens, dim)`.
        images: `(batch, height, width, channels)` images.
        training: bool. Dropout mode of the encoder.
        remat: bool. Recompute the encoder in the backward pass.
        xla_cpu_kernels: optional bool. Overrides the `dreamkeras.xla_cpu`
            switch.

    Returns:
        `(batch, tokens, dim)` encoder outputs.
    """
    on = xla_cpu.is_on(xla_cpu_kernels)
    parts = vit_parts(encoder) if on else None
    if parts is not None:
        embedding, transformer = parts
        return run_vit_transformer(
            transformer, embed_images(embedding, images, on), training, remat, on
        )
    if remat and not training:
        return keras.remat(lambda x: encoder(x, training=False))(images)
    return encoder(images, training=training)


def encode_vit(
    encoder,
    images,
    mask_ratio,
    seed,
    num_prefix_tokens=1,
    training=False,
    noise=None,
    remat=False,
    xla_cpu_kernels=None,
):
    """Runs a ViT encoder on a random subset of the patches (MAE masking).

    Without masking (`mask_ratio=0` and no `noise`) this is
    `encode_images`. With masking, a KerasHub `ViTBackbone` is split into its
    patch embedding (`vit_patching_and_embedding`, position embeddings
    included) and its transformer (`vit_encoder`), and `mask_ratio` of the
    patch tokens are dropped in between, as MAE does.

    Args:
        encoder: `keras_hub.models.ViTBackbone` (any image encoder when
            nothing is masked).
        images: `(batch, height, width, channels)` images.
        mask_ratio: float. Share of patches to drop (0 keeps all).
        seed: `keras.random.SeedGenerator` for the masking.
        num_prefix_tokens: int. Tokens before the patches (class token).
        training: bool. Dropout mode of the encoder.
        noise: optional `(batch, N)` tensor deciding which patches are kept
            (the lowest); random by default.
        remat: bool. Recompute the transformer in the backward pass instead
            of keeping its activations (see `run_vit_transformer`).
        xla_cpu_kernels: optional bool. Overrides the `dreamkeras.xla_cpu`
            switch.

    Returns:
        `(latent, ids_restore, mask)`: encoder tokens `(batch, prefix + K,
        dim)`, the restore permutation (`None` without masking) and the
        `(batch, N)` mask (1 = dropped).
    """
    if mask_ratio <= 0 and noise is None:
        tokens = encode_images(
            encoder, images, training=training, remat=remat,
            xla_cpu_kernels=xla_cpu_kernels,
        )
        num_patches = tokens.shape[1] - num_prefix_tokens
        mask = ops.zeros((ops.shape(tokens)[0], num_patches), tokens.dtype)
        return tokens, None, mask
    parts = vit_parts(encoder)
    if parts is None:
        raise ValueError(
            "Masking patches needs a KerasHub `ViTBackbone`-style encoder with "
            "`vit_patching_and_embedding` and `vit_encoder` layers. Use "
            f"`mask_ratio=0` with this encoder. Received: {encoder!r}."
        )
    embedding, transformer = parts
    tokens = embed_images(embedding, images, xla_cpu_kernels)
    prefix = tokens[:, :num_prefix_tokens]
    kept, ids_restore, mask = random_masking(
        tokens[:, num_prefix_tokens:], mask_ratio, seed, noise=noise
    )
    tokens = ops.concatenate([prefix, kept], axis=1)
    latent = run_vit_transformer(
        transformer, tokens, training, remat, xla_cpu_kernels
    )
    return latent, ids_restore, mask
