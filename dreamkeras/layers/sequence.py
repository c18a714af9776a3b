"""Layers that fit text connections to chains whose stages change length."""

import keras
from keras import ops

from dreamkeras.layers.lstm_block import LSTMBlock


def _source_positions(length, source_length):
    # Nearest source position for each target position (half-pixel centres).
    scale = source_length / length
    return [min(int((i + 0.5) * scale), source_length - 1) for i in range(length)]


@keras.saving.register_keras_serializable(package="dreamkeras")
class ResampleSequence(keras.layers.Layer):
    """Resamples `(batch, sequence, ...)` to `length` positions (nearest).

    A character-level chain pools its sequence (a CharCNN halves or thirds it
    stage by stage); a text connection reads and writes one vector per
    position. This layer brings a padding mask, or a connection's features,
    to the length of the stage it joins: position `i` of the output takes the
    input position nearest to its centre.

    Args:
        length: int. Positions of the output.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    layer = dreamkeras.layers.ResampleSequence(4)
    layer(np.arange(8).reshape(1, 8)).shape  # (1, 4): positions 1, 3, 5, 7
    ```
    """

    def __init__(self, length, **kwargs):
        super().__init__(**kwargs)
        self.length = int(length)

    def call(self, inputs):
        source_length = inputs.shape[1]
        if source_length == self.length:
            return inputs
        positions = _source_positions(self.length, source_length)
        return ops.take(inputs, ops.convert_to_tensor(positions, "int32"), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.length) + tuple(input_shape[2:])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype=inputs.dtype
        )

    def get_config(self):
        config = super().get_config()
        config["length"] = self.length
        return config


@keras.saving.register_keras_serializable(package="dreamkeras")
class TextDreamBlock(keras.layers.Layer):
    """The parallel block of a text DreamNet, for any text chain.

    Stacks the dream embeddings of a model's text dream connections on the
    feature axis, runs an `LSTMBlock` over them (padded positions skipped),
    and projects the result to the chain output's length and width, to be
    added to it before the head.

    Args:
        output_length: int. Positions of the chain's output.
        output_dim: int. Features of the chain's output.
        width: int. Units of the LSTM block.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        dreams: list of `(batch, sequence, dim)` dream embeddings.
        padding_mask: optional `(batch, sequence)` mask of the dreams.

    Example:

    ```python
    block = dreamkeras.layers.TextDreamBlock(output_length=8, output_dim=32)
    block([np.random.rand(2, 16, 24)] * 2).shape  # (2, 8, 32)
    ```
    """

    def __init__(self, output_length, output_dim, width=64, **kwargs):
        super().__init__(**kwargs)
        self.output_length = int(output_length)
        self.output_dim = int(output_dim)
        self.width = int(width)
        self.lstm = LSTMBlock(self.width, dtype=self.dtype_policy, name="lstm")
        self.projection = keras.layers.Dense(
            self.output_dim, dtype=self.dtype_policy, name="projection"
        )
        self.resample = ResampleSequence(
            self.output_length, dtype=self.dtype_policy, name="resample"
        )

    def build(self, dreams_shape, padding_mask_shape=None):
        shapes = [tuple(shape) for shape in dreams_shape]
        stacked = shapes[0][:2] + (sum(shape[-1] for shape in shapes),)
        self.lstm.build(stacked)
        self.projection.build(stacked[:2] + (self.width,))

    def call(self, dreams, padding_mask=None, training=None):
        dreams = list(dreams)
        x = dreams[0] if len(dreams) == 1 else ops.concatenate(dreams, axis=-1)
        x = self.lstm(x, padding_mask=padding_mask, training=training)
        return self.resample(self.projection(x))

    def compute_output_shape(self, dreams_shape, padding_mask_shape=None):
        batch = tuple(dreams_shape[0])[0]
        return (batch, self.output_length, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_length": self.output_length,
                "output_dim": self.output_dim,
                "width": self.width,
            }
        )
        return config
