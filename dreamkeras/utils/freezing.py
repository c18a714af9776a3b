"""Freezing that survives `from_config`, `load_model` and `from_preset`."""


def set_trainable(layer, trainable):
    """Sets `trainable` on a layer, all its sublayers and all its variables.

    `layer.trainable = False` is not enough for KerasHub backbones rebuilt from
    a config (`from_config`, `keras.saving.load_model`, `from_preset(...,
    trainable=False)`): the flag then reads `False` while the variables are
    still trainable, so a model that nests the backbone would train it. On the
    TensorFlow backend, setting the flag to the value it already has is also a
    no-op. This helper toggles the flag (so the setter really recurses) and
    then, when freezing, sets every variable explicitly. Unfreezing leaves
    non-trainable state (BatchNorm statistics) non-trainable.

    Args:
        layer: `keras.layers.Layer`. The layer to freeze or unfreeze.
        trainable: bool. The new trainable state.

    Example:

    ```python
    encoder = keras_hub.models.ViTBackbone.from_config(config)
    dreamkeras.utils.set_trainable(encoder, False)
    assert not encoder.trainable_weights
    ```
    """
    trainable = bool(trainable)
    layer.trainable = not trainable
    layer.trainable = trainable
    if not trainable:
        for variable in layer.weights:
            variable.trainable = False
