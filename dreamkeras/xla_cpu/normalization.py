"""Batch normalization with its statistics taken over a (rows, channels) view."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dreamkeras")
class FlatBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization`, computed on a `(rows, channels)` view.

    Same arguments, weights, config and results as
    `keras.layers.BatchNormalization`. For channels-last inputs of rank 3 or
    more, the layer reshapes its input to `(batch * ..., channels)` (a free
    view), normalises that and reshapes back, so that the reductions of the
    forward and backward pass (batch mean and variance, the gradients of
    `gamma`, `beta` and through the statistics) run over one long axis.
    XLA:CPU splits long reductions into 32-wide windows for accuracy; over
    several batch and spatial axes it builds multi-axis windows that run
    much slower than 32 contiguous rows. (XLA still folds a reduction of the
    bare view back onto the original axes: the batch mean and the gradient
    of `beta`.) docs/cpu_performance.md has the measured gain.

    Masked inputs, another `axis`, renormalisation and inputs whose channel
    count is unknown go through `keras.layers.BatchNormalization` unchanged.

    Args:
        **kwargs: the arguments of `keras.layers.BatchNormalization`.

    Example:

    ```python
    norm = dreamkeras.xla_cpu.FlatBatchNormalization(momentum=0.9)
    outputs = norm(np.random.rand(8, 16, 16, 64), training=True)
    ```
    """

    def call(self, inputs, training=None, mask=None):
        rank = len(inputs.shape)
        channels = inputs.shape[-1]
        if (
            mask is not None
            or self.renorm
            or rank < 3
            or channels is None
            or self.axis not in (-1, rank - 1)
        ):
            return super().call(inputs, training=training, mask=mask)
        rows = ops.reshape(inputs, (-1, channels))
        outputs = self._normalize_rows(rows, training)
        return ops.reshape(outputs, ops.shape(inputs))

    def _normalize_rows(self, rows, training):
        # keras.layers.BatchNormalization.call, on a (rows, channels) tensor.
        compute_dtype = keras.backend.result_type(rows.dtype, "float32")
        rows = ops.cast(rows, compute_dtype)
        moving_mean = ops.cast(self.moving_mean, compute_dtype)
        moving_variance = ops.cast(self.moving_variance, compute_dtype)
        if training and self.trainable:
            mean, variance = ops.moments(
                rows, axes=[0], synchronized=self.synchronized
            )
            self.moving_mean.assign(
                moving_mean * self.momentum + mean * (1.0 - self.momentum)
            )
            self.moving_variance.assign(
                moving_variance * self.momentum
                + variance * (1.0 - self.momentum)
            )
        else:
            mean, variance = moving_mean, moving_variance
        outputs = ops.batch_normalization(
            x=rows,
            mean=mean,
            variance=variance,
            axis=1,
            offset=ops.cast(self.beta, compute_dtype) if self.center else None,
            scale=ops.cast(self.gamma, compute_dtype) if self.scale else None,
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)
