"""The shared machinery of the image connections: `FrozenModelConnection`."""

import keras
from keras import ops

from dreamkeras import torch_export
from dreamkeras import xla_cpu
from dreamkeras.layers.adapters import FeatureToImage
from dreamkeras.layers.adapters import PooledTokensToFeature
from dreamkeras.layers.adapters import TokenGridToFeature
from dreamkeras.layers.adapters import resize_map

PROJECTIONS = ("grid", "pooled")
# What the frozen model sees: the paper's `adapter_in(h)`, the model's input
# image, or the image plus `adapter_in(h)` (the adapter starting at zero).
ENCODER_INPUTS = ("features", "image", "image+features")
MIN_FEATURE_SIZE = 2


class FrozenModelConnection(keras.layers.Layer):
    """Shared machinery of the connections: adapters, checks and freezing.

    Subclasses set `self.spec` (the `ImageEncoderSpec` of the frozen model) in
    their constructor and implement `call`: `_encoder_images` gives the frozen
    model's input, `_run_frozen` runs the frozen model's pass on it (given the
    masking noise of `_patch_noise`), `_project` turns the resulting
    `(batch, rows, cols, dim)` grid into features.
    """

    def __init__(
        self,
        projection="grid",
        output_channels=None,
        output_size=None,
        trainable_encoder=False,
        stop_gradient=False,
        remat=False,
        encoder_input="features",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if projection not in PROJECTIONS:
            raise ValueError(
                f"`projection` must be one of {PROJECTIONS}. "
                f"Received: projection={projection!r}."
            )
        if encoder_input not in ENCODER_INPUTS:
            raise ValueError(
                f"`encoder_input` must be one of {ENCODER_INPUTS}. "
                f"Received: encoder_input={encoder_input!r}."
            )
        self.encoder_input = encoder_input
        self.projection = projection
        self.output_channels = output_channels
        self.output_size = None if output_size is None else tuple(output_size)
        self.trainable_encoder = bool(trainable_encoder)
        self.stop_gradient = bool(stop_gradient)
        self.remat = bool(remat)
        # How the frozen model is run: read from the switch when built.
        self._xla_cpu_kernels = xla_cpu.enabled()

    def _check_feature_shape(self, input_shape):
        name = type(self).__name__
        if len(input_shape) != 4:
            raise ValueError(
                f"{name} expects a `(batch, height, width, channels)` feature "
                f"map, but got an input of rank {len(input_shape)} with shape "
                f"{tuple(input_shape)}. Place it after a convolutional block."
            )
        height, width, channels = input_shape[1:]
        if channels is None:
            raise ValueError(
                f"{name} needs a known number of channels. Received input shape "
                f"{tuple(input_shape)}."
            )
        if height is None or width is None:
            raise ValueError(
                f"{name} needs a fixed spatial size to resize to and from the "
                f"encoder's {self.spec.image_size}. Received input shape "
                f"{tuple(input_shape)}; give the model a fixed `image_shape`."
            )
        if min(height, width) < MIN_FEATURE_SIZE:
            raise ValueError(
                f"{name} got a {height}x{width} feature map: at least "
                f"{MIN_FEATURE_SIZE}x{MIN_FEATURE_SIZE} is needed to carry "
                f"spatial information to the encoder's "
                f"{self.spec.image_size[0]}x{self.spec.image_size[1]} input. Use "
                f"larger images, a stem that downsamples less "
                f"(`stem='cifar'`) or fewer blocks."
            )

    def _target_shape(self, input_shape):
        size = self.output_size or tuple(input_shape[1:3])
        channels = self.output_channels or input_shape[-1]
        return size, channels

    def build(self, input_shape):
        self._check_feature_shape(input_shape)
        size, channels = self._target_shape(input_shape)
        self.adapter_in = None
        if self.encoder_input != "image":
            self.adapter_in = FeatureToImage(
                self.spec.image_size,
                self.spec.num_channels,
                # Added to the image, it starts at zero: the encoder first
                # sees the image alone.
                kernel_initializer=(
                    "zeros" if self.encoder_input == "image+features" else "glorot_uniform"
                ),
                dtype=self.dtype_policy,
                name="adapter_in",
            )
            self.adapter_in.build(input_shape)
        adapter_cls = (
            TokenGridToFeature if self.projection == "grid" else PooledTokensToFeature
        )
        self.adapter_out = adapter_cls(
            size, channels, dtype=self.dtype_policy, name="adapter_out"
        )
        grid_h, grid_w = self.spec.grid_size
        self.adapter_out.build((None, grid_h, grid_w, self._grid_dim))

    def _encoder_images(self, features, images):
        """The frozen model's input: `adapter_in(features)`, `images` or both."""
        if self.encoder_input == "features":
            return self.adapter_in(features)
        name = type(self).__name__
        if images is None:
            raise ValueError(
                f"{name} with encoder_input={self.encoder_input!r} needs the "
                f"model's input images: call it as `connection(h, images=inputs)`."
            )
        if len(images.shape) != 4 or images.shape[-1] != self.spec.num_channels:
            raise ValueError(
                f"{name} got `images` of shape {tuple(images.shape)}: it needs "
                f"`(batch, height, width, {self.spec.num_channels})` images, the "
                f"encoder's channels."
            )
        images = resize_map(ops.cast(images, self.compute_dtype), self.spec.image_size)
        if self.encoder_input == "image":
            return images
        return images + self.adapter_in(features)

    def _patch_noise(self, images, seed_generator):
        """Uniform noise deciding which patches a training pass hides, one row
        per image: the draw MAE masking makes (`random_masking`), made here so
        that the frozen pass gets it as an input."""
        return keras.random.uniform(
            (ops.shape(images)[0], self.spec.num_patches), seed=seed_generator
        )

    def _frozen_output(self, x):
        """Everything the frozen model returns passes here: with
        `stop_gradient`, no gradient flows back into it."""
        return ops.stop_gradient(x) if self.stop_gradient else x

    def _project(self, grid, training):
        if self.projection == "grid":
            return self.adapter_out(grid, training=training)
        return self.adapter_out(grid)

    def _recompute(self, training):
        # Only a training step's backward pass through the frozen model has
        # activations to keep; with `stop_gradient` there is none. Blocks in
        # training mode (an unfrozen model's dropout) are not recomputed.
        return bool(
            self.remat
            and training
            and not self.stop_gradient
            and not self._encoder_training(training)
        )

    def _run_frozen(self, function, tensors, mode, training):
        """`function(*tensors)`, the frozen model's forward pass: one exported
        torch graph per signature when `dreamkeras.torch_export` applies."""
        if self.trainable_encoder or self._recompute(training):
            return function(*tensors)
        # Connections sharing a frozen model share its graphs when they run
        # the same pass.
        mode = (
            type(self).__name__, self.stop_gradient, self._xla_cpu_kernels
        ) + tuple(mode)
        frozen_model = getattr(self, self.frozen_model_key)
        return torch_export.run(frozen_model, function, tensors, mode)

    def _encoder_training(self, training):
        # A frozen model always runs in inference mode (dropout off).
        return bool(training) if self.trainable_encoder else False

    def _feature_output_shape(self, input_shape):
        size, channels = self._target_shape(input_shape)
        return (input_shape[0],) + tuple(size) + (channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "projection": self.projection,
                "output_channels": self.output_channels,
                "output_size": self.output_size,
                "trainable_encoder": self.trainable_encoder,
                "stop_gradient": self.stop_gradient,
                "remat": self.remat,
                "encoder_input": self.encoder_input,
            }
        )
        return config


def check_ratio(name, value):
    """Raises a clear error unless `value` (a share of patches) is in `[0, 1)`."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value}.")
