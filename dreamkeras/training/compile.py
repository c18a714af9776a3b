"""The optimiser, schedule, loss and compile settings of the classifiers (images and texts)."""

import keras
from keras import ops

from dreamkeras.training.schedules import learning_rate_schedule

# Variables that AdamW does not decay: biases and normalisation scales/offsets
# (the usual practice; decaying a BatchNorm's gamma only fights the norm).
NO_DECAY = ("bias", "gamma", "beta")


def adam(optimizer, epochs=None, steps_per_epoch=None):
    """The Adam / AdamW optimiser of a run's `Optimizer` settings.

    `weight_decay > 0` gives `keras.optimizers.AdamW` (decoupled weight
    decay) with biases and normalisation weights left undecayed; `0` is the
    paper's plain Adam. With `epochs` and `steps_per_epoch` the learning
    rate follows the run's `WarmupSchedule`; without them it is constant.

    Args:
        optimizer: `dreamkeras_cli.config.Optimizer`.
        epochs: optional int. Epochs of the run.
        steps_per_epoch: optional int. Optimizer steps per epoch.

    Returns:
        A `keras.optimizers.Adam` or `keras.optimizers.AdamW`.

    Example:

    ```python
    model.compile(optimizer=adam(config.optimizer, 30, 781), loss="mse")
    ```
    """
    learning_rate = optimizer.lr
    if epochs and steps_per_epoch:
        learning_rate = learning_rate_schedule(optimizer, epochs, steps_per_epoch)
    common = dict(
        learning_rate=learning_rate, beta_1=optimizer.beta_1, beta_2=optimizer.beta_2,
        epsilon=optimizer.epsilon,
    )
    if not optimizer.weight_decay:
        return keras.optimizers.Adam(**common)
    adamw = keras.optimizers.AdamW(weight_decay=optimizer.weight_decay, **common)
    adamw.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return adamw


@keras.saving.register_keras_serializable(package="dreamkeras")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing.

    Keras' `SparseCategoricalCrossentropy` has no `label_smoothing`; this
    one-hot encodes the labels and applies `keras.losses.categorical_crossentropy`
    with it: the target is `(1 - label_smoothing)` on the true class plus
    `label_smoothing / num_classes` on every class.

    Args:
        num_classes: int. Classes of the softmax output.
        label_smoothing: float in `[0, 1)`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    ```python
    loss = SparseCategoricalCrossentropyWithSmoothing(4, label_smoothing=0.1)
    model.compile(optimizer="adam", loss=loss)
    ```
    """

    def __init__(self, num_classes, label_smoothing=0.0, name="sparse_smoothed_ce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        targets = ops.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            targets, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, label_smoothing=self.label_smoothing)
        return config


def compile_classifier(
    model, optimizer, num_classes, sparse=False, epochs=None, steps_per_epoch=None
):
    """Compiles a softmax classifier with Adam(W), cross-entropy and accuracy.

    Args:
        model: a `keras.Model` with a softmax output.
        optimizer: `dreamkeras_cli.config.Optimizer` (also the schedule and
            `label_smoothing`).
        num_classes: int. Top-5 accuracy is added above 5 classes (one-hot
            labels only).
        sparse: bool. Integer labels (the text apps) instead of one-hot ones
            (the image apps, whose MixUp mixes one-hot labels).
        epochs: optional int. Epochs of the run (for the schedule).
        steps_per_epoch: optional int. Optimizer steps per epoch (for the
            schedule); without both, the learning rate is constant.

    Returns:
        `model`, compiled.

    Example:

    ```python
    compile_classifier(model, config.optimizer, num_classes=10, epochs=30,
                       steps_per_epoch=781)
    ```
    """
    smoothing = optimizer.label_smoothing
    if sparse:
        if smoothing:
            loss = SparseCategoricalCrossentropyWithSmoothing(num_classes, smoothing)
        else:
            loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if num_classes > 5:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy"))
    model.compile(
        optimizer=adam(optimizer, epochs, steps_per_epoch), loss=loss, metrics=metrics
    )
    return model


def steps_per_epoch_of(schedule, train_size):
    """Optimizer steps per epoch: `--steps-per-epoch`, else full batches of the data.

    Returns None when neither is known (the schedule then stays constant).

    Example:

    ```python
    steps_per_epoch_of(config.schedule, 45000)  # 703 at batch 64
    ```
    """
    if schedule.steps_per_epoch:
        return schedule.steps_per_epoch
    if train_size:
        return max(train_size // schedule.batch_size, 1)
    return None
