"""The optimiser and compile settings of the classifiers (images and texts)."""

import keras


def adam(optimizer):
    """The Adam optimiser of a run's `Optimizer` settings.

    Weight decay, when positive, is Keras' decoupled `weight_decay`; 0 is
    the paper's plain Adam.

    Args:
        optimizer: `dreamkeras_cli.config.Optimizer`.

    Returns:
        A `keras.optimizers.Adam`.

    Example:

    ```python
    model.compile(optimizer=adam(config.optimizer), loss="mse")
    ```
    """
    return keras.optimizers.Adam(
        learning_rate=optimizer.lr, beta_1=optimizer.beta_1, beta_2=optimizer.beta_2,
        epsilon=optimizer.epsilon, weight_decay=optimizer.weight_decay or None,
    )


def compile_classifier(model, optimizer, num_classes, sparse=False):
    """Compiles a softmax classifier with Adam, cross-entropy and accuracy.

    Args:
        model: a `keras.Model` with a softmax output.
        optimizer: `dreamkeras_cli.config.Optimizer`.
        num_classes: int. Top-5 accuracy is added above 5 classes (one-hot
            labels only).
        sparse: bool. Integer labels (the text apps) instead of one-hot ones
            (the image apps, whose MixUp mixes one-hot labels).

    Returns:
        `model`, compiled.

    Example:

    ```python
    compile_classifier(model, config.optimizer, num_classes=10)
    ```
    """
    if sparse:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        loss = keras.losses.CategoricalCrossentropy()
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if num_classes > 5:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy"))
    model.compile(optimizer=adam(optimizer), loss=loss, metrics=metrics)
    return model
