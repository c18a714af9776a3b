"""An analytical FLOP counter for Keras models, on any backend.

It traces one inference forward pass on a single image while recording
the input and output shapes of every call to the layers that hold nearly all
the arithmetic, and counts 2 FLOPs per multiply-add:

- convolutions (`Conv1D/2D/3D`, `DepthwiseConv2D`, `Conv2DTranspose`):
  `2 * output_elements * kernel_height * kernel_width * input_channels / groups`;
- `Dense` and `EinsumDense`: `2 * output_elements * contracted_size`;
- the two attention products of `MultiHeadAttention` (and subclasses such as
  KerasHub's `CachedMultiHeadAttention`): `2 * T * S * heads * (key_dim +
  value_dim)`.

A layer called several times (the one frozen encoder shared by all M
connections) is counted at every call. Biases, normalisation, activations,
softmax, pooling, resizing and element-wise additions are not counted; they
are a few percent of a ResNet or ViT.

`count_train_step_flops` adds the backward pass to a training-mode forward
pass (in which an MAE encoder sees only its unmasked patches): per layer, the
input gradient costs what its forward product cost, the kernel gradient as
much again when the kernel is trainable, and the two attention products need
gradients of both their operands. With `frozen_backward=False` (an encoder
behind `stop_gradient`) frozen layers have no backward pass at all.

`dreamkeras.flops.text` builds the text counter on this module's
`recording`, `patching`, `kind_totals` and `step_totals`.
"""

import contextlib
import functools
import math

import keras
import numpy as np


def numel(shape):
    """The number of elements of a tensor of shape `shape`, as an int."""
    return int(math.prod(int(d) for d in shape))


def static_shape(x):
    """The shape of tensor `x` as a tuple of ints."""
    return tuple(int(d) for d in keras.ops.shape(x))


def _first(outputs):
    while isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return outputs


def _conv_flops(layer, inputs, outputs):
    kernel = tuple(layer.kernel.shape)
    return 2 * numel(static_shape(_first(outputs))) * numel(kernel[:-1])


def _depthwise_flops(layer, inputs, outputs):
    kernel = tuple(layer.kernel.shape)
    return 2 * numel(static_shape(_first(outputs))) * numel(kernel[:-2])


def _transpose_flops(layer, inputs, outputs):
    kernel = tuple(layer.kernel.shape)
    return 2 * numel(static_shape(inputs)) * numel(kernel[:-1])


def _dense_flops(layer, inputs, outputs):
    return 2 * numel(static_shape(_first(outputs))) * int(layer.kernel.shape[0])


def _einsum_dense_flops(layer, inputs, outputs):
    equation = layer.equation.replace(" ", "")
    kernel_spec = equation.split("->")[0].split(",")[1]
    output_spec = equation.split("->")[1]
    kernel = tuple(layer.kernel.shape)
    contracted = numel(
        size for axis, size in zip(kernel_spec, kernel) if axis not in output_spec
    )
    return 2 * numel(static_shape(_first(outputs))) * contracted


def _attention_flops(query, key, value):
    # query (B, T, heads, key_dim), key (B, S, heads, key_dim),
    # value (B, S, heads, value_dim).
    batch, target, heads, key_dim = static_shape(query)[:4]
    source = static_shape(key)[1]
    value_dim = static_shape(value)[-1]
    return 2 * batch * target * source * heads * (key_dim + value_dim)


def _hooks():
    layers = keras.layers
    return [
        (layers.Conv1D, "call", "conv", _conv_flops),
        (layers.Conv2D, "call", "conv", _conv_flops),
        (layers.Conv3D, "call", "conv", _conv_flops),
        (layers.DepthwiseConv2D, "call", "conv", _depthwise_flops),
        (layers.Conv2DTranspose, "call", "conv", _transpose_flops),
        (layers.Dense, "call", "dense", _dense_flops),
        (layers.EinsumDense, "call", "dense", _einsum_dense_flops),
    ]


def variable_is_trainable(variable, layer):
    """Whether `variable` of `layer` trains (both must be trainable)."""
    return bool(layer.trainable and getattr(variable, "trainable", False))


def _kernel_is_trainable(layer):
    # Dense keeps its kernel variable in `_kernel` (`kernel` adds any LoRA).
    kernel = getattr(layer, "_kernel", None)
    if kernel is None:
        kernel = getattr(layer, "kernel", None)
    return variable_is_trainable(kernel, layer)


@contextlib.contextmanager
def patching():
    """Yields `patch(cls, name, make)`; restores every patched method on exit.

    `patch` replaces the method `name` of `cls` by `make(method)`, where
    `method` is the one `cls` has now (its own or inherited).
    """
    patched = []

    def patch(cls, name, make):
        original = cls.__dict__.get(name)
        setattr(cls, name, make(getattr(cls, name)))
        patched.append((cls, name, original))

    try:
        yield patch
    finally:
        for cls, name, original in reversed(patched):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


@contextlib.contextmanager
def recording(calls):
    """Appends `(kind, flops, layer_trainable, kernel_trainable)` per call.

    Covers the convolutions, `Dense`, `EinsumDense` and the attention
    products of `MultiHeadAttention` while the context is open.
    """
    with patching() as patch:
        _patch_layers(patch, calls)
        yield


def _patch_layers(patch, calls):
    for cls, name, kind, rule in _hooks():

        def factory(method, kind=kind, rule=rule, cls=cls):
            @functools.wraps(method)
            def wrapped(self, inputs, *args, **kwargs):
                outputs = method(self, inputs, *args, **kwargs)
                # Subclasses of a hooked class are counted once, by the most
                # specific hook.
                if _most_specific(type(self)) is cls:
                    calls.append(
                        (
                            kind,
                            rule(self, inputs, outputs),
                            bool(self.trainable),
                            _kernel_is_trainable(self),
                        )
                    )
                return outputs

            return wrapped

        patch(cls, name, factory)

    def attention_factory(method):
        @functools.wraps(method)
        def wrapped(self, query, key, value, *args, **kwargs):
            calls.append(
                ("attention", _attention_flops(query, key, value), bool(self.trainable), False)
            )
            return method(self, query, key, value, *args, **kwargs)

        return wrapped

    patch(keras.layers.MultiHeadAttention, "_compute_attention", attention_factory)


def _most_specific(layer_type):
    for cls in layer_type.__mro__:
        for hooked, _, _, _ in _hooks():
            if cls is hooked:
                return cls
    return None


def _record_calls(model, input_shape, training):
    if input_shape is None:
        input_shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in input_shape):
        raise ValueError(
            "Counting FLOPs needs a fixed input shape. Received "
            f"input_shape={input_shape}; pass `input_shape=(height, width, "
            "channels)`."
        )
    calls = []
    with recording(calls):
        try:
            # Traces the model without computing (jax.eval_shape, a TF
            # FuncGraph, torch's meta device): shapes are static, and it is
            # much faster than an eager pass.
            from keras.src.backend import compute_output_spec
        except ImportError:
            model(np.zeros((1,) + tuple(input_shape), "float32"), training=training)
        else:
            compute_output_spec(
                lambda images: model(images, training=training),
                keras.KerasTensor((1,) + tuple(input_shape)),
            )
    return calls


def kind_totals(calls):
    """Sums recorded `calls` by kind: `{kind: flops}`, sorted by kind."""
    counts = {}
    for kind, flops, _, _ in calls:
        counts[kind] = counts.get(kind, 0) + flops
    return {k: int(v) for k, v in sorted(counts.items())}


def step_totals(calls, frozen_backward=True):
    """`(forward, backward)` FLOPs of a train step over recorded `calls`.

    Every call's input gradient costs its forward product, a trainable
    kernel's gradient as much again, attention products twice. Calls whose
    `layer_trainable` is `"no_gradient"` (frozen layers behind an argmax)
    have no backward pass; with `frozen_backward=False` no frozen layer has.
    """
    forward = backward = 0
    for kind, flops, layer_trainable, kernel_trainable in calls:
        forward += flops
        if layer_trainable == "no_gradient" or not (
            layer_trainable or frozen_backward
        ):
            continue
        if kind == "attention":
            backward += 2 * flops
        else:
            backward += flops + (flops if kernel_trainable else 0)
    return int(forward), int(backward)


def count_flops(model, input_shape=None, training=False):
    """Returns the analytical FLOPs of one forward pass on one image.

    Args:
        model: `keras.Model` with one image input.
        input_shape: tuple or None. `(height, width, channels)`; defaults to
            the model's input shape.
        training: bool. Count the training-mode pass (an MAE encoder then
            sees only its unmasked patches) instead of inference.

    Returns:
        A dict: `total` (int FLOPs per image), `by_kind` (`conv`, `dense`,
        `attention`) and `method` (a sentence on what is counted).

    Example:

    ```python
    flops = dreamkeras.flops.count_flops(model)["total"]
    ```
    """
    by_kind = kind_totals(_record_calls(model, input_shape, training))
    return {
        "total": int(sum(by_kind.values())),
        "by_kind": by_kind,
        "method": (
            "analytical: 2 FLOPs per multiply-add of Conv/Dense/EinsumDense "
            "layers and the attention products, recorded over one "
            f"{'training' if training else 'inference'} pass on one image "
            "(shared encoders counted at every call; norms, activations, "
            "pooling and resizing not counted)"
        ),
    }


def count_train_step_flops(model, input_shape=None, frozen_backward=True):
    """Returns the analytical FLOPs of one train step on one image.

    A training-mode forward pass plus its backward pass: every layer's
    input gradient (as many FLOPs as its forward product), the kernel
    gradient of layers with a trainable kernel (as many again) and, for
    attention, the gradients of both operands of its two products. The
    input gradient of the very first layer, which no step computes, is
    counted too (a fraction of a percent for an image model).

    Args:
        model: `keras.Model` with one image input.
        input_shape: tuple or None. `(height, width, channels)`; defaults to
            the model's input shape.
        frozen_backward: bool. Whether gradients flow through the frozen
            (non-trainable) layers, as they do to reach the trainable
            adapters in front of a frozen encoder. `False` for an encoder
            behind `stop_gradient`: its layers then cost their forward pass
            only.

    Returns:
        A dict of ints per image: `total`, `forward` (training mode) and
        `backward`, and `method` (a sentence on what is counted).

    Example:

    ```python
    step = dreamkeras.flops.count_train_step_flops(model)["total"]
    ```
    """
    forward, backward = step_totals(
        _record_calls(model, input_shape, training=True), frozen_backward
    )
    return {
        "total": forward + backward,
        "forward": forward,
        "backward": backward,
        "method": (
            "analytical: a training-mode forward pass (see count_flops) plus "
            "input gradients of every layer"
            + ("" if frozen_backward else " except the frozen ones")
            + ", kernel gradients of trainable kernels and both operand "
            "gradients of the attention products"
        ),
    }
