"""The vision chain classifier: stem, ResNet chain, head; and its plain baseline."""

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
from dreamkeras.models.rebuilt import RebuiltModel
from dreamkeras.models.rebuilt import check_num_classes
from dreamkeras.models.rebuilt import softmax_head

MAX_BLOCKS = 4
# "pool": global average pooling and the softmax layer (the ResNet head);
# "dense": flatten, a hidden ReLU layer of `head_units`, the softmax layer.
HEADS = ("pool", "dense")


def _check_arguments(num_classes, num_blocks, chain, stem, image_shape, width):
    if not isinstance(num_blocks, int) or not 1 <= num_blocks <= MAX_BLOCKS:
        raise ValueError(
            f"`num_blocks` (M, the number of connected chain blocks) must be an "
            f"integer from 1 to {MAX_BLOCKS}. Received: num_blocks={num_blocks!r}."
        )
    check_num_classes(num_classes)
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


class VisionChainClassifier(RebuiltModel, keras.Model):
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
        head="pool",
        head_units=128,
        dtype=None,
        **kwargs,
    ):
        if head not in HEADS:
            raise ValueError(f"`head` must be one of {HEADS}. Received: head={head!r}.")
        if xla_cpu_kernels is None:
            xla_cpu_kernels = xla_cpu.enabled()
        with xla_cpu.kernels(xla_cpu_kernels):
            inputs, outputs, chain_source, width, stem, image_shape = self._graph(
                num_classes, num_blocks, chain, width, stem, image_shape, dropout,
                head_dtype, chain_source, frozen_model, connection_options, dtype,
                head, head_units,
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
        self.head = head
        self.head_units = head_units

    @staticmethod
    def _graph(
        num_classes, num_blocks, chain, width, stem, image_shape, dropout,
        head_dtype, chain_source, frozen_model, connection_options, dtype,
        head="pool", head_units=128,
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
                # A chain built here is a throwaway: its copies give every
                # layer one node. A backbone passed in keeps its layers.
                copy_layers=isinstance(chain, str),
            )
            if dreams:
                x = _merge_dreams(
                    x, dreams, image_shape, stem, width, _bottleneck(chain),
                    num_blocks, policy,
                )
        if head == "dense":
            x = keras.layers.Flatten(dtype=policy, name="flatten")(x)
            x = keras.layers.Dense(
                head_units, activation="relu", dtype=policy, name="head_hidden"
            )(x)
        else:
            x = keras.layers.GlobalAveragePooling2D(dtype=policy, name="pool")(x)
        outputs = softmax_head(x, num_classes, dropout, head_dtype, policy)
        return inputs, outputs, chain_source, width, stem, image_shape

    def get_config(self):
        chain = self.chain
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "num_blocks": self.num_blocks,
                "chain": (
                    chain if isinstance(chain, str) else keras.layers.serialize(chain)
                ),
                "chain_source": self.chain_source,
                "width": self.width,
                "stem": self.stem,
                "image_shape": self.image_shape,
                "dropout": self.dropout,
                "head_dtype": self.head_dtype,
                "xla_cpu_kernels": self.xla_cpu_kernels,
                "head": self.head,
                "head_units": self.head_units,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("chain"), dict):
            config["chain"] = keras.layers.deserialize(config["chain"])
        # Files saved before KerasHub chains and the XLA:CPU switch existed
        # were built here, with the XLA:CPU kernels.
        config.setdefault("chain_source", "dreamkeras")
        config.setdefault("xla_cpu_kernels", True)
        return super().from_config(config)


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
        head: `"pool"` (default: global average pooling, then the softmax
            layer, as in ResNets) or `"dense"` (flatten the last map, a ReLU
            layer of `head_units`, then the softmax layer: keeps where things
            are, which narrow chains on small images need in short runs).
        head_units: int. Units of the `"dense"` head's hidden layer.
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
        head="pool",
        head_units=128,
        dtype=None,
        **kwargs,
    ):
        super().__init__(
            num_classes, num_blocks, chain, width, stem, image_shape, dropout,
            head_dtype, chain_source=chain_source,
            xla_cpu_kernels=xla_cpu_kernels, head=head, head_units=head_units,
            dtype=dtype, **kwargs,
        )
