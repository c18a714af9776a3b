"""DreamNet's parallel block: the dreams, analysed into the chain's features."""

import keras
from keras import ops

from dreamkeras import xla_cpu
from dreamkeras.layers.adapters import TokenGridToFeature
from dreamkeras.layers.residual_block import BATCH_NORM_MOMENTUM
from dreamkeras.layers.residual_block import ResidualBlock

COMBINES = ("concat", "mean")
# Dreams at least this large get the ImageNet stem (7x7/2 conv and max pool).
LARGE_DREAM = 64


@keras.saving.register_keras_serializable(package="dreamkeras")
class DreamBlock(keras.layers.Layer):
    """DreamNet's parallel block (paper Fig. 2, block 3), for any chain.

    Takes the reconstructions ("dreams") of a model's dream connections,
    combines them (stacked on the channel axis, or averaged as the reference
    implementation does), runs a small convolutional network on them (a
    stem, `num_blocks` residual blocks) and projects the result to a feature
    map of `output_size` x `output_channels`, to be added to the chain's
    output before the classifier head.

    Args:
        output_size: (int, int). Height and width of the chain's output.
        output_channels: int. Channels of the chain's output.
        width: int. Channels of the block's stem and residual blocks.
        num_blocks: int. Residual blocks after the stem.
        combine: `"concat"` (default) or `"mean"`.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        dreams: a list of `(batch, height, width, channels)` images.

    Example:

    ```python
    block = dreamkeras.layers.DreamBlock(output_size=(4, 4), output_channels=128)
    dreams = [np.random.rand(2, 32, 32, 3) for _ in range(3)]
    block(dreams).shape  # (2, 4, 4, 128)
    ```
    """

    def __init__(
        self,
        output_size,
        output_channels,
        width=64,
        num_blocks=1,
        combine="concat",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if combine not in COMBINES:
            raise ValueError(
                f"`combine` must be one of {COMBINES}. Received: combine={combine!r}."
            )
        self.output_size = tuple(int(d) for d in output_size)
        self.output_channels = int(output_channels)
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.combine = combine

    def build(self, dreams_shape):
        shapes = [tuple(shape) for shape in dreams_shape]
        if any(len(shape) != 4 for shape in shapes):
            raise ValueError(
                "DreamBlock takes a list of `(batch, height, width, channels)` "
                f"dreams. Received shapes {shapes}."
            )
        height, width, channels = shapes[0][1:]
        if self.combine == "concat":
            channels = sum(shape[-1] for shape in shapes)
        large = min(height, width) >= LARGE_DREAM
        self.stem = keras.layers.Conv2D(
            self.width,
            7 if large else 3,
            strides=2 if large else 1,
            padding="same",
            use_bias=False,
            dtype=self.dtype_policy,
            name="stem_conv",
        )
        shape = (None, height, width, channels)
        self.stem.build(shape)
        shape = self.stem.compute_output_shape(shape)
        self.stem_norm = xla_cpu.batch_normalization(
            momentum=BATCH_NORM_MOMENTUM, dtype=self.dtype_policy, name="stem_norm"
        )
        self.stem_norm.build(shape)
        self.pool = None
        if large:
            self.pool = xla_cpu.max_pooling(
                3, strides=2, padding="same", dtype=self.dtype_policy, name="pool"
            )
            shape = self.pool.compute_output_shape(shape)
        self.blocks = []
        for index in range(self.num_blocks):
            block = ResidualBlock(
                self.width, dtype=self.dtype_policy, name=f"block_{index + 1}"
            )
            block.build(shape)
            self.blocks.append(block)
        self.projection = TokenGridToFeature(
            self.output_size,
            self.output_channels,
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(shape)

    def call(self, dreams, training=None):
        dreams = list(dreams)
        if self.combine == "mean":
            x = ops.mean(ops.stack(dreams, axis=0), axis=0)
        else:
            x = dreams[0] if len(dreams) == 1 else ops.concatenate(dreams, axis=-1)
        x = self.stem_norm(self.stem(x), training=training)
        x = keras.activations.relu(x)
        if self.pool is not None:
            x = self.pool(x)
        for block in self.blocks:
            x = block(x, training=training)
        return self.projection(x, training=training)

    def compute_output_shape(self, dreams_shape):
        batch = tuple(dreams_shape[0])[0]
        return (batch,) + self.output_size + (self.output_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_size": self.output_size,
                "output_channels": self.output_channels,
                "width": self.width,
                "num_blocks": self.num_blocks,
                "combine": self.combine,
            }
        )
        return config
