"""The chains `g_1 .. g_M` of the vision networks: ResNet stages.

The paper's chains are ResNet-18/34/50 stages. By default they are KerasHub's
`keras_hub.models.ResNetBackbone` (so a chain can start from an ImageNet
preset). KerasHub's ResNet has a fixed 64-channel ImageNet stem (7x7/2 conv
and max pool); for other widths and for the full-resolution stem of small
images (`stem="cifar"`) the chain is built here from the same standard Keras
layers (`Conv2D`, `BatchNormalization`, `MaxPooling2D`) and
`dreamkeras.layers.ResidualBlock`.
"""

import keras

from dreamkeras import xla_cpu
from dreamkeras.layers.residual_block import BATCH_NORM_MOMENTUM
from dreamkeras.layers.residual_block import ResidualBlock

# name -> (bottleneck, blocks per stage) for the ResNet depths of the paper.
CHAINS = {
    "resnet18": (False, (2, 2, 2, 2)),
    "resnet34": (False, (3, 4, 6, 3)),
    "resnet50": (True, (3, 4, 6, 3)),
}
STEMS = ("imagenet", "cifar")
CHAIN_SOURCES = ("auto", "keras_hub", "dreamkeras")
KERAS_HUB_WIDTH = 64
STAGE_STRIDES = (1, 2, 2, 2)


def resolve_chain_source(chain_source, width, stem):
    """`"keras_hub"` or `"dreamkeras"` for a chain of `width` and `stem`.

    `"auto"` picks KerasHub's `ResNetBackbone` whenever it can build the
    chain (64 channels, ImageNet stem), else the chain built here.
    """
    if chain_source not in CHAIN_SOURCES:
        raise ValueError(
            f"`chain_source` must be one of {CHAIN_SOURCES}. "
            f"Received: chain_source={chain_source!r}."
        )
    fits_keras_hub = width == KERAS_HUB_WIDTH and stem == "imagenet"
    if chain_source == "auto":
        return "keras_hub" if fits_keras_hub else "dreamkeras"
    if chain_source == "keras_hub" and not fits_keras_hub:
        raise ValueError(
            "KerasHub's ResNetBackbone always has a 64-channel ImageNet stem "
            f"(7x7/2 conv and max pool). Received: width={width}, stem={stem!r}; "
            f"use chain_source='dreamkeras' (or 'auto') for other chains."
        )
    return chain_source


def keras_hub_resnet(chain, num_blocks, image_shape, dtype=None, name="resnet"):
    """The first `num_blocks` stages of a ResNet as a KerasHub `ResNetBackbone`."""
    import keras_hub

    bottleneck, depths = CHAINS[chain]
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[KERAS_HUB_WIDTH],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[KERAS_HUB_WIDTH * 2**m for m in range(num_blocks)],
        stackwise_num_blocks=list(depths[:num_blocks]),
        stackwise_num_strides=list(STAGE_STRIDES[:num_blocks]),
        block_type="bottleneck_block" if bottleneck else "basic_block",
        image_shape=tuple(image_shape),
        dtype=dtype,
        name=name,
    )


def stem_layers(x, stem, width, policy, prefix):
    """The chain's stem: 7x7/2 conv + max pool (`"imagenet"`) or 3x3 conv."""
    large = stem == "imagenet"
    x = keras.layers.Conv2D(
        width,
        7 if large else 3,
        strides=2 if large else 1,
        padding="same",
        use_bias=False,
        dtype=policy,
        name=f"{prefix}_conv",
    )(x)
    x = xla_cpu.batch_normalization(
        momentum=BATCH_NORM_MOMENTUM, dtype=policy, name=f"{prefix}_norm"
    )(x)
    x = keras.layers.ReLU(dtype=policy, name=f"{prefix}_relu")(x)
    if large:
        x = xla_cpu.max_pooling(
            3, strides=2, padding="same", dtype=policy, name=f"{prefix}_pool"
        )(x)
    return x


def stage(filters, depth, strides, bottleneck, policy, name):
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


def dreamkeras_resnet(chain, num_blocks, width, stem, image_shape, policy=None):
    """The first `num_blocks` stages of a ResNet, built from Keras layers."""
    bottleneck, depths = CHAINS[chain]
    inputs = keras.Input(shape=tuple(image_shape), name="images")
    x = stem_layers(inputs, stem, width, policy, prefix="stem")
    for m in range(num_blocks):
        x = stage(
            width * 2**m,
            depths[m],
            strides=STAGE_STRIDES[m],
            bottleneck=bottleneck,
            policy=policy,
            name=f"stage_{m + 1}",
        )(x)
    return keras.Model(inputs, x, name="chain")


def build_chain(chain, num_blocks, width, stem, image_shape, chain_source, policy):
    """A ResNet chain and where its stages start and end.

    Args:
        chain: `"resnet18"`, `"resnet34"`, `"resnet50"` or a KerasHub
            `ResNetBackbone` (e.g. from an ImageNet preset), of which the
            first `num_blocks` stages are used.
        num_blocks, width, stem, image_shape: see `SleepNet`.
        chain_source: `"keras_hub"` or `"dreamkeras"` (resolved).
        policy: dtype policy or `None`.

    Returns:
        `(model, start, points)`: a functional model from images to the
        last stage's output, the layer whose output is `h_0` (the stem's
        end), and the layer names that end the stages.
    """
    if not isinstance(chain, str):
        return _cut_backbone(chain, num_blocks)
    if chain_source == "keras_hub":
        backbone = keras_hub_resnet(chain, num_blocks, image_shape, dtype=policy)
        return _cut_backbone(backbone, num_blocks)
    model = dreamkeras_resnet(chain, num_blocks, width, stem, image_shape, policy)
    return model, "stem_pool" if stem == "imagenet" else "stem_relu", [
        f"stage_{m + 1}" for m in range(num_blocks)
    ]


def _cut_backbone(backbone, num_blocks):
    pyramid = getattr(backbone, "pyramid_outputs", None) or {}
    levels = [f"P{m + 2}" for m in range(num_blocks)]
    missing = [level for level in levels if level not in pyramid]
    if missing:
        raise ValueError(
            f"The chain backbone {backbone.name!r} has pyramid levels "
            f"{sorted(pyramid)}; {num_blocks} stages need {levels}. Pass a "
            f"KerasHub ResNetBackbone with at least {num_blocks} stages."
        )
    points = [pyramid[level]._keras_history[0].name for level in levels]
    last = pyramid[levels[-1]]
    model = (
        backbone
        if last is backbone.output
        else keras.Model(backbone.input, last, name=f"{backbone.name}_stages")
    )
    return model, "pool1_pool", points


def interleave_connections(x, blocks, make_connection, merge_name="merge"):
    """Wires `h_m = g_m(h_{m-1}) + connection_m(h_{m-1})` for every block.

    Args:
        x: the symbolic input of the first block, `h_0`.
        blocks: list of callables `g_m`.
        make_connection: callable `(index, output_shape) -> layer or None`.
            Called once per block with the block's output shape (so the
            connection can match it); `None` leaves that block unconnected.
            A connection may return a tensor or a `(features, extra)` pair.
        merge_name: prefix of the `Add` layers' names.

    Returns:
        `(h_M, extras)`: the chain's output and the list of extra outputs of
        the connections (DreamNet's reconstructions), in block order.

    Example:

    ```python
    inputs = keras.Input((32, 32, 16))
    blocks = [dreamkeras.layers.ResidualBlock(16) for _ in range(2)]
    outputs, _ = dreamkeras.models.interleave_connections(
        inputs, blocks, lambda m, shape: dreamkeras.layers.SleepConnection(vit)
    )
    ```
    """
    extras = []
    for index, block in enumerate(blocks):
        main = block(x)
        connection = make_connection(index, tuple(main.shape))
        if connection is None:
            x = main
            continue
        enriched = connection(x)
        if isinstance(enriched, (tuple, list)):
            enriched, extra = enriched
            extras.append(extra)
        x = keras.layers.Add(name=f"{merge_name}_{index + 1}")([main, enriched])
    return x, extras
