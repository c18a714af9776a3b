"""A plain small CNN: the baseline a chain classifier should at least match."""

import keras

from dreamkeras.models.rebuilt import check_num_classes
from dreamkeras.models.rebuilt import softmax_head


@keras.saving.register_keras_serializable(package="dreamkeras")
class SmallCNN(keras.Model):
    """A keras.io-style small CNN for small images (MNIST, CIFAR sizes).

    Two stages of two `Conv2D` 3x3 + `BatchNormalization` + ReLU followed by
    a 2x2 max pooling (`width`, then `2 * width` filters), then `Flatten`, a
    `Dense` hidden layer, dropout and a softmax head. It is the fair "does
    the chain train well?" reference of the comparisons: a network anyone
    would write first for these images, with no encoder.

    Args:
        num_classes: int. Number of classes, at least 2.
        image_shape: (int, int, int). Input `(height, width, channels)`.
        width: int. Filters of the first stage (the second has twice as many).
        hidden_units: int. Units of the hidden dense layer.
        dropout: float. Dropout before the head.
        batchnorm_momentum: float. Momentum of the batch normalisation
            moving statistics (0.9 follows short runs closely).
        head_dtype: dtype of the head. Defaults to `"float32"` so outputs stay
            float32 under mixed precision.
        dtype: `None`, a dtype or a `keras.DTypePolicy` for the other layers.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    model = dreamkeras.models.SmallCNN(num_classes=10, image_shape=(28, 28, 1))
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    ```
    """

    def __init__(
        self,
        num_classes,
        image_shape=(32, 32, 3),
        width=32,
        hidden_units=128,
        dropout=0.0,
        batchnorm_momentum=0.9,
        head_dtype="float32",
        dtype=None,
        **kwargs,
    ):
        check_num_classes(num_classes)
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or min(image_shape[:2]) < 4:
            raise ValueError(
                "`image_shape` must be `(height, width, channels)` with sides of "
                f"at least 4 pixels. Received: image_shape={image_shape}."
            )
        inputs = keras.Input(shape=image_shape, name="images")
        x = inputs
        for stage, filters in enumerate((width, 2 * width), start=1):
            for conv in (1, 2):
                name = f"stage{stage}_conv{conv}"
                x = keras.layers.Conv2D(
                    filters, 3, padding="same", use_bias=False, dtype=dtype, name=name
                )(x)
                x = keras.layers.BatchNormalization(
                    momentum=batchnorm_momentum, dtype=dtype, name=f"{name}_bn"
                )(x)
                x = keras.layers.ReLU(dtype=dtype, name=f"{name}_relu")(x)
            x = keras.layers.MaxPooling2D(2, dtype=dtype, name=f"stage{stage}_pool")(x)
        x = keras.layers.Flatten(dtype=dtype, name="flatten")(x)
        x = keras.layers.Dense(
            hidden_units, activation="relu", dtype=dtype, name="hidden"
        )(x)
        outputs = softmax_head(x, num_classes, dropout, head_dtype, dtype)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.num_classes = num_classes
        self.image_shape = image_shape
        self.width = width
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.batchnorm_momentum = batchnorm_momentum
        self.head_dtype = head_dtype

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_classes": self.num_classes,
            "image_shape": self.image_shape,
            "width": self.width,
            "hidden_units": self.hidden_units,
            "dropout": self.dropout,
            "batchnorm_momentum": self.batchnorm_momentum,
            "head_dtype": self.head_dtype,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
