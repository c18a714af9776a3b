"""SleepConnection and DreamConnection: a chain's links to a frozen model."""

import keras
import numpy as np
from keras import ops

from dreamkeras.layers.encoder_spec import describe_image_encoder
from dreamkeras.layers.encoder_spec import is_autoencoder
from dreamkeras.layers.frozen_connection import FrozenModelConnection
from dreamkeras.layers.frozen_connection import check_ratio
from dreamkeras.layers.vit_encoding import encode_images
from dreamkeras.layers.vit_encoding import encode_vit
from dreamkeras.layers.vit_encoding import restore_token_order
from dreamkeras.models.mae.patches import patchify
from dreamkeras.utils.sharing import FrozenModelHolder


@keras.saving.register_keras_serializable(package="dreamkeras")
class SleepConnection(FrozenModelHolder, FrozenModelConnection):
    """Enrichment connection of SleepNet: `adapter_out(phi(adapter_in(h)))`.

    Wraps a frozen ViT-style image encoder `phi` (any KerasHub ViT-style
    backbone, e.g. `keras_hub.models.ViTBackbone`, or the encoder half of a
    `dreamkeras.models.MAEAutoencoder`) between two trainable adapters:

    - `adapter_in` brings a feature map of any size and channel count to the
      encoder's input size and channels (1x1 conv + bilinear resize);
    - `adapter_out` brings the encoder's patch tokens back to a feature map:
      `projection="grid"` (default) keeps the token grid (1x1 conv + batch
      norm + resize); `projection="pooled"` is the paper's reference form
      (mean over tokens, dense, reshape).

    The result is meant to be added to a chain block's output:
    `h_m = g_m(h_{m-1}) + SleepConnection(h_{m-1})` (paper eq. 1). The same
    encoder object may be shared by several connections.

    With `mask_ratio > 0` (KerasHub `ViTBackbone` encoders), a random share of
    the patches is hidden from the encoder during training, as the reference
    implementation's MAE forward does: about 4x cheaper at 0.75. Masked grid
    positions are zeros; at inference nothing is masked.

    `encoder_input` chooses what the frozen model sees: `"features"` (the
    paper, default) `adapter_in(h)`; `"image"` the model's input image,
    resized to the encoder's input (no `adapter_in`; without masking every
    connection then computes the same encoding); `"image+features"` the image
    plus `adapter_in(h)`, with `adapter_in` starting at zero so that the
    connection first encodes the image alone. Both image forms are called as
    `connection(h, images=inputs)`, and need images in the range the frozen
    model was trained on (`[0, 1]` for `apps/pretrain_mae.py`).

    The encoder is frozen by default, robustly: its variables stay frozen
    after `from_config` and `keras.saving.load_model`, and it runs in inference
    mode. Gradients still flow *through* it to `adapter_in` unless
    `stop_gradient=True`, which saves the backward pass through the encoder at
    the price of an `adapter_in` that no longer learns. On the torch backend,
    `dreamkeras.torch_export` runs the frozen encoder as one exported torch
    graph instead of as Keras layers (a switch, off by default).

    Args:
        encoder: `keras.layers.Layer`. A ViT-style image backbone.
        mask_ratio: float in `[0, 1)`. Patches masked in training. Defaults
            to `0.0`.
        seed: optional int. Seed of the masking.
        projection: `"grid"` or `"pooled"`. Form of `adapter_out`.
        output_channels: optional int. Channels of the output; defaults to
            the input's.
        output_size: optional (int, int). Spatial size of the output;
            defaults to the input's.
        trainable_encoder: bool. Unfreezes the encoder. Defaults to `False`.
        stop_gradient: bool. Stops gradients at the encoder's output.
        remat: bool. Recompute the frozen transformer blocks in the backward
            pass instead of keeping their activations: much less memory in
            training, for one more forward pass through the encoder. Same
            gradients. Defaults to `False`.
        encoder_input: `"features"`, `"image"` or `"image+features"`: the
            frozen model's input (see above). Defaults to `"features"`.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    vit = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32,
    )
    connection = dreamkeras.layers.SleepConnection(vit)
    features = np.random.rand(2, 8, 8, 64).astype("float32")
    connection(features).shape  # (2, 8, 8, 64)
    ```
    """

    frozen_model_key = "encoder"

    def __init__(self, encoder, mask_ratio=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_ratio("mask_ratio", mask_ratio)
        self.spec = describe_image_encoder(encoder)
        self.encoder = encoder
        self.mask_ratio = float(mask_ratio)
        self.seed = seed
        if self.mask_ratio > 0:
            self.seed_generator = keras.random.SeedGenerator(seed, name="mask_seed")
        self.hold_frozen_model(encoder)

    @property
    def _grid_dim(self):
        return self.spec.hidden_dim

    def _encode(self, images, noise=None, training=False):
        """The frozen encoder's pass: its patch tokens in patch order."""
        encoder_training = self._encoder_training(training)
        if noise is not None:
            tokens, ids_restore, _ = encode_vit(
                self.encoder,
                images,
                self.mask_ratio,
                self.seed_generator,
                self.spec.num_prefix_tokens,
                training=encoder_training,
                noise=noise,
                remat=self._recompute(training),
                xla_cpu_kernels=self._xla_cpu_kernels,
            )
            patch_tokens = restore_token_order(
                tokens[:, self.spec.num_prefix_tokens :], ids_restore
            )
        else:
            tokens = encode_images(
                self.encoder,
                images,
                training=encoder_training,
                remat=self._recompute(training),
                xla_cpu_kernels=self._xla_cpu_kernels,
            )
            patch_tokens = tokens[:, self.spec.num_prefix_tokens :]
        return self._frozen_output(patch_tokens)

    def call(self, inputs, images=None, training=None):
        images = self._encoder_images(inputs, images)
        mask_ratio = self.mask_ratio if training else 0.0
        tensors = (images,)
        if mask_ratio > 0:
            tensors += (self._patch_noise(images, self.seed_generator),)
        patch_tokens = self._run_frozen(
            lambda *args: self._encode(*args, training=training),
            tensors,
            (bool(training), mask_ratio),
            training,
        )
        grid_h, grid_w = self.spec.grid_size
        grid = ops.reshape(patch_tokens, (-1, grid_h, grid_w, self.spec.hidden_dim))
        return self._project(grid, training)

    def compute_output_shape(self, input_shape):
        return self._feature_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config["mask_ratio"] = self.mask_ratio
        config["seed"] = self.seed
        return config


@keras.saving.register_keras_serializable(package="dreamkeras")
class DreamConnection(FrozenModelHolder, FrozenModelConnection):
    """Reconstruction connection of DreamNet: `adapter_out(theta(phi(.)))`.

    Wraps a frozen full autoencoder (a `dreamkeras.models.MAEAutoencoder`:
    encoder `phi` and decoder `theta`) between trainable adapters, like
    `SleepConnection`, and also returns the reconstruction itself, the
    "dream": an image at the autoencoder's input size. DreamNet feeds the
    dreams of all its connections to a parallel block (paper eq. 2, Fig. 2).

    `adapter_out` projects the decoder's per-patch pixel predictions, laid out
    on the patch grid. With `mask_ratio > 0` a random share of the patches is
    hidden from the encoder during training (as the reference implementation
    and MAE pretraining do, and 4x cheaper at 0.75); at inference nothing is
    masked, so predictions are deterministic.

    An MAE is trained to predict only the patches it cannot see: its output
    at visible positions is untrained. `keep_visible=True` makes the dream
    what MAE visualisations show: the input's own patches where they were
    visible and the reconstruction where they were hidden, so that the dream
    block and `adapter_out` read an image. It needs patches hidden at
    inference too (`inference_mask_ratio`, one fixed pattern per connection
    drawn from `seed`, so predictions stay deterministic) and an autoencoder
    that predicts pixels (`norm_pix_loss=False`).

    As in `SleepConnection`, the autoencoder is frozen robustly, and on the
    torch backend `dreamkeras.torch_export` runs it as one exported graph.

    Args:
        autoencoder: `dreamkeras.models.MAEAutoencoder`. The frozen autoencoder.
        mask_ratio: float in `[0, 1)`. Patches masked in training. Defaults
            to `0.0`.
        projection: `"grid"` or `"pooled"`. Form of `adapter_out`.
        output_channels: optional int. Channels of the output features.
        output_size: optional (int, int). Spatial size of the output features.
        trainable_encoder: bool. Unfreezes the autoencoder.
        stop_gradient: bool. Stops gradients at the decoder's output (both
            the features and the dream): no backward pass through the
            autoencoder, and `adapter_in` no longer learns.
        remat: bool. Recompute the autoencoder's transformer blocks in the
            backward pass instead of keeping their activations (attention
            maps, MLP activations): much less memory in training, for one
            more forward pass. Same gradients. Defaults to `False`.
        encoder_input: `"features"`, `"image"` or `"image+features"`: the
            autoencoder's input, as in `SleepConnection`; with `"image"` the
            dream is the reconstruction of the input image. Defaults to
            `"features"`.
        inference_mask_ratio: float in `[0, 1)`. Patches hidden at
            inference, in one fixed pattern. Defaults to `0.0`.
        keep_visible: bool. The dream keeps the input's visible patches and
            takes the reconstruction only where patches were hidden (see
            above). Defaults to `False`, the reference's form.
        seed: optional int. Seed of the fixed inference pattern.
        **kwargs: passed to `keras.layers.Layer`.

    Returns:
        `(features, dream)`: the features to add to the chain, shaped like the
        input (or `output_size`/`output_channels`), and the reconstruction
        `(batch, height, width, channels)` at the autoencoder's input size.

    Example:

    ```python
    mae = dreamkeras.models.MAEAutoencoder(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32, decoder_num_layers=1, decoder_num_heads=2,
        decoder_hidden_dim=16, decoder_mlp_dim=32,
    )
    connection = dreamkeras.layers.DreamConnection(mae)
    features, dream = connection(np.random.rand(2, 8, 8, 64))
    # features: (2, 8, 8, 64), dream: (2, 32, 32, 3)
    ```
    """

    frozen_model_key = "autoencoder"

    def __init__(
        self,
        autoencoder,
        mask_ratio=0.0,
        inference_mask_ratio=0.0,
        keep_visible=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not is_autoencoder(autoencoder):
            raise ValueError(
                "`autoencoder` must be a `dreamkeras.models.MAEAutoencoder` (an "
                "encoder and a decoder that predicts pixel patches). For an "
                "encoder alone use `SleepConnection`. "
                f"Received: autoencoder={autoencoder!r}."
            )
        check_ratio("mask_ratio", mask_ratio)
        check_ratio("inference_mask_ratio", inference_mask_ratio)
        if keep_visible and (mask_ratio == 0 or inference_mask_ratio == 0):
            raise ValueError(
                "keep_visible=True copies the input wherever no patch is "
                "hidden: set both `mask_ratio` (training) and "
                "`inference_mask_ratio` above 0 (e.g. 0.75, as MAE pretraining). "
                f"Received: mask_ratio={mask_ratio}, "
                f"inference_mask_ratio={inference_mask_ratio}."
            )
        if keep_visible and getattr(autoencoder, "norm_pix_loss", False):
            raise ValueError(
                "keep_visible=True pastes the autoencoder's predictions between "
                "input patches, but this one was trained with the normalised-"
                "pixel loss (norm_pix_loss=True): its predictions are per-patch "
                "normalised, not pixels. Use an MAE pretrained with the pixel "
                "loss (`apps/pretrain_mae.py --no-norm-pix-loss`)."
            )
        self.spec = describe_image_encoder(autoencoder.encoder)
        self.autoencoder = autoencoder
        self.mask_ratio = float(mask_ratio)
        self.inference_mask_ratio = float(inference_mask_ratio)
        self.keep_visible = bool(keep_visible)
        self.seed = seed
        # The patches hidden at inference: the lowest `inference_mask_ratio`
        # share of a fixed draw is kept, as in MAE's masking.
        self._inference_noise = np.random.default_rng(
            0 if seed is None else seed
        ).random((1, self.spec.num_patches)).astype("float32")
        self.hold_frozen_model(autoencoder)

    @property
    def _grid_dim(self):
        patch_h, patch_w = self.autoencoder.patch_size
        return patch_h * patch_w * self.spec.num_channels

    def _inference_pattern(self, images):
        """The fixed inference noise, one row per image."""
        noise = ops.convert_to_tensor(self._inference_noise)
        return ops.broadcast_to(noise, (ops.shape(images)[0], self.spec.num_patches))

    def _reconstruct(self, images, noise=None, mask_ratio=0.0, training=False):
        """The frozen autoencoder's pass: `(patches, mask)`."""
        encoder_training = self._encoder_training(training)
        latent, ids_restore, mask = self.autoencoder.encode(
            images,
            mask_ratio,
            training=encoder_training,
            noise=noise,
            remat=self._recompute(training),
            xla_cpu_kernels=self._xla_cpu_kernels,
        )
        # Stopped before both outputs: the dream feeds DreamNet's parallel
        # block and would otherwise carry gradients back into the autoencoder.
        patches = self._frozen_output(
            self.autoencoder.decoder(
                latent,
                ids_restore,
                remat=self._recompute(training),
                xla_cpu_kernels=self._xla_cpu_kernels,
                training=encoder_training,
            )
        )
        return patches, mask

    def call(self, inputs, images=None, training=None):
        images = self._encoder_images(inputs, images)
        noise = None
        if training:
            mask_ratio = self.mask_ratio
            if mask_ratio > 0:
                noise = self._patch_noise(images, self.autoencoder.seed_generator)
        else:
            mask_ratio = self.inference_mask_ratio
            if mask_ratio > 0:
                noise = self._inference_pattern(images)
        patches, mask = self._run_frozen(
            lambda *args: self._reconstruct(
                *args, mask_ratio=mask_ratio, training=training
            ),
            (images,) if noise is None else (images, noise),
            (bool(training), mask_ratio),
            training,
        )
        if self.keep_visible:
            hidden = ops.expand_dims(ops.cast(mask, patches.dtype), -1)
            seen = ops.cast(patchify(images, self.autoencoder.patch_size), patches.dtype)
            patches = hidden * patches + (1 - hidden) * seen
        dream = self.autoencoder.unpatchify(patches)
        grid_h, grid_w = self.spec.grid_size
        grid = ops.reshape(patches, (-1, grid_h, grid_w, self._grid_dim))
        return self._project(grid, training), dream

    def compute_output_shape(self, input_shape):
        dream_shape = (
            (input_shape[0],) + self.spec.image_size + (self.spec.num_channels,)
        )
        return self._feature_output_shape(input_shape), dream_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_ratio": self.mask_ratio,
                "inference_mask_ratio": self.inference_mask_ratio,
                "keep_visible": self.keep_visible,
                "seed": self.seed,
            }
        )
        return config
