"""Shared pieces of the models built as functional models in their constructor.

Like KerasHub's `Backbone`, these models rebuild their graph from plain
constructor arguments: `get_config` does not chain to the functional config
and `from_config` calls the constructor. `RebuiltModel` holds that config
logic; `softmax_head` the dropout and softmax layer they all end in.
"""

import keras

from dreamkeras.models.guard import RecoverableModel


class RebuiltModel(RecoverableModel):
    """Mixin for a `RecoverableModel` that its constructor rebuilds.

    `get_config` returns `name`, `trainable` and the serialized `dtype`
    (subclasses add their constructor arguments); `from_config`
    deserializes the dtype policy and calls `cls(**config)` (subclasses
    deserialize the layers they hold first, then call `super()`). Listed
    before `keras.Model`, as `RecoverableModel`.

    Example:

    ```python
    class MyClassifier(RebuiltModel, keras.Model):
        def get_config(self):
            config = super().get_config()
            config.update({"num_classes": self.num_classes})
            return config
    ```
    """

    def get_config(self):
        # Don't chain to the functional config: the constructor rebuilds it.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def check_num_classes(num_classes):
    """Raises a `ValueError` unless `num_classes` is an integer of at least 2."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            "`num_classes` must be an integer of at least 2. "
            f"Received: num_classes={num_classes!r}."
        )


def softmax_head(x, num_classes, dropout=0.0, head_dtype="float32", dtype=None,
                 **dense_kwargs):
    """Dropout (when `dropout` is not 0) and the softmax layer `predictions`.

    Args:
        x: the pooled features, `(batch, features)`.
        num_classes: int. Units of the softmax layer.
        dropout: float. Rate of the `dropout` layer.
        head_dtype: dtype of the softmax layer.
        dtype: `None` or a dtype policy for the dropout layer.
        **dense_kwargs: more arguments of the `keras.layers.Dense` (e.g.
            `kernel_initializer`).

    Returns:
        The class probabilities, `(batch, num_classes)`.
    """
    if dropout:
        x = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")(x)
    return keras.layers.Dense(
        num_classes, activation="softmax", dtype=head_dtype, name="predictions",
        **dense_kwargs,
    )(x)
