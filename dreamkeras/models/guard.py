"""Models that check their inputs and survive a failed step on JAX.

On the JAX backend, Keras' `fit`, `evaluate` and `predict` hand the model's
variables to a stateless compiled function and detach them from the
`keras.Variable`s for the duration of the loop (to save memory); they are
put back when the loop ends. If the first call fails (an input of the wrong
shape fails while tracing), nothing puts them back, and every later call of
the model fails with `TypeError: 'NoneType' object is not callable`. These
models check the input shapes they can before handing over to Keras, and put
the variables back themselves when a call fails anyway.
"""

import contextlib

import keras


def _static_shape(x):
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except TypeError:  # a TensorShape of unknown rank
        return None


def _features_of(x):
    """The features part of what `fit`/`evaluate`/`predict` receive."""
    element_spec = getattr(x, "element_spec", None)
    if element_spec is not None:  # a tf.data.Dataset
        return element_spec[0] if isinstance(element_spec, tuple) else element_spec
    return x


def check_input_shapes(model, x):
    """Raises a clear `ValueError` when `x` cannot be the input of `model`.

    Compares the fixed dimensions of the model's inputs with those of `x`
    (arrays, tensors, dicts of them, or the element spec of a
    `tf.data.Dataset`). Inputs whose shape cannot be read are left to Keras.

    Args:
        model: a functional `keras.Model`.
        x: what is passed to `fit`, `evaluate` or `predict` as `x`.
    """
    features = _features_of(x)
    try:
        expected = model.input
    except (AttributeError, ValueError):  # a subclassed model: no graph
        return
    if isinstance(expected, dict) and isinstance(features, dict):
        pairs = [(name, expected[name], features.get(name)) for name in expected]
    elif not isinstance(expected, (dict, list, tuple)) and not isinstance(
        features, (dict, list, tuple)
    ):
        pairs = [(None, expected, features)]
    else:
        return
    for name, tensor, value in pairs:
        got, want = _static_shape(value), _static_shape(tensor)
        if got is None or want is None:
            continue
        fits = len(got) == len(want) and all(
            w is None or g is None or g == w for g, w in zip(got[1:], want[1:])
        )
        if not fits:
            where = f"input {name!r}" if name else "inputs"
            hint = (
                f" Resize the images to {want[1]}x{want[2]} (e.g. with "
                f"`keras.layers.Resizing` in the data pipeline) or build the "
                f"model for images of shape {got[1:]}."
                if len(want) == 4
                else ""
            )
            raise ValueError(
                f"{model.name} expects {where} of shape {want} (batch first), "
                f"but received shape {got}.{hint}"
            )


@contextlib.contextmanager
def keep_variables(model):
    """Puts the model's variables back if the block fails (JAX only)."""
    if keras.backend.backend() != "jax":
        yield
        return
    variables = list(model.variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        variables += list(optimizer.variables)
    variables += list(model.metrics_variables)
    values = [variable.value for variable in variables]
    try:
        yield
    except BaseException:
        for variable, value in zip(variables, values):
            variable.assign(value)
        raise


class RecoverableModel:
    """Mixin for a `keras.Model` that checks inputs and survives failed calls.

    `fit`, `evaluate`, `predict` and the `*_on_batch` methods first compare
    the input's shape with the model's (a clear `ValueError` naming both
    shapes), and on JAX they restore the model's variables when the call
    fails, so that the model keeps working (Keras leaves them detached).

    A mixin, listed before `keras.Model`: Keras rewrites the bases of a
    `keras.Model` subclass into `Functional` when it is built from inputs and
    outputs, which must not reach subclassed models sharing a base class.

    Example:

    ```python
    class MyModel(dreamkeras.models.RecoverableModel, keras.Model):
        ...
    ```
    """

    def fit(self, x=None, y=None, *args, **kwargs):
        check_input_shapes(self, x)
        with keep_variables(self):
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        check_input_shapes(self, x)
        with keep_variables(self):
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        check_input_shapes(self, x)
        with keep_variables(self):
            return super().predict(x, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        check_input_shapes(self, x)
        with keep_variables(self):
            return super().train_on_batch(x, y, *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        check_input_shapes(self, x)
        with keep_variables(self):
            return super().test_on_batch(x, y, *args, **kwargs)

    def predict_on_batch(self, x):
        check_input_shapes(self, x)
        with keep_variables(self):
            return super().predict_on_batch(x)


@keras.saving.register_keras_serializable(package="dreamkeras")
class ConnectedModel(RecoverableModel, keras.Model):
    """The functional model `add_connections` returns: a `RecoverableModel`.

    Built, saved and loaded like any functional `keras.Model`
    (`ConnectedModel(inputs, outputs, name=...)`).
    """

