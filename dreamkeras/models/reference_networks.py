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

import math

import keras

from dreamkeras import xla_cpu
from dreamkeras.layers.connections import DreamConnection
from dreamkeras.layers.encoder_spec import is_autoencoder
from dreamkeras.layers.residual_block import BATCH_NORM_MOMENTUM
from dreamkeras.models.connect import connection_factory
from dreamkeras.models.connect import wire_connections
from dreamkeras.models.guard import RecoverableModel
from dreamkeras.utils.freezing import set_trainable
from dreamkeras.utils.sharing import serialize_frozen_model

DREAMNET_WIDTH = 128
SLEEPNET_WIDTH = 64
# Basic blocks per stage of the reference DreamNet (its `ResNet18` passes
# [4, 4, 2, 2]: stages 1-3 and, with the third entry, the compressor).
DREAMNET_DEPTHS = (4, 4, 2, 2)
COMPRESSOR_DEPTH = DREAMNET_DEPTHS[2]
REFERENCE_MASK_RATIO = 0.75
MAX_BLOCKS = 4

# Parameter counts of the reference implementation's own PyTorch modules at
# 224x224 with 100 classes (`sum(p.numel() for p in model.parameters())`,
# docs/cpu_performance.md): SleepNet's MAE is a module-level global that
# the model does not register, so all its parameters are trainable ones.
REFERENCE_REPORTED = {
    "sleepnet": {"total": 463e6, "trainable": 463e6},
    "dreamnet": {"total": 733e6, "trainable": 621e6},
}
# The papers' tables (#Params, FLOPs as printed; the FLOP figures match
# multiply-accumulates: ResNet-18 at 224 is listed at 1.8B). "dreaming":
# Table 3 of "Dreaming is All You Need" (SleepNet-M and DreamNet-M on
# MAE-base); "vision": Table 2 of the vision paper, which prints other
# figures for the same models.
PAPER_TABLES = {
    "dreaming": {
        "sleepnet": {2: (272e6, 31.1e9), 3: (272e6, 40.1e9), 4: (273e6, 44.4e9)},
        "dreamnet": {2: (732e6, 30.0e9), 3: (733e6, 42.1e9), 4: (733e6, 50.5e9)},
    },
    "vision": {
        "sleepnet": {2: (10.01e6, 40.5e9), 3: (10.07e6, 60.6e9), 4: (10.14e6, 80.7e9)},
        "dreamnet": {2: (208.31e6, 52.3e9), 3: (209.12e6, 83.5e9), 4: (212.03e6, 118.4e9)},
    },
}
PAPER_NAMES = {
    "dreaming": "paper (Dreaming is All You Need, Table 3)",
    "vision": "paper (vision SleepNet/DreamNet, Table 2)",
}


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
    if dropout:
        x = keras.layers.Dropout(dropout, dtype=policy, name="dropout")(x)
    return keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=_torch_like(),
        dtype=head_dtype, name="predictions",
    )(x)


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


class _ReferenceNetwork(RecoverableModel, keras.Model):
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
        # Don't chain to the functional config: the constructor rebuilds it.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
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

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        config["autoencoder"] = keras.layers.deserialize(config["autoencoder"])
        return cls(**config)


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


# === Counting ===


def _feature_size(image_shape):
    """The stem's output size: a 'same' stride-2 conv and a stride-2 pool."""
    return tuple(math.ceil(math.ceil(d / 2) / 2) for d in image_shape[:2])


def reference_parameter_counts(
    model_type, num_classes, num_blocks, image_shape, patch_size, autoencoder_params,
    image_channels=3,
):
    """Parameter counts of a reference network, computed without building it.

    Args:
        model_type: `"dreamnet"` or `"sleepnet"`.
        num_classes: int.
        num_blocks: int. M.
        image_shape: (int, int, int).
        patch_size: int or (int, int). The MAE's patch size (its decoder
            predicts `patch_height * patch_width * image_channels` values per
            patch, the width of the pooled projection's input).
        autoencoder_params: int. All weights of the MAE.
        image_channels: int. Channels the MAE takes and predicts.

    Returns:
        dict: `trainable`, `non_trainable` (batch-norm statistics and the
        frozen MAE), `total` of the Keras model we build; `reference_unused`,
        the parameters of layers the reference's modules define but never
        call (not built here); `reference_trainable` and `reference_total`,
        the reference's own `model.parameters()` counts (PyTorch counts no
        batch-norm statistics; its SleepNet does not register the MAE).

    Example:

    ```python
    counts = reference_parameter_counts("dreamnet", 100, 3, (224, 224, 3), 16, 111_907_840)
    round(counts["reference_trainable"] / 1e6)  # 621
    ```
    """
    height, width = _feature_size(image_shape)
    cells = height * width
    patch_h, patch_w = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    grid_dim = patch_h * patch_w * image_channels
    channels = DREAMNET_WIDTH if model_type == "dreamnet" else SLEEPNET_WIDTH

    def norm():
        return 2 * channels, 2 * channels  # (gamma + beta, moving mean + var)

    def conv(kernel, inputs, outputs):
        return kernel * kernel * inputs * outputs

    def block():
        return 2 * conv(3, channels, channels), 2 * norm()[0], 2 * norm()[1]

    def connection():
        adapter_in = conv(1, channels, image_channels) + image_channels
        adapter_out = grid_dim * cells * channels + cells * channels
        return adapter_in + adapter_out

    stem = conv(7, image_channels, channels)
    head = channels * num_classes + num_classes
    if model_type == "dreamnet":
        depth = sum(DREAMNET_DEPTHS[:num_blocks]) + COMPRESSOR_DEPTH
        stems = 2
        connections = connection()  # one, shared by every stage
        # The reference's DreamNet also defines a Linear(768 -> 128*56*56)
        # and a 1x1 conv 128 -> 3 of its own that its forward never calls.
        unused = connection()
        reference_frozen = autoencoder_params
    else:
        depth = num_blocks
        stems = 1
        connections = num_blocks * connection()
        # Each reference SleepNet block defines a 1x1 conv (no bias) it never calls.
        unused = num_blocks * conv(1, channels, channels)
        reference_frozen = 0  # a global MAE, not among the module's parameters
    blocks_trainable = depth * block()[0] + depth * block()[1]
    statistics = depth * block()[2] + stems * norm()[1]
    trainable = (
        stems * (stem + norm()[0]) + blocks_trainable + connections + head
    )
    non_trainable = statistics + autoencoder_params
    reference_trainable = trainable + unused
    return {
        "trainable": trainable,
        "non_trainable": non_trainable,
        "total": trainable + non_trainable,
        "frozen": autoencoder_params,
        "reference_unused": unused,
        "reference_trainable": reference_trainable,
        "reference_total": reference_trainable + reference_frozen,
    }


def reference_comparison(model, forward_flops=None):
    """Our counts of a built reference network next to the paper's and the reference's.

    Args:
        model: a `ReferenceDreamNet` or `ReferenceSleepNet`.
        forward_flops: optional int. Our analytical forward FLOPs per image
            without masking (2 per multiply-add), if already counted.

    Returns:
        dict with `ours` (parameters; forward FLOPs and multiply-adds per
        image without masking, as we predict, and with the mask ratio, as
        the reference predicts), `reference` (its modules' counts computed
        from ours plus the layers it defines but never calls, and the
        counts reported in docs/cpu_performance.md) and `paper` (both
        tables' rows for this M, or None).
    """
    from dreamkeras.training.flops import count_flops
    from dreamkeras.utils.profiling import parameter_counts

    if forward_flops is None:
        forward_flops = count_flops(model)["total"]
    # A training-mode pass masks the MAE's patches, as the reference's
    # forward does in training and at inference.
    masked_flops = count_flops(model, training=True)["total"]

    kind = "dreamnet" if isinstance(model, ReferenceDreamNet) else "sleepnet"
    counts = parameter_counts(model)
    computed = reference_parameter_counts(
        kind, model.num_classes, model.num_blocks, model.image_shape,
        model.autoencoder.patch_size, counts["encoder"],
        image_channels=model.autoencoder.image_shape[-1],
    )
    paper = {
        table: rows[kind].get(model.num_blocks) for table, rows in PAPER_TABLES.items()
    }
    return {
        "model": f"{kind}-{model.num_blocks}",
        "image_shape": list(model.image_shape),
        "ours": {
            "total": counts["total"],
            "trainable": counts["trainable"],
            "frozen_autoencoder": counts["encoder"],
            "forward_flops": int(forward_flops),
            "forward_macs": int(forward_flops) // 2,
            "mask_ratio": model.mask_ratio,
            "masked_forward_flops": int(masked_flops),
            "masked_forward_macs": int(masked_flops) // 2,
        },
        "reference": {
            "trainable": computed["reference_trainable"],
            "total": computed["reference_total"],
            "unused": computed["reference_unused"],
            "reported": REFERENCE_REPORTED[kind],
            "formula_matches_ours": computed["trainable"] == counts["trainable"],
        },
        "paper": {
            table: None if row is None else {"params": row[0], "flops": row[1]}
            for table, row in paper.items()
        },
    }


def comparison_lines(comparison):
    """The printed table of `reference_comparison`."""
    ours, reference = comparison["ours"], comparison["reference"]

    def millions(value):
        return f"{value / 1e6:,.1f}M" if value >= 1e5 else f"{int(value):,}"

    lines = [
        f"Counts of the reference {comparison['model']} at "
        f"{comparison['image_shape'][0]}x{comparison['image_shape'][1]}:",
        f"  ours (built)      {millions(ours['total'])} parameters, "
        f"{millions(ours['trainable'])} trainable; forward per image "
        f"{ours['forward_macs'] / 1e9:.1f}G multiply-adds = "
        f"{ours['forward_flops'] / 1e9:.1f} GFLOPs without masking (ours at "
        f"inference), {ours['masked_forward_macs'] / 1e9:.1f}G = "
        f"{ours['masked_forward_flops'] / 1e9:.1f} GFLOPs with "
        f"{ours['mask_ratio']:.0%} of the patches masked (the reference, always)",
        f"  the reference     {millions(reference['total'])} parameters, "
        f"{millions(reference['trainable'])} trainable (ours plus "
        f"{millions(reference['unused'])} in layers it defines but never calls)",
        f"  the reference, as reported at 224x224 with 100 classes: "
        f"{millions(reference['reported']['total'])} parameters, "
        f"{millions(reference['reported']['trainable'])} trainable",
    ]
    for table, row in comparison["paper"].items():
        if row is None:
            lines.append(f"  {PAPER_NAMES[table]}: no row for this M")
        else:
            lines.append(
                f"  {PAPER_NAMES[table]}, at 224x224: {millions(row['params'])} "
                f"parameters, {row['flops'] / 1e9:.1f}B FLOPs"
            )
    return lines
