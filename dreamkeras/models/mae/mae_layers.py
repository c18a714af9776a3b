"""The MAE decoder: mask tokens, position embeddings, transformer, pixel head."""

import keras
import keras_hub
from keras import ops

from dreamkeras import xla_cpu
from dreamkeras.layers.vit_encoding import gather_tokens
from dreamkeras.models.mae.patches import sincos_position_embedding


@keras.saving.register_keras_serializable(package="dreamkeras")
class MAEDecoder(keras.layers.Layer):
    """The light transformer decoder of a masked autoencoder.

    Embeds the encoder's tokens to `hidden_dim`, puts a learned mask token at
    every dropped patch (when `ids_restore` is given), adds fixed 2D sine-cosine
    position embeddings, runs `num_layers` pre-norm transformer blocks and
    predicts the pixels of every patch with a linear head.

    Args:
        grid_size: (int, int). Rows and columns of the patch grid.
        patch_size: (int, int). Patch height and width.
        num_channels: int. Image channels to predict.
        num_layers: int. Transformer blocks.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Width of the decoder tokens.
        mlp_dim: int. Width of each block's MLP.
        layer_norm_epsilon: float. Epsilon of the layer norms.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        latent: `(batch, 1 + K, encoder_dim)` encoder output with class token.
        ids_restore: optional `(batch, N)` permutation from `random_masking`.
        remat: bool. Recompute each block in the backward pass.
        xla_cpu_kernels: optional bool. Overrides the `dreamkeras.xla_cpu`
            switch for `remat`.

    Returns:
        `(batch, N, ph * pw * num_channels)` pixel predictions per patch.

    Example:

    ```python
    decoder = dreamkeras.models.MAEDecoder(
        grid_size=(4, 4), patch_size=(8, 8), num_channels=3, num_layers=1,
        num_heads=2, hidden_dim=16, mlp_dim=32,
    )
    patches = decoder(np.zeros((2, 17, 24)))  # (2, 16, 192)
    ```
    """

    def __init__(
        self,
        grid_size,
        patch_size,
        num_channels,
        num_layers,
        num_heads,
        hidden_dim,
        mlp_dim,
        layer_norm_epsilon=1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid_size = tuple(grid_size)
        self.patch_size = tuple(patch_size)
        self.num_channels = num_channels
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.mlp_dim = mlp_dim
        self.layer_norm_epsilon = layer_norm_epsilon

        num_patches = self.grid_size[0] * self.grid_size[1]
        self.embed = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="embed"
        )
        self.blocks = [
            keras_hub.layers.TransformerEncoder(
                intermediate_dim=mlp_dim,
                num_heads=num_heads,
                activation="gelu",
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=True,
                dtype=self.dtype_policy,
                name=f"block_{i + 1}",
            )
            for i in range(num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="norm"
        )
        self.head = keras.layers.Dense(
            self.patch_size[0] * self.patch_size[1] * num_channels,
            dtype=self.dtype_policy,
            name="head",
        )
        self._num_patches = num_patches

    def build(self, input_shape):
        self.embed.build(input_shape)
        self.mask_token = self.add_weight(
            shape=(1, 1, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="mask_token",
        )
        table = sincos_position_embedding(self.grid_size, self.hidden_dim)
        self.position_embedding = self.add_weight(
            shape=(1, self._num_patches + 1, self.hidden_dim),
            initializer=lambda shape, dtype=None: ops.cast(
                ops.reshape(table, shape), dtype or "float32"
            ),
            trainable=False,
            name="position_embedding",
        )
        token_shape = (None, self._num_patches + 1, self.hidden_dim)
        for block in self.blocks:
            block.build(token_shape)
        self.norm.build(token_shape)
        self.head.build(token_shape)

    def call(self, latent, ids_restore=None, remat=False, xla_cpu_kernels=None):
        x = self.embed(latent)
        if ids_restore is not None:
            class_token, visible = x[:, :1], x[:, 1:]
            batch_size = ops.shape(x)[0]
            num_masked = self._num_patches - visible.shape[1]
            mask_tokens = ops.broadcast_to(
                ops.cast(self.mask_token, x.dtype),
                (batch_size, num_masked, self.hidden_dim),
            )
            x = ops.concatenate([visible, mask_tokens], axis=1)
            x = gather_tokens(x, ids_restore)
            x = ops.concatenate([class_token, x], axis=1)
        x = x + ops.cast(self.position_embedding, x.dtype)
        for block in self.blocks:
            if remat:
                x = xla_cpu.remat(block, on=xla_cpu_kernels)(x)
            else:
                x = block(x)
        x = self.norm(x)
        return self.head(x)[:, 1:]

    def compute_output_shape(self, latent_shape, ids_restore_shape=None):
        return (
            latent_shape[0],
            self._num_patches,
            self.patch_size[0] * self.patch_size[1] * self.num_channels,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "patch_size": self.patch_size,
                "num_channels": self.num_channels,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "mlp_dim": self.mlp_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
