"""Vision SleepNet and DreamNet: the chain with connections to a frozen model."""

import keras

from dreamkeras.layers.encoder_spec import is_autoencoder
from dreamkeras.models.vision_chain import ChainClassifier  # noqa: F401 (old path)
from dreamkeras.models.vision_chain import VisionChainClassifier
from dreamkeras.utils.freezing import set_trainable
from dreamkeras.utils.sharing import serialize_frozen_model

CONNECTION_OPTIONS = (
    "projection", "mask_ratio", "trainable_encoder", "stop_gradient", "remat",
    "encoder_input",
)


class ConnectedChainClassifier(VisionChainClassifier):
    """A vision chain classifier with a connection around every stage.

    Subclasses name the frozen model's constructor argument and attribute
    (`frozen_model_name`) and check it (`_check_frozen_model`); the chain,
    the connections (shared frozen model, one per stage) and the config are
    built here.
    """

    frozen_model_name = None

    def __init__(
        self,
        frozen_model,
        num_classes,
        num_blocks=3,
        chain="resnet18",
        width=64,
        stem="imagenet",
        image_shape=(224, 224, 3),
        chain_source="auto",
        projection="grid",
        mask_ratio=0.0,
        trainable_encoder=False,
        stop_gradient=False,
        remat=False,
        dropout=0.0,
        head_dtype="float32",
        xla_cpu_kernels=None,
        head="pool",
        head_units=128,
        encoder_input="features",
        dtype=None,
        extra_connection_options=None,
        **kwargs,
    ):
        self._check_frozen_model(frozen_model)
        set_trainable(frozen_model, trainable_encoder)
        options = dict(
            projection=projection,
            mask_ratio=mask_ratio,
            trainable_encoder=trainable_encoder,
            stop_gradient=stop_gradient,
            remat=remat,
            encoder_input=encoder_input,
        )
        extras = dict(extra_connection_options or {})
        options.update(extras)
        super().__init__(
            num_classes, num_blocks, chain, width, stem, image_shape, dropout,
            head_dtype, chain_source=chain_source, frozen_model=frozen_model,
            connection_options=options, xla_cpu_kernels=xla_cpu_kernels,
            head=head, head_units=head_units, dtype=dtype, **kwargs,
        )
        setattr(self, self.frozen_model_name, frozen_model)
        # Options of one kind of connection only (DreamNet's dream options).
        self._extra_option_names = tuple(extras)
        for name in CONNECTION_OPTIONS + self._extra_option_names:
            setattr(self, name, options[name])

    def _check_frozen_model(self, frozen_model):
        pass

    def get_config(self):
        config = super().get_config()
        frozen_model = getattr(self, self.frozen_model_name)
        config[self.frozen_model_name] = serialize_frozen_model(frozen_model)
        names = CONNECTION_OPTIONS + self._extra_option_names
        config.update({name: getattr(self, name) for name in names})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        name = cls.frozen_model_name
        config[name] = keras.layers.deserialize(config[name])
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="dreamkeras")
class SleepNet(ConnectedChainClassifier):
    """Vision SleepNet: a ResNet chain enriched by a frozen image encoder.

    `h_m = g_m(h_{m-1}) + SleepConnection_m(h_{m-1})` for the first M chain
    stages (paper eq. 1, Fig. 1), then global pooling and a softmax head. One
    encoder is shared by all M connections: the model holds (and a saved
    `.keras` file stores) its weights once, and it stays frozen after
    `keras.saving.load_model` unless `trainable_encoder=True`.

    Args:
        encoder: `keras.layers.Layer`. A ViT-style image backbone, e.g.
            `keras_hub.models.ViTBackbone.from_preset(...)` or
            `MAEAutoencoder(...).encoder`.
        num_classes: int. Number of classes, at least 2.
        num_blocks: int. M, the number of sleep blocks, 1 to 4.
        chain: `"resnet18"`, `"resnet34"`, `"resnet50"` or a KerasHub
            `ResNetBackbone` (see `ChainClassifier`).
        width: int. Filters of the stem and first stage.
        stem: `"imagenet"` or `"cifar"`.
        image_shape: (int, int, int). Input `(height, width, channels)`.
        chain_source: `"auto"`, `"keras_hub"` or `"dreamkeras"` (see
            `ChainClassifier`).
        projection: `"grid"` (keeps the encoder's token grid) or `"pooled"`
            (the paper's mean + dense form).
        mask_ratio: float in `[0, 1)`. Patches hidden from a `ViTBackbone`
            encoder in training (none at inference). Defaults to `0.0`.
        trainable_encoder: bool. Unfreezes the encoder.
        stop_gradient: bool. No backward pass through the encoder (faster;
            `adapter_in` then stays at its initial value).
        remat: bool. Recompute the frozen encoder's blocks in the backward
            pass instead of keeping their activations (less memory, one more
            encoder forward pass; same gradients).
        dropout: float. Dropout before the head.
        head, head_units: the head (see `ChainClassifier`).
        encoder_input: `"features"` (the paper), `"image"` or
            `"image+features"`: what the frozen model sees (see
            `dreamkeras.layers.SleepConnection`).
        head_dtype: dtype of the head. Defaults to `"float32"`.
        xla_cpu_kernels: optional bool. See `ChainClassifier`.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    vit = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32,
    )
    model = dreamkeras.models.SleepNet(
        vit, num_classes=10, num_blocks=3, width=16, stem="cifar",
        image_shape=(32, 32, 3),
    )
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    ```
    """

    frozen_model_name = "encoder"

    def __init__(self, encoder, num_classes, **kwargs):
        super().__init__(encoder, num_classes, **kwargs)


@keras.saving.register_keras_serializable(package="dreamkeras")
class DreamNet(ConnectedChainClassifier):
    """Vision DreamNet: a ResNet chain with reconstruction connections.

    `h_m = g_m(h_{m-1}) + DreamConnection_m(h_{m-1})` for the first M chain
    stages (paper eq. 2, Fig. 2). Each connection runs the frozen
    autoencoder and also returns its reconstruction (a "dream"); the M dreams
    go through a parallel block (its own stem and residual blocks) whose output
    is added to the chain's before global pooling and the softmax head. One
    autoencoder is shared by all connections and stored once.

    Args:
        autoencoder: `dreamkeras.models.MAEAutoencoder`. The frozen autoencoder.
        num_classes: int. Number of classes, at least 2.
        num_blocks: int. M, the number of dream blocks, 1 to 4.
        chain: `"resnet18"`, `"resnet34"`, `"resnet50"` or a KerasHub
            `ResNetBackbone` (see `ChainClassifier`).
        width: int. Filters of the stem and first stage.
        stem: `"imagenet"` or `"cifar"`.
        image_shape: (int, int, int). Input `(height, width, channels)`.
        chain_source: `"auto"`, `"keras_hub"` or `"dreamkeras"` (see
            `ChainClassifier`).
        projection: `"grid"` or `"pooled"`.
        mask_ratio: float in `[0, 1)`. Patches hidden from the encoder in
            training; none at inference. Defaults to `0.0`.
        trainable_encoder: bool. Unfreezes the autoencoder.
        stop_gradient: bool. No backward pass through the autoencoder.
        remat: bool. Recompute the frozen autoencoder's blocks in the
            backward pass instead of keeping their activations (less memory,
            one more forward pass; same gradients).
        dropout: float. Dropout before the head.
        head, head_units: the head (see `ChainClassifier`).
        encoder_input: `"features"` (the paper), `"image"` or
            `"image+features"`: what the frozen model sees (see
            `dreamkeras.layers.SleepConnection`).
        inference_mask_ratio: float in `[0, 1)`. Patches hidden from the
            autoencoder at inference, in a fixed pattern per connection.
            Defaults to `0.0`.
        keep_visible: bool. Dreams keep the input's visible patches and take
            the reconstruction only where patches were hidden (needs both
            mask ratios above 0 and a pixel-loss MAE; see
            `dreamkeras.layers.DreamConnection`). Defaults to `False`.
        head_dtype: dtype of the head. Defaults to `"float32"`.
        xla_cpu_kernels: optional bool. See `ChainClassifier`.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    mae = dreamkeras.models.MAEAutoencoder(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32, decoder_num_layers=1, decoder_num_heads=2,
        decoder_hidden_dim=16, decoder_mlp_dim=32,
    )
    model = dreamkeras.models.DreamNet(
        mae, num_classes=10, num_blocks=3, width=16, stem="cifar",
        image_shape=(32, 32, 3),
    )
    ```
    """

    frozen_model_name = "autoencoder"

    def __init__(
        self,
        autoencoder,
        num_classes,
        inference_mask_ratio=0.0,
        keep_visible=False,
        **kwargs,
    ):
        super().__init__(
            autoencoder,
            num_classes,
            extra_connection_options=dict(
                inference_mask_ratio=inference_mask_ratio, keep_visible=keep_visible
            ),
            **kwargs,
        )

    def _check_frozen_model(self, frozen_model):
        if not is_autoencoder(frozen_model):
            raise ValueError(
                "`autoencoder` must be a `dreamkeras.models.MAEAutoencoder`. "
                f"Received: autoencoder={frozen_model!r}."
            )
