"""Vision SleepNet, DreamNet and the plain chain baseline as Keras models."""

import keras

from dreamkeras.layers.connections import DreamConnection
from dreamkeras.layers.connections import SleepConnection
from dreamkeras.layers.normalization import FlatBatchNormalization
from dreamkeras.layers.pooling import SeparableMaxPooling2D
from dreamkeras.layers.residual_block import BATCH_NORM_MOMENTUM
from dreamkeras.layers.residual_block import ResidualBlock
from dreamkeras.models.chain import CHAINS
from dreamkeras.models.chain import STEMS
from dreamkeras.models.chain import interleave_connections
from dreamkeras.models.mae.mae_autoencoder import MAEAutoencoder
from dreamkeras.utils.freezing import set_trainable

MAX_BLOCKS = 4


def _check_arguments(num_classes, num_blocks, chain, stem, image_shape, width):
    if not isinstance(num_blocks, int) or not 1 <= num_blocks <= MAX_BLOCKS:
        raise ValueError(
            f"`num_blocks` (M, the number of connected chain blocks) must be an "
            f"integer from 1 to {MAX_BLOCKS}. Received: num_blocks={num_blocks!r}."
        )
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            "`num_classes` must be an integer of at least 2. "
            f"Received: num_classes={num_classes!r}."
        )
    if chain not in CHAINS:
        raise ValueError(
            f"`chain` must be one of {sorted(CHAINS)}. Received: chain={chain!r}."
        )
    if stem not in STEMS:
        raise ValueError(f"`stem` must be one of {STEMS}. Received: stem={stem!r}.")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"`width` must be a positive integer. Received: {width!r}.")
    image_shape = tuple(image_shape)
    if len(image_shape) != 3 or any(d is None or d < 1 for d in image_shape):
        raise ValueError(
            "`image_shape` must be a fixed `(height, width, channels)` tuple. "
            f"Received: image_shape={image_shape}."
        )
    return tuple(int(d) for d in image_shape)


class VisionChainClassifier(keras.Model):
    """Base of the vision classifiers: stem, ResNet chain, head.

    Subclasses pass a connection factory; the graph is a functional model
    built in the constructor, and `from_config` re-runs the constructor, as
    KerasHub backbones do.
    """

    def __init__(
        self,
        num_classes,
        num_blocks,
        chain,
        width,
        stem,
        image_shape,
        dropout,
        head_dtype,
        make_connection=None,
        merge_dreams=False,
        dtype=None,
        **kwargs,
    ):
        image_shape = _check_arguments(
            num_classes, num_blocks, chain, stem, image_shape, width
        )
        bottleneck, depths = CHAINS[chain]
        policy = keras.dtype_policies.get(dtype) if dtype else None

        # === Functional Model ===
        inputs = keras.Input(shape=image_shape, name="images")
        x = _stem(inputs, stem, width, policy, prefix="stem")
        blocks = [
            _stage(
                width * 2**m,
                depths[m],
                strides=1 if m == 0 else 2,
                bottleneck=bottleneck,
                policy=policy,
                name=f"stage_{m + 1}",
            )
            for m in range(num_blocks)
        ]
        x, dreams = interleave_connections(
            x, blocks, make_connection or (lambda index, shape: None)
        )
        if merge_dreams:
            x = _merge_dreams(
                x, dreams, image_shape, stem, width, bottleneck, num_blocks, policy
            )
        x = keras.layers.GlobalAveragePooling2D(dtype=policy, name="pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, dtype=policy, name="dropout")(x)
        outputs = keras.layers.Dense(
            num_classes, activation="softmax", dtype=head_dtype, name="predictions"
        )(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.num_blocks = num_blocks
        self.chain = chain
        self.width = width
        self.stem = stem
        self.image_shape = image_shape
        self.dropout = dropout
        self.head_dtype = head_dtype

    def get_config(self):
        # Don't chain to the functional config: the constructor rebuilds it.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "num_classes": self.num_classes,
            "num_blocks": self.num_blocks,
            "chain": self.chain,
            "width": self.width,
            "stem": self.stem,
            "image_shape": self.image_shape,
            "dropout": self.dropout,
            "head_dtype": self.head_dtype,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def _stem(x, stem, width, policy, prefix):
    if stem == "imagenet":
        x = keras.layers.Conv2D(
            width, 7, strides=2, padding="same", use_bias=False,
            dtype=policy, name=f"{prefix}_conv",
        )(x)
    else:
        x = keras.layers.Conv2D(
            width, 3, padding="same", use_bias=False,
            dtype=policy, name=f"{prefix}_conv",
        )(x)
    x = FlatBatchNormalization(
        momentum=BATCH_NORM_MOMENTUM, dtype=policy, name=f"{prefix}_norm"
    )(x)
    x = keras.layers.ReLU(dtype=policy, name=f"{prefix}_relu")(x)
    if stem == "imagenet":
        # Same pooling as keras.layers.MaxPooling2D, with a gradient that
        # XLA:CPU computes 2.4-5x faster (see SeparableMaxPooling2D).
        x = SeparableMaxPooling2D(
            3, strides=2, padding="same", dtype=policy, name=f"{prefix}_pool"
        )(x)
    return x


def _stage(filters, depth, strides, bottleneck, policy, name):
    """One chain block `g_m`: `depth` residual blocks, the first strided."""
    return keras.Sequential(
        [
            ResidualBlock(
                filters,
                strides=strides if i == 0 else 1,
                bottleneck=bottleneck,
                dtype=policy,
                name=f"{name}_block_{i + 1}",
            )
            for i in range(depth)
        ],
        name=name,
    )


def _merge_dreams(
    x, dreams, image_shape, stem, width, bottleneck, num_blocks, policy
):
    """DreamNet's parallel block: the dreams, analysed and added to the chain.

    The M reconstructions are stacked on the channel axis (each keeps its own
    channels), brought to the model's input size, and go through a stem of
    their own and one residual block per chain stage, so that the result has
    the chain output's shape.
    """
    dreams = (
        dreams[0]
        if len(dreams) == 1
        else keras.layers.Concatenate(dtype=policy, name="dreams")(dreams)
    )
    if tuple(dreams.shape[1:3]) != image_shape[:2]:
        dreams = keras.layers.Resizing(
            *image_shape[:2], dtype=policy, name="dream_resize"
        )(dreams)
    y = _stem(dreams, stem, width, policy, prefix="dream_stem")
    for m in range(num_blocks):
        y = ResidualBlock(
            width * 2**m,
            strides=1 if m == 0 else 2,
            bottleneck=bottleneck,
            dtype=policy,
            name=f"dream_block_{m + 1}",
        )(y)
    return keras.layers.Add(name="merge_dreams")([x, y])


@keras.saving.register_keras_serializable(package="dreamkeras")
class ChainClassifier(VisionChainClassifier):
    """The plain chain baseline: SleepNet's network without connections.

    Stem, the first `num_blocks` stages of a ResNet (`chain`), global average
    pooling and a softmax head, exactly as in `SleepNet` and `DreamNet` with
    the same arguments, so that comparisons isolate the connections.

    Args:
        num_classes: int. Number of classes, at least 2.
        num_blocks: int. Number of chain blocks M (ResNet stages), 1 to 4.
        chain: `"resnet18"`, `"resnet34"` or `"resnet50"`. Depth and block
            type of the stages.
        width: int. Filters of the stem and first stage; stage m has
            `width * 2**(m-1)` (times 4 for bottleneck blocks).
        stem: `"imagenet"` (7x7/2 conv + max-pool, for 64x64 and larger) or
            `"cifar"` (3x3/1 conv, for 32x32 images at full resolution).
        image_shape: (int, int, int). Input `(height, width, channels)`.
        dropout: float. Dropout before the head.
        head_dtype: dtype of the head. Defaults to `"float32"` so outputs stay
            float32 under mixed precision.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    model = dreamkeras.models.ChainClassifier(
        num_classes=10, num_blocks=3, image_shape=(32, 32, 3), stem="cifar"
    )
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    ```
    """

    def __init__(
        self,
        num_classes,
        num_blocks=3,
        chain="resnet18",
        width=64,
        stem="imagenet",
        image_shape=(224, 224, 3),
        dropout=0.0,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        super().__init__(
            num_classes, num_blocks, chain, width, stem, image_shape, dropout,
            head_dtype, dtype=dtype, **kwargs,
        )


CONNECTION_OPTIONS = (
    "projection", "mask_ratio", "trainable_encoder", "stop_gradient", "remat"
)


def _connection_maker(connection_cls, frozen_model, prefix, options, dtype):
    """`make_connection(index, shape)` for `VisionChainClassifier`."""

    def make_connection(index, shape):
        return connection_cls(
            frozen_model,
            output_size=shape[1:3],
            output_channels=shape[-1],
            dtype=dtype,
            name=f"{prefix}_connection_{index + 1}",
            **options,
        )

    return make_connection


def _set_connection_options(model, options):
    for name in CONNECTION_OPTIONS:
        setattr(model, name, options[name])


def _connection_options(model):
    return {name: getattr(model, name) for name in CONNECTION_OPTIONS}


@keras.saving.register_keras_serializable(package="dreamkeras")
class SleepNet(VisionChainClassifier):
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
        chain: `"resnet18"`, `"resnet34"` or `"resnet50"`.
        width: int. Filters of the stem and first stage.
        stem: `"imagenet"` or `"cifar"`.
        image_shape: (int, int, int). Input `(height, width, channels)`.
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
        head_dtype: dtype of the head. Defaults to `"float32"`.
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

    def __init__(
        self,
        encoder,
        num_classes,
        num_blocks=3,
        chain="resnet18",
        width=64,
        stem="imagenet",
        image_shape=(224, 224, 3),
        projection="grid",
        mask_ratio=0.0,
        trainable_encoder=False,
        stop_gradient=False,
        remat=False,
        dropout=0.0,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        set_trainable(encoder, trainable_encoder)
        options = dict(
            projection=projection,
            mask_ratio=mask_ratio,
            trainable_encoder=trainable_encoder,
            stop_gradient=stop_gradient,
            remat=remat,
        )
        super().__init__(
            num_classes, num_blocks, chain, width, stem, image_shape, dropout,
            head_dtype,
            make_connection=_connection_maker(
                SleepConnection, encoder, "sleep", options, dtype
            ),
            dtype=dtype, **kwargs,
        )
        self.encoder = encoder
        _set_connection_options(self, options)

    def get_config(self):
        config = super().get_config()
        config["encoder"] = keras.layers.serialize(self.encoder)
        config.update(_connection_options(self))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.layers.deserialize(config["encoder"])
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="dreamkeras")
class DreamNet(VisionChainClassifier):
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
        chain: `"resnet18"`, `"resnet34"` or `"resnet50"`.
        width: int. Filters of the stem and first stage.
        stem: `"imagenet"` or `"cifar"`.
        image_shape: (int, int, int). Input `(height, width, channels)`.
        projection: `"grid"` or `"pooled"`.
        mask_ratio: float in `[0, 1)`. Patches hidden from the encoder in
            training; none at inference. Defaults to `0.0`.
        trainable_encoder: bool. Unfreezes the autoencoder.
        stop_gradient: bool. No backward pass through the autoencoder.
        remat: bool. Recompute the frozen autoencoder's blocks in the
            backward pass instead of keeping their activations (less memory,
            one more forward pass; same gradients).
        dropout: float. Dropout before the head.
        head_dtype: dtype of the head. Defaults to `"float32"`.
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

    def __init__(
        self,
        autoencoder,
        num_classes,
        num_blocks=3,
        chain="resnet18",
        width=64,
        stem="imagenet",
        image_shape=(224, 224, 3),
        projection="grid",
        mask_ratio=0.0,
        trainable_encoder=False,
        stop_gradient=False,
        remat=False,
        dropout=0.0,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        if not isinstance(autoencoder, MAEAutoencoder):
            raise ValueError(
                "`autoencoder` must be a `dreamkeras.models.MAEAutoencoder`. "
                f"Received: autoencoder={autoencoder!r}."
            )
        set_trainable(autoencoder, trainable_encoder)
        options = dict(
            projection=projection,
            mask_ratio=mask_ratio,
            trainable_encoder=trainable_encoder,
            stop_gradient=stop_gradient,
            remat=remat,
        )
        super().__init__(
            num_classes, num_blocks, chain, width, stem, image_shape, dropout,
            head_dtype,
            make_connection=_connection_maker(
                DreamConnection, autoencoder, "dream", options, dtype
            ),
            merge_dreams=True, dtype=dtype, **kwargs,
        )
        self.autoencoder = autoencoder
        _set_connection_options(self, options)

    def get_config(self):
        config = super().get_config()
        config["autoencoder"] = keras.layers.serialize(self.autoencoder)
        config.update(_connection_options(self))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["autoencoder"] = keras.layers.deserialize(config["autoencoder"])
        return super().from_config(config)
