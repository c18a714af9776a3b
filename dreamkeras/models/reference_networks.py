"""The public reference implementation's networks, rebuilt on our connection layers.

`--architecture reference` (and `ReferenceDreamNet`, `ReferenceSleepNet`)
builds the networks of the paper's public PyTorch implementation
(github.com/MingzeLucasNi/DreamNet-SleepNet, described in
`shared/DESIGN.md` section 4), for reproduction and for lining parameter and
FLOP counts up with the papers' tables. Everything is ordinary Keras layers
and our `DreamConnection` with `projection="pooled"` (the reference's mean
over the MAE's patch outputs and one dense layer to the whole feature map),
wired by `dreamkeras.models.wire_connections` / `connection_factory`.

**DreamNet** (the reference's `dreamnet.py`): a 7x7/2 conv (128 filters) +
batch norm + ReLU + 3x3/2 max pool stem (56x56 at 224), three stages of
ResNet basic blocks at 128 channels without downsampling (4, 4 and 2
blocks), and after each stage the *same* connection module (one set of
adapter weights, called three times) on the stage's output, whose features
are added to it. The mean of the three reconstructions goes through a stem
of its own (7x7/2 conv + batch norm + ReLU + max pool) and a "compressor"
of 2 basic blocks, and is added to the chain's output; then average pooling
and a dense layer to the classes.

**SleepNet** (the reference's `sleepnet.py`): a 64-filter stem and three
single basic blocks at 64 channels; each block has its own connection, in
parallel with it, on the block's input: `relu(block(x) + x + connection(x))`.
The chain runs twice: first on the image, then on the image plus the three
reconstructions of the first pass; the second pass feeds the head.

Both use the full MAE (encoder and decoder: the reference's
`ViTMAEForPreTraining`) and mask 75% of its patches in training. What we do
differently, and why, is in `docs/reproduction.md`: no masking at inference
(deterministic predictions), the reference's unused layers are not built,
Keras' initialisers, the adapter's 1x1 convolution before the resize.
"""

import keras

from dreamkeras import xla_cpu
from dreamkeras.layers.connections import DreamConnection
from dreamkeras.layers.encoder_spec import is_autoencoder
from dreamkeras.layers.residual_block import BATCH_NORM_MOMENTUM
from dreamkeras.models.connect import connection_factory
from dreamkeras.models.connect import wire_connections
from dreamkeras.models.rebuilt import RebuiltModel
from dreamkeras.models.rebuilt import softmax_head
from dreamkeras.models.reference_counts import COMPRESSOR_DEPTH
from dreamkeras.models.reference_counts import DREAMNET_DEPTHS
from dreamkeras.models.reference_counts import DREAMNET_WIDTH
from dreamkeras.models.reference_counts import MAX_BLOCKS
from dreamkeras.models.reference_counts import REFERENCE_MASK_RATIO
from dreamkeras.models.reference_counts import SLEEPNET_WIDTH
from dreamkeras.utils.freezing import set_trainable
from dreamkeras.utils.sharing import serialize_frozen_model

def _torch_like(scale=1.0 / 3.0):
    # PyTorch's default for Conv2d and Linear weights (kaiming_uniform with
    # a=sqrt(5)): uniform with variance 1 / (3 fan_in).
    return keras.initializers.VarianceScaling(scale, "fan_in", "uniform")


def _conv(filters, size, strides, policy, name):
    return keras.layers.Conv2D(
        filters, size, strides=strides, padding="same", use_bias=False,
        kernel_initializer=_torch_like(), dtype=policy, name=name,
    )


def _norm(policy, name):
    return xla_cpu.batch_normalization(
        momentum=BATCH_NORM_MOMENTUM, dtype=policy, name=name
    )


def _stem(x, width, policy, prefix):
    """The reference's stem: 7x7/2 conv, batch norm, ReLU, 3x3/2 max pool."""
    x = _conv(width, 7, 2, policy, f"{prefix}_conv")(x)
    x = _norm(policy, f"{prefix}_norm")(x)
    x = keras.layers.ReLU(dtype=policy, name=f"{prefix}_relu")(x)
    return xla_cpu.max_pooling(
        3, strides=2, padding="same", dtype=policy, name=f"{prefix}_pool"
    )(x)


def _basic_block(x, filters, policy, name, extra=None, output_name=None):
    """A ResNet basic block (identity shortcut): `relu(bn(conv(relu(bn(conv(x))))) + x [+ extra])`."""
    y = _conv(filters, 3, 1, policy, f"{name}_conv_1")(x)
    y = _norm(policy, f"{name}_norm_1")(y)
    y = keras.layers.ReLU(dtype=policy, name=f"{name}_relu_1")(y)
    y = _conv(filters, 3, 1, policy, f"{name}_conv_2")(y)
    y = _norm(policy, f"{name}_norm_2")(y)
    summed = [y, x] + ([extra] if extra is not None else [])
    y = keras.layers.Add(dtype=policy, name=f"{name}_add")(summed)
    return keras.layers.ReLU(dtype=policy, name=output_name or f"{name}_out")(y)


def _stage(x, filters, depth, policy, name):
    """`depth` basic blocks; the last one's output layer is named `name`."""
    for i in range(depth):
        last = i == depth - 1
        x = _basic_block(
            x, filters, policy, f"{name}_block_{i + 1}", output_name=name if last else None
        )
    return x


def _head(x, num_classes, dropout, head_dtype, policy):
    x = keras.layers.GlobalAveragePooling2D(dtype=policy, name="pool")(x)
    return softmax_head(
        x, num_classes, dropout, head_dtype, policy, kernel_initializer=_torch_like()
    )


def _check(autoencoder, num_classes, num_blocks, image_shape, mask_ratio):
    if not is_autoencoder(autoencoder):
        raise ValueError(
            "The reference networks run a whole MAE (encoder and decoder), as the "
            "reference's ViTMAEForPreTraining: `autoencoder` must be a "
            f"`dreamkeras.models.MAEAutoencoder`. Received: {autoencoder!r}."
        )
    if not isinstance(num_blocks, int) or not 1 <= num_blocks <= MAX_BLOCKS:
        raise ValueError(
            f"`num_blocks` must be an integer from 1 to {MAX_BLOCKS}. "
            f"Received: num_blocks={num_blocks!r}."
        )
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"`num_classes` must be at least 2. Received: {num_classes!r}.")
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"`mask_ratio` must be in [0, 1). Received: {mask_ratio}.")
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3 or min(image_shape[:2]) < 16:
        raise ValueError(
            "`image_shape` must be `(height, width, channels)` of at least 16x16 "
            f"(the stem divides it by 4). Received: image_shape={image_shape}."
        )
    return image_shape


class _ReferenceNetwork(RebuiltModel, keras.Model):
    """Shared constructor, freezing and config of the two reference networks."""

    def __init__(
        self,
        autoencoder,
        num_classes,
        num_blocks=3,
        image_shape=(224, 224, 3),
        mask_ratio=REFERENCE_MASK_RATIO,
        trainable_encoder=False,
        stop_gradient=False,
        remat=False,
        dropout=0.0,
        head_dtype="float32",
        xla_cpu_kernels=None,
        dtype=None,
        **kwargs,
    ):
        image_shape = _check(autoencoder, num_classes, num_blocks, image_shape, mask_ratio)
        set_trainable(autoencoder, trainable_encoder)
        if xla_cpu_kernels is None:
            xla_cpu_kernels = xla_cpu.enabled()
        policy = keras.dtype_policies.get(dtype) if dtype else None
        options = dict(
            projection="pooled", mask_ratio=mask_ratio,
            trainable_encoder=trainable_encoder, stop_gradient=stop_gradient,
            remat=remat, dtype=dtype,
        )
        with xla_cpu.kernels(xla_cpu_kernels):
            inputs, outputs = self._graph(
                autoencoder, num_classes, num_blocks, image_shape, options, dropout,
                head_dtype, policy,
            )
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.autoencoder = autoencoder
        self.num_classes = num_classes
        self.num_blocks = num_blocks
        self.image_shape = image_shape
        self.mask_ratio = float(mask_ratio)
        self.trainable_encoder = bool(trainable_encoder)
        self.stop_gradient = bool(stop_gradient)
        self.remat = bool(remat)
        self.dropout = dropout
        self.head_dtype = head_dtype
        self.xla_cpu_kernels = bool(xla_cpu_kernels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "autoencoder": serialize_frozen_model(self.autoencoder),
                "num_classes": self.num_classes,
                "num_blocks": self.num_blocks,
                "image_shape": self.image_shape,
                "mask_ratio": self.mask_ratio,
                "trainable_encoder": self.trainable_encoder,
                "stop_gradient": self.stop_gradient,
                "remat": self.remat,
                "dropout": self.dropout,
                "head_dtype": self.head_dtype,
                "xla_cpu_kernels": self.xla_cpu_kernels,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["autoencoder"] = keras.layers.deserialize(config["autoencoder"])
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="dreamkeras")
class ReferenceDreamNet(_ReferenceNetwork):
    """The reference implementation's DreamNet, on `DreamConnection`.

    A 128-filter 7x7/2 stem, `num_blocks` stages of ResNet basic blocks at
    128 channels with no downsampling (4, 4, 2, 2 blocks), one connection
    (shared by all stages, as the reference's single `SleepConnection`
    module) after each stage on its output, and the mean of the dreams
    through a stem of its own and a 2-block "compressor", added to the
    chain's output before average pooling and the dense head. The
    connection is a `DreamConnection` with `projection="pooled"`: the
    decoder's per-patch outputs averaged over the patches, one dense layer
    to the whole `(H/4, W/4, 128)` map (308.7M weights at 224 with a
    16x16 patch MAE). See the module docstring and `docs/reproduction.md`.

    Args:
        autoencoder: `dreamkeras.models.MAEAutoencoder`. The frozen MAE.
        num_classes: int. Classes of the head.
        num_blocks: int. Connected stages, 1 to 4 (the reference: 3).
        image_shape: (int, int, int). Input shape (the reference: 224x224).
        mask_ratio: float. Patches hidden from the MAE in training (the
            reference: 0.75, at inference too; here none at inference).
        trainable_encoder, stop_gradient, remat: as in `DreamNet`.
        dropout: float. Dropout before the head (the reference: none).
        head_dtype: dtype of the head. Defaults to `"float32"`.
        xla_cpu_kernels: optional bool. See `ChainClassifier`.
        dtype: `None`, a dtype or a `keras.DTypePolicy`.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    mae = dreamkeras.models.MAEAutoencoder(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32, decoder_num_layers=1, decoder_num_heads=2,
        decoder_hidden_dim=16, decoder_mlp_dim=32,
    )
    model = dreamkeras.models.ReferenceDreamNet(mae, num_classes=10, image_shape=(32, 32, 3))
    ```
    """

    @staticmethod
    def _graph(autoencoder, num_classes, num_blocks, image_shape, options, dropout,
               head_dtype, policy):
        # === Functional Model ===
        images = keras.Input(shape=image_shape, name="images")
        x = _stem(images, DREAMNET_WIDTH, policy, "stem")
        for m in range(num_blocks):
            x = _stage(x, DREAMNET_WIDTH, DREAMNET_DEPTHS[m], policy, f"stage_{m + 1}")
        chain = keras.Model(images, x, name="chain")
        shared = {}

        def make_connection(index, h, stage_output, inputs):
            # One connection module for every stage, on the stage's output.
            if "connection" not in shared:
                shared["connection"] = DreamConnection(
                    autoencoder,
                    output_size=tuple(stage_output.shape[1:3]),
                    output_channels=stage_output.shape[-1],
                    name="dream_connection",
                    **options,
                )
            features, dream = shared["connection"](stage_output)
            dream = keras.layers.Identity(name=f"dream_{index + 1}")(dream)
            return features, dream

        inputs, x, dreams = wire_connections(
            chain, [f"stage_{m + 1}" for m in range(num_blocks)], make_connection,
            start="stem_pool", merge_name="merge", input_shape=image_shape,
        )
        dream = (
            dreams[0] if len(dreams) == 1
            else keras.layers.Average(dtype=policy, name="dream_mean")(dreams)
        )
        if tuple(dream.shape[1:3]) != image_shape[:2]:
            dream = keras.layers.Resizing(
                *image_shape[:2], dtype=policy, name="dream_resize"
            )(dream)
        y = _stem(dream, DREAMNET_WIDTH, policy, "dream_stem")
        y = _stage(y, DREAMNET_WIDTH, COMPRESSOR_DEPTH, policy, "compressor")
        x = keras.layers.Add(dtype=policy, name="merge_dreams")([x, y])
        return inputs, _head(x, num_classes, dropout, head_dtype, policy)


@keras.saving.register_keras_serializable(package="dreamkeras")
class ReferenceSleepNet(_ReferenceNetwork):
    """The reference implementation's SleepNet, on `DreamConnection`.

    A 64-filter 7x7/2 stem and `num_blocks` single ResNet basic blocks at
    64 channels, each with its own connection on the block's input,
    `x = relu(block(x) + x + connection(x))`; the chain runs twice (shared
    weights), the second time on the image plus the first pass's
    reconstructions, and the second pass feeds average pooling and the
    dense head. Like the reference it uses the whole MAE (its
    reconstructions), not only the encoder. See the module docstring and
    `docs/reproduction.md`.

    Args:
        autoencoder: `dreamkeras.models.MAEAutoencoder`. The frozen MAE.
        num_classes, num_blocks, image_shape, mask_ratio, trainable_encoder,
        stop_gradient, remat, dropout, head_dtype, xla_cpu_kernels, dtype,
        **kwargs: as in `ReferenceDreamNet`.

    Example:

    ```python
    model = dreamkeras.models.ReferenceSleepNet(mae, num_classes=10, image_shape=(32, 32, 3))
    ```
    """

    @staticmethod
    def _graph(autoencoder, num_classes, num_blocks, image_shape, options, dropout,
               head_dtype, policy):
        # === Functional Model ===
        chain_input = keras.Input(shape=image_shape, name="chain_images")
        x = _stem(chain_input, SLEEPNET_WIDTH, policy, "stem")
        make_connection = connection_factory(
            autoencoder, kind="dream", name_prefix="dream", **options
        )
        dreams = []
        for m in range(num_blocks):
            # The block keeps the map's shape: the connection is sized to it.
            features, dream = make_connection(m, x, x, chain_input)
            x = _basic_block(x, SLEEPNET_WIDTH, policy, f"block_{m + 1}", extra=features)
            dreams.append(dream)
        chain = keras.Model(chain_input, [x] + dreams, name="chain")

        images = keras.Input(shape=image_shape, name="images")
        first = chain(images)
        dreams = list(first[1:])
        if tuple(dreams[0].shape[1:]) != image_shape:
            dreams = [
                keras.layers.Resizing(
                    *image_shape[:2], dtype=policy, name=f"dream_resize_{m + 1}"
                )(d)
                for m, d in enumerate(dreams)
            ]
        dreamed = keras.layers.Add(dtype=policy, name="image_and_dreams")([images] + dreams)
        second = chain(dreamed)[0]
        return images, _head(second, num_classes, dropout, head_dtype, policy)


REFERENCE_CLASSES = {"dreamnet": ReferenceDreamNet, "sleepnet": ReferenceSleepNet}


def build_reference_network(
    model_type, autoencoder, num_classes, image_shape=None, num_blocks=3,
    mask_ratio=REFERENCE_MASK_RATIO, trainable_encoder=False, stop_gradient=False,
    remat=False, dropout=0.0,
):
    """`ReferenceDreamNet` or `ReferenceSleepNet` (`--architecture reference`).

    Args:
        model_type: `"dreamnet"` or `"sleepnet"`.
        autoencoder: str or `MAEAutoencoder`. A name for
            `dreamkeras.encoders.load_autoencoder`, or the loaded MAE.
        num_classes: int.
        image_shape: optional (int, int, int). Defaults to the MAE's input.
        num_blocks, mask_ratio, trainable_encoder, stop_gradient, remat,
        dropout: see `ReferenceDreamNet`.

    Example:

    ```python
    model = build_reference_network("dreamnet", "mae-tiny-32", num_classes=10)
    ```
    """
    from dreamkeras.encoders.loader import load_autoencoder

    if model_type not in REFERENCE_CLASSES:
        raise ValueError(
            f"The reference implementation has a SleepNet and a DreamNet: `model_type` "
            f"must be one of {sorted(REFERENCE_CLASSES)}. Received: {model_type!r}."
        )
    if isinstance(autoencoder, str):
        autoencoder = load_autoencoder(autoencoder)
    image_shape = tuple(image_shape or autoencoder.image_shape)
    return REFERENCE_CLASSES[model_type](
        autoencoder, num_classes, num_blocks=num_blocks, image_shape=image_shape,
        mask_ratio=mask_ratio, trainable_encoder=trainable_encoder,
        stop_gradient=stop_gradient, remat=remat, dropout=dropout,
    )
