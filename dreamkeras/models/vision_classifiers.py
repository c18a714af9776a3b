"""Vision SleepNet, DreamNet and the plain chain baseline as Keras models."""

import keras

from dreamkeras import xla_cpu
from dreamkeras.layers.encoder_spec import is_autoencoder
from dreamkeras.layers.residual_block import ResidualBlock
from dreamkeras.models.chain import CHAINS
from dreamkeras.models.chain import STAGE_STRIDES
from dreamkeras.models.chain import STEMS
from dreamkeras.models.chain import build_chain
from dreamkeras.models.chain import resolve_chain_source
from dreamkeras.models.chain import stem_layers
from dreamkeras.models.connect import connection_factory
from dreamkeras.models.connect import wire_connections
from dreamkeras.models.guard import RecoverableModel
from dreamkeras.utils.freezing import set_trainable
from dreamkeras.utils.sharing import serialize_frozen_model

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
    if isinstance(chain, str) and chain not in CHAINS:
        raise ValueError(
            f"`chain` must be one of {sorted(CHAINS)} or a KerasHub "
            f"`ResNetBackbone`. Received: chain={chain!r}."
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


def _bottleneck(chain):
    if isinstance(chain, str):
        return CHAINS[chain][0]
    return "bottleneck" in getattr(chain, "block_type", "")


class VisionChainClassifier(RecoverableModel, keras.Model):
    """Base of the vision classifiers: stem, ResNet chain, head.

    Subclasses pass the frozen model and the connection options; the graph is
    a functional model built in the constructor (the chain, with the
    connections added by `dreamkeras.models.connect.wire_connections`), and
    `from_config` re-runs the constructor, as KerasHub backbones do.
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
        chain_source="auto",
        frozen_model=None,
        connection_options=None,
        xla_cpu_kernels=None,
        dtype=None,
        **kwargs,
    ):
        if xla_cpu_kernels is None:
            xla_cpu_kernels = xla_cpu.enabled()
        with xla_cpu.kernels(xla_cpu_kernels):
            inputs, outputs, chain_source, width, stem, image_shape = self._graph(
                num_classes, num_blocks, chain, width, stem, image_shape, dropout,
                head_dtype, chain_source, frozen_model, connection_options, dtype,
            )
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.num_blocks = num_blocks
        self.chain = chain
        self.chain_source = chain_source
        self.width = width
        self.stem = stem
        self.image_shape = image_shape
        self.dropout = dropout
        self.head_dtype = head_dtype
        self.xla_cpu_kernels = bool(xla_cpu_kernels)

    @staticmethod
    def _graph(
        num_classes, num_blocks, chain, width, stem, image_shape, dropout,
        head_dtype, chain_source, frozen_model, connection_options, dtype,
    ):
        image_shape = _check_arguments(
            num_classes, num_blocks, chain, stem, image_shape, width
        )
        if isinstance(chain, str):
            chain_source = resolve_chain_source(chain_source, width, stem)
        else:
            chain_source, width, stem = "keras_hub", 64, "imagenet"
        policy = keras.dtype_policies.get(dtype) if dtype else None

        # === Functional Model ===
        chain_model, start, points = build_chain(
            chain, num_blocks, width, stem, image_shape, chain_source, policy
        )
        if frozen_model is None:
            inputs, x = chain_model.input, chain_model.output
        else:
            prefix = "dream" if is_autoencoder(frozen_model) else "sleep"
            inputs, x, dreams = wire_connections(
                chain_model,
                points,
                connection_factory(
                    frozen_model,
                    kind=prefix,
                    name_prefix=prefix,
                    dtype=dtype,
                    **(connection_options or {}),
                ),
                start=start,
                merge_name="merge",
                input_shape=image_shape,
            )
            if dreams:
                x = _merge_dreams(
                    x, dreams, image_shape, stem, width, _bottleneck(chain),
                    num_blocks, policy,
                )
        x = keras.layers.GlobalAveragePooling2D(dtype=policy, name="pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, dtype=policy, name="dropout")(x)
        outputs = keras.layers.Dense(
            num_classes, activation="softmax", dtype=head_dtype, name="predictions"
        )(x)
        return inputs, outputs, chain_source, width, stem, image_shape

    def get_config(self):
        # Don't chain to the functional config: the constructor rebuilds it.
        chain = self.chain
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "num_classes": self.num_classes,
            "num_blocks": self.num_blocks,
            "chain": chain if isinstance(chain, str) else keras.layers.serialize(chain),
            "chain_source": self.chain_source,
            "width": self.width,
            "stem": self.stem,
            "image_shape": self.image_shape,
            "dropout": self.dropout,
            "head_dtype": self.head_dtype,
            "xla_cpu_kernels": self.xla_cpu_kernels,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        if isinstance(config.get("chain"), dict):
            config["chain"] = keras.layers.deserialize(config["chain"])
        # Files saved before KerasHub chains and the XLA:CPU switch existed
        # were built here, with the XLA:CPU kernels.
        config.setdefault("chain_source", "dreamkeras")
        config.setdefault("xla_cpu_kernels", True)
        return cls(**config)


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
    y = stem_layers(dreams, stem, width, policy, prefix="dream_stem")
    for m in range(num_blocks):
        y = ResidualBlock(
            width * 2**m,
            strides=STAGE_STRIDES[m],
            bottleneck=bottleneck,
            dtype=policy,
            name=f"dream_block_{m + 1}",
        )(y)
    if tuple(y.shape[1:]) != tuple(x.shape[1:]):
        y = keras.layers.Resizing(*x.shape[1:3], dtype=policy, name="dream_fit")(y)
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
        chain: `"resnet18"`, `"resnet34"` or `"resnet50"`, or a KerasHub
            `ResNetBackbone` (e.g. `ResNetBackbone.from_preset(...)` for an
            ImageNet-pretrained chain) whose first `num_blocks` stages are
            used (then `width` and `stem` are the backbone's).
        width: int. Filters of the stem and first stage; stage m has
            `width * 2**(m-1)` (times 4 for bottleneck blocks).
        stem: `"imagenet"` (7x7/2 conv + max-pool, for 64x64 and larger) or
            `"cifar"` (3x3/1 conv, for 32x32 images at full resolution).
        image_shape: (int, int, int). Input `(height, width, channels)`.
        chain_source: `"auto"` (default), `"keras_hub"` or `"dreamkeras"`.
            Who builds a named chain: KerasHub's `ResNetBackbone` (64-channel
            ImageNet stem only; `"auto"` uses it whenever it fits) or this
            library, from the same standard Keras layers.
        dropout: float. Dropout before the head.
        head_dtype: dtype of the head. Defaults to `"float32"` so outputs stay
            float32 under mixed precision.
        xla_cpu_kernels: optional bool. Build with the XLA:CPU kernels of
            `dreamkeras.xla_cpu` (same weights and values, faster on a CPU
            under XLA); defaults to that switch's state.
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
        chain_source="auto",
        dropout=0.0,
        head_dtype="float32",
        xla_cpu_kernels=None,
        dtype=None,
        **kwargs,
    ):
        super().__init__(
            num_classes, num_blocks, chain, width, stem, image_shape, dropout,
            head_dtype, chain_source=chain_source,
            xla_cpu_kernels=xla_cpu_kernels, dtype=dtype, **kwargs,
        )


CONNECTION_OPTIONS = (
    "projection", "mask_ratio", "trainable_encoder", "stop_gradient", "remat"
)


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

    def __init__(
        self,
        encoder,
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
            head_dtype, chain_source=chain_source, frozen_model=encoder,
            connection_options=options, xla_cpu_kernels=xla_cpu_kernels,
            dtype=dtype, **kwargs,
        )
        self.encoder = encoder
        _set_connection_options(self, options)

    def get_config(self):
        config = super().get_config()
        config["encoder"] = serialize_frozen_model(self.encoder)
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

    def __init__(
        self,
        autoencoder,
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
        dtype=None,
        **kwargs,
    ):
        if not is_autoencoder(autoencoder):
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
            head_dtype, chain_source=chain_source, frozen_model=autoencoder,
            connection_options=options, xla_cpu_kernels=xla_cpu_kernels,
            dtype=dtype, **kwargs,
        )
        self.autoencoder = autoencoder
        _set_connection_options(self, options)

    def get_config(self):
        config = super().get_config()
        config["autoencoder"] = serialize_frozen_model(self.autoencoder)
        config.update(_connection_options(self))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["autoencoder"] = keras.layers.deserialize(config["autoencoder"])
        return super().from_config(config)
