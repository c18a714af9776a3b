"""Patch utilities shared by the MAE and the connections (keras.ops only)."""

import numpy as np
from keras import ops


def patchify(images, patch_size):
    """Splits `(batch, H, W, C)` images into `(batch, N, ph * pw * C)` patches.

    Patches are in row-major order and each patch is flattened as
    `(row, column, channel)`, the layout of the MAE paper's pixel targets.

    Args:
        images: tensor of shape `(batch, height, width, channels)`.
        patch_size: (int, int). Patch height and width.

    Returns:
        A tensor of shape `(batch, num_patches, ph * pw * channels)`.
    """
    patch_h, patch_w = patch_size
    _, height, width, channels = images.shape
    grid_h, grid_w = height // patch_h, width // patch_w
    x = ops.reshape(images, (-1, grid_h, patch_h, grid_w, patch_w, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, grid_h * grid_w, patch_h * patch_w * channels))


def unpatchify(patches, grid_size, patch_size, num_channels):
    """Inverse of `patchify`: `(batch, N, ph * pw * C)` to images."""
    grid_h, grid_w = grid_size
    patch_h, patch_w = patch_size
    x = ops.reshape(patches, (-1, grid_h, grid_w, patch_h, patch_w, num_channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, grid_h * patch_h, grid_w * patch_w, num_channels))


def sincos_position_embedding(grid_size, dim, class_token=True):
    """2D sine-cosine position embedding of the MAE paper, as a NumPy array.

    Half the channels encode the row, half the column; each half is split into
    sines and cosines of `dim / 4` geometric frequencies. A zero row is
    prepended for the class token.

    Args:
        grid_size: (int, int). Rows and columns of the patch grid.
        dim: int. Embedding width, a multiple of 4.
        class_token: bool. Whether to prepend a zero row.

    Returns:
        A float32 array of shape `(1 + rows * columns, dim)` (without the
        leading row when `class_token=False`).
    """
    if dim % 4:
        raise ValueError(f"`dim` must be a multiple of 4. Received: dim={dim}.")
    rows, cols = grid_size
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4.0))

    def encode(positions):
        angles = np.outer(positions.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    grid_cols, grid_rows = np.meshgrid(
        np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64)
    )
    # The MAE reference encodes the column index in the first half.
    embedding = np.concatenate([encode(grid_cols), encode(grid_rows)], axis=1)
    if class_token:
        embedding = np.concatenate([np.zeros((1, dim)), embedding], axis=0)
    return embedding.astype("float32")
