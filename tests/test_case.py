"""A small test harness in the spirit of KerasHub's `TestCase`.

`run_layer_test` puts a layer through what every public dreamkeras layer
must support: a config round trip (directly and through
`serialize_keras_object`, with the same `dir()` before and after), a
symbolic call whose output shape and dtype match the eager call's, the
expected trainable and frozen weight counts, a training step through a
wrapper model in which the trainable weights move and the frozen ones do
not, and mixed precision (outputs in the compute dtype, weights in the
variable dtype, every sublayer on the policy).
"""

import keras
import numpy as np

from tests.helpers import config_json
from tests.helpers import snapshot
from tests.helpers import to_numpy

PRECISIONS = ("mixed_float16", "mixed_bfloat16")


def _call(layer, inputs, call_kwargs):
    return layer(*inputs, **call_kwargs) if isinstance(inputs, tuple) else layer(
        inputs, **call_kwargs
    )


def _first(outputs):
    return keras.tree.flatten(outputs)[0]


def run_serialization_test(layer):
    """Config and `serialize_keras_object` round trips; same `dir()`."""
    config = layer.get_config()
    revived = type(layer).from_config(config)
    assert config_json(revived.get_config()) == config_json(config)
    serialized = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(layer)
    assert config_json(revived.get_config()) == config_json(config)
    assert set(dir(revived)) >= set(
        name for name in dir(layer) if not name.startswith("_")
    ) - {"input", "output", "input_shape", "output_shape"}
    return revived


def _leaves(inputs):
    if isinstance(inputs, (list, tuple)):
        return [leaf for x in inputs for leaf in _leaves(x)]
    return [inputs]


def _pack(inputs, leaves):
    """`inputs`' nesting (tuples and lists of arrays) filled with `leaves`."""
    leaves = iter(leaves)

    def pack(x):
        if isinstance(x, (list, tuple)):
            return type(x)(pack(item) for item in x)
        return next(leaves)

    return pack(inputs)


def _input_like(x):
    return keras.Input(np.shape(x)[1:], dtype=str(np.asarray(x).dtype))


def symbolic_inputs(inputs):
    return _pack(inputs, [_input_like(x) for x in _leaves(inputs)])


def run_layer_test(
    make_layer,
    inputs,
    num_trainable_weights,
    num_frozen_weights=0,
    call_kwargs=None,
    frozen_weights=None,
    check_precision=True,
):
    """Checks a layer as KerasHub's `run_layer_test` does.

    Args:
        make_layer: callable returning a fresh layer (called again for the
            precision checks, inside a dtype-policy scope).
        inputs: an array, or a tuple of arrays for several call arguments.
        num_trainable_weights: int. Expected trainable weights after a call.
        num_frozen_weights: int. Expected non-trainable weights.
        call_kwargs: optional dict of call keyword arguments.
        frozen_weights: optional callable `layer -> list of variables` that
            must not change in the training step (a frozen encoder's).
        check_precision: bool. Run the mixed-precision checks.

    Returns:
        The layer, built and trained one step.
    """
    call_kwargs = dict(call_kwargs or {})
    layer = make_layer()
    symbolic = _call(layer, symbolic_inputs(inputs), call_kwargs)
    outputs = _call(layer, inputs, call_kwargs)
    for sym, eager in zip(keras.tree.flatten(symbolic), keras.tree.flatten(outputs)):
        assert tuple(sym.shape[1:]) == tuple(eager.shape[1:]), (sym.shape, eager.shape)
        assert keras.backend.standardize_dtype(sym.dtype) == (
            keras.backend.standardize_dtype(eager.dtype)
        )
    assert len(layer.trainable_weights) == num_trainable_weights, [
        w.path for w in layer.trainable_weights
    ]
    assert len(layer.non_trainable_weights) == num_frozen_weights, [
        w.path for w in layer.non_trainable_weights
    ]
    run_serialization_test(layer)
    _train_one_step(layer, inputs, call_kwargs, frozen_weights)
    if check_precision and not (
        keras.backend.backend() == "torch"  # no half-precision CPU kernels
    ):
        for policy in PRECISIONS:
            run_precision_test(make_layer, inputs, call_kwargs, policy)
    return layer


def _train_one_step(layer, inputs, call_kwargs, frozen_weights):
    """One SGD step through a wrapper model: trainables move, frozen don't."""
    arrays = _leaves(inputs)
    model_inputs = [_input_like(x) for x in arrays]
    outputs = _first(_call(layer, _pack(inputs, model_inputs), call_kwargs))
    outputs = keras.layers.Flatten()(outputs)
    outputs = keras.layers.Dense(1)(keras.layers.Lambda(lambda t: keras.ops.cast(t, "float32"))(outputs))
    model = keras.Model(model_inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    trainable = snapshot(layer.trainable_weights)
    frozen = frozen_weights(layer) if frozen_weights else layer.non_trainable_weights
    frozen = [v for v in frozen if not v.trainable]
    frozen_before = snapshot(frozen)
    targets = np.ones((len(arrays[0]), 1), "float32")
    model.fit(arrays, targets, epochs=1, verbose=0)
    if trainable:
        assert any(
            not np.array_equal(a, to_numpy(w))
            for a, w in zip(trainable, layer.trainable_weights)
        ), "no trainable weight moved"
    for name, (a, w) in zip(
        [v.path for v in frozen], zip(frozen_before, frozen)
    ):
        if "moving_" in name:  # batch-norm statistics update in training
            continue
        np.testing.assert_array_equal(a, to_numpy(w), err_msg=name)


def run_precision_test(make_layer, inputs, call_kwargs, policy):
    """Outputs in the compute dtype, weights in the variable dtype."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        layer = make_layer()
        outputs = _call(layer, inputs, call_kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    policy = keras.dtype_policies.get(policy)
    assert _first(outputs).dtype == policy.compute_dtype or (
        keras.backend.standardize_dtype(_first(outputs).dtype) == policy.compute_dtype
    ), (_first(outputs).dtype, policy.compute_dtype)
    for weight in layer.weights:
        if weight.dtype in ("float16", "bfloat16", "float32"):
            assert weight.dtype == policy.variable_dtype, weight.path
    for sublayer in layer._flatten_layers():
        if isinstance(sublayer, (keras.layers.InputLayer, keras.layers.Softmax)):
            continue
        if type(sublayer).__name__ == "MaskedLMHead":
            continue  # its last step in float32 (see TextDreamConnection)
        assert sublayer.dtype_policy.name == policy.name, (
            sublayer.name, sublayer.dtype_policy.name,
        )
