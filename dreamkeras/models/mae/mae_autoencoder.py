"""A ViT-MAE-style masked autoencoder whose encoder is KerasHub's ViT."""

import keras
import keras_hub
from keras import ops

from dreamkeras.layers.vit_encoding import encode_vit
from dreamkeras.models.rebuilt import RebuiltModel
from dreamkeras.models.mae.mae_layers import MAEDecoder
from dreamkeras.models.mae.patches import patchify
from dreamkeras.models.mae.patches import sincos_position_embedding
from dreamkeras.models.mae.patches import unpatchify
from dreamkeras.utils.freezing import set_trainable
from dreamkeras.utils.presets import save_preset


def _pair(value):
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


@keras.saving.register_keras_serializable(package="dreamkeras")
class MAEAutoencoder(RebuiltModel, keras.Model):
    """Masked autoencoder (MAE) with a KerasHub ViT encoder and a light decoder.

    The encoder is a `keras_hub.models.ViTBackbone` (same configuration fields:
    image shape, patch size, layers, heads, hidden and MLP sizes), available as
    `autoencoder.encoder` so that a `SleepConnection` can use it alone. During
    training a random `mask_ratio` share of the patches is dropped before the
    encoder; the decoder puts mask tokens in their place and predicts every
    patch's pixels. At inference nothing is masked unless asked for.

    `fit` trains it self-supervised on images alone (no labels): the loss is
    the mean squared error on the masked patches, against per-patch normalised
    pixels when `norm_pix_loss=True`, as in the MAE paper.

    Args:
        image_shape: (int, int, int). Input `(height, width, channels)`.
        patch_size: int or (int, int). Patch size; must divide the image size.
        num_layers: int. Encoder transformer blocks.
        num_heads: int. Encoder attention heads.
        hidden_dim: int. Encoder token width.
        mlp_dim: int. Encoder MLP width.
        decoder_num_layers: int. Decoder transformer blocks.
        decoder_num_heads: int. Decoder attention heads.
        decoder_hidden_dim: int. Decoder token width (a multiple of 4).
        decoder_mlp_dim: int. Decoder MLP width.
        mask_ratio: float in `[0, 1)`. Share of patches masked in training.
        norm_pix_loss: bool. Normalise each target patch by its mean and
            variance in the loss.
        layer_norm_epsilon: float. Epsilon of every layer norm.
        dropout_rate: float. Encoder dropout.
        seed: optional int. Seed of the random masking.
        dtype: `None`, a dtype or a `keras.DTypePolicy`.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        images: `(batch, height, width, channels)` float images.
        training: bool. Masks `mask_ratio` of the patches when `True`.

    Returns:
        A dict with `"patches"`, the pixel predictions `(batch, N, ph*pw*C)`,
        and `"mask"`, `(batch, N)` with 1 for masked patches.

    Example:

    ```python
    mae = dreamkeras.models.MAEAutoencoder(
        image_shape=(32, 32, 3), patch_size=4, num_layers=2, num_heads=2,
        hidden_dim=32, mlp_dim=64, decoder_num_layers=1, decoder_num_heads=2,
        decoder_hidden_dim=16, decoder_mlp_dim=32,
    )
    mae.compile(optimizer="adam")
    mae.fit(np.random.rand(8, 32, 32, 3), epochs=1)
    dreams = mae.reconstruct(np.random.rand(2, 32, 32, 3))  # (2, 32, 32, 3)
    ```
    """

    # Loads presets and checkpoints; installed by `dreamkeras.encoders`.
    preset_loader = None

    def __init__(
        self,
        image_shape=(224, 224, 3),
        patch_size=16,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        mlp_dim=3072,
        decoder_num_layers=8,
        decoder_num_heads=16,
        decoder_hidden_dim=512,
        decoder_mlp_dim=2048,
        mask_ratio=0.75,
        norm_pix_loss=True,
        layer_norm_epsilon=1e-6,
        dropout_rate=0.0,
        seed=None,
        dtype=None,
        **kwargs,
    ):
        image_shape = tuple(int(d) for d in image_shape)
        patch_size = _pair(patch_size)
        if len(image_shape) != 3:
            raise ValueError(
                "`image_shape` must be `(height, width, channels)`. "
                f"Received: image_shape={image_shape}."
            )
        if image_shape[0] % patch_size[0] or image_shape[1] % patch_size[1]:
            raise ValueError(
                f"`patch_size` {patch_size} must divide the image size "
                f"{image_shape[:2]}. Received: image_shape={image_shape}, "
                f"patch_size={patch_size}."
            )
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(
                f"`mask_ratio` must be in [0, 1). Received: mask_ratio={mask_ratio}."
            )
        if decoder_hidden_dim % 4:
            raise ValueError(
                "`decoder_hidden_dim` must be a multiple of 4 (sine-cosine "
                f"position embedding). Received: {decoder_hidden_dim}."
            )
        super().__init__(dtype=dtype, **kwargs)

        # === Layers ===
        self.encoder = keras_hub.models.ViTBackbone(
            image_shape=image_shape,
            patch_size=patch_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            mlp_dim=mlp_dim,
            dropout_rate=dropout_rate,
            layer_norm_epsilon=layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="encoder",
        )
        self.grid_size = (
            image_shape[0] // patch_size[0],
            image_shape[1] // patch_size[1],
        )
        self.decoder = MAEDecoder(
            grid_size=self.grid_size,
            patch_size=patch_size,
            num_channels=image_shape[2],
            num_layers=decoder_num_layers,
            num_heads=decoder_num_heads,
            hidden_dim=decoder_hidden_dim,
            mlp_dim=decoder_mlp_dim,
            layer_norm_epsilon=layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="decoder",
        )
        self.seed_generator = keras.random.SeedGenerator(seed, name="mask_seed")
        self.decoder.build((None, self.num_patches + 1, hidden_dim))
        if hidden_dim % 4 == 0:
            # MAE starts from fixed 2D sine-cosine positions; here they are an
            # initialisation that training may refine.
            self._patch_embedding.position_embedding.embeddings.assign(
                sincos_position_embedding(self.grid_size, hidden_dim)
            )

        # === Config ===
        self.image_shape = image_shape
        self.patch_size = patch_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.mlp_dim = mlp_dim
        self.decoder_num_layers = decoder_num_layers
        self.decoder_num_heads = decoder_num_heads
        self.decoder_hidden_dim = decoder_hidden_dim
        self.decoder_mlp_dim = decoder_mlp_dim
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout_rate = dropout_rate
        self.seed = seed
        self.build((None,) + image_shape)
        if not self.trainable:
            # A config that says `trainable=False` must really freeze.
            set_trainable(self, False)

    @property
    def num_patches(self):
        return self.grid_size[0] * self.grid_size[1]

    @property
    def _patch_embedding(self):
        return self.encoder.get_layer("vit_patching_and_embedding")

    def build(self, input_shape):
        self.built = True

    def encode(
        self,
        images,
        mask_ratio=0.0,
        training=False,
        noise=None,
        remat=False,
        xla_cpu_kernels=None,
    ):
        """Runs the encoder, optionally on a random subset of the patches.

        Args:
            images: `(batch, height, width, channels)` images.
            mask_ratio: float. Share of patches to drop first (0 keeps all).
            training: bool. Dropout mode of the encoder.
            noise: optional `(batch, N)` tensor that decides which patches
                are kept (the lowest); random by default.
            remat: bool. Recompute the encoder's blocks in the backward pass
                instead of keeping their activations (inference mode only).
            xla_cpu_kernels: optional bool. Overrides the
                `dreamkeras.xla_cpu` switch.

        Returns:
            `(latent, ids_restore, mask)`: encoder tokens `(batch, 1 + K,
            hidden_dim)` with the class token first, the restore permutation
            (`None` without masking) and the `(batch, N)` mask (1 = dropped).
        """
        return encode_vit(
            self.encoder,
            images,
            mask_ratio,
            self.seed_generator,
            num_prefix_tokens=1,
            training=training,
            noise=noise,
            remat=remat,
            xla_cpu_kernels=xla_cpu_kernels,
        )

    def call(self, images, training=None):
        mask_ratio = self.mask_ratio if training else 0.0
        latent, ids_restore, mask = self.encode(images, mask_ratio, training)
        patches = self.decoder(latent, ids_restore, training=training)
        return {"patches": patches, "mask": mask}

    def reconstruct(self, images, mask_ratio=0.0, training=False):
        """Returns the reconstructed images ("dreams"), shaped like `images`.

        The values are in the space the decoder was trained to predict: with
        `norm_pix_loss=True` each patch comes out normalised by its own mean
        and variance.
        """
        latent, ids_restore, _ = self.encode(images, mask_ratio, training)
        patches = self.decoder(latent, ids_restore, training=training)
        return self.unpatchify(patches)

    def unpatchify(self, patches):
        """Turns `(batch, N, ph*pw*C)` patch predictions into images."""
        return unpatchify(
            patches, self.grid_size, self.patch_size, self.image_shape[2]
        )

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        target = ops.cast(patchify(x, self.patch_size), "float32")
        if self.norm_pix_loss:
            mean = ops.mean(target, axis=-1, keepdims=True)
            variance = ops.var(target, axis=-1, keepdims=True)
            target = (target - mean) / ops.sqrt(variance + 1e-6)
        predicted = ops.cast(y_pred["patches"], "float32")
        per_patch = ops.mean(ops.square(predicted - target), axis=-1)
        mask = ops.cast(y_pred["mask"], "float32")
        # Without masking (evaluation) every patch counts.
        mask = ops.where(ops.sum(mask) > 0, mask, ops.ones_like(mask))
        loss = ops.sum(per_patch * mask) / ops.sum(mask)
        losses = [loss] + [ops.cast(l, "float32") for l in self.losses]
        return ops.sum(ops.stack(losses)) if len(losses) > 1 else loss

    def save_to_preset(self, preset_dir):
        """Saves the autoencoder to a preset folder in KerasHub's layout.

        Writes `config.json` (registered class name and config),
        `model.weights.h5` and `metadata.json`, as KerasHub's
        `Backbone.save_to_preset` does. Load it back with `from_preset`,
        `dreamkeras.encoders.load_autoencoder` or `load_encoder` (its encoder).

        Args:
            preset_dir: str. Folder to write.

        Example:

        ```python
        mae.save_to_preset("./my_mae")
        mae = dreamkeras.models.MAEAutoencoder.from_preset("./my_mae")
        ```
        """
        save_preset(self, preset_dir)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads an autoencoder from a preset or a ViT-MAE checkpoint.

        Args:
            preset: str. A folder written by `save_to_preset`, a Hugging Face
                ViT-MAE checkpoint folder, `hf://facebook/vit-mae-base`, or a
                Kaggle handle of a saved preset.
            **kwargs: overrides of the configuration (e.g. `mask_ratio`).

        Returns:
            A `MAEAutoencoder`.

        Example:

        ```python
        mae = dreamkeras.models.MAEAutoencoder.from_preset("./my_mae")
        ```
        """
        if cls.preset_loader is None:  # set by `dreamkeras.encoders`
            import dreamkeras.encoders  # noqa: F401
        return cls.preset_loader(preset, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "patch_size": self.patch_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "mlp_dim": self.mlp_dim,
                "decoder_num_layers": self.decoder_num_layers,
                "decoder_num_heads": self.decoder_num_heads,
                "decoder_hidden_dim": self.decoder_hidden_dim,
                "decoder_mlp_dim": self.decoder_mlp_dim,
                "mask_ratio": self.mask_ratio,
                "norm_pix_loss": self.norm_pix_loss,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "dropout_rate": self.dropout_rate,
                "seed": self.seed,
            }
        )
        return config
