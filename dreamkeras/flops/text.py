"""Analytical FLOPs of the text models, per text, on any backend.

Extends the layer-by-layer counter of `dreamkeras.flops.counting` (Conv1D,
Dense, EinsumDense and the attention products of `MultiHeadAttention`, 2
FLOPs per multiply-add) with what text models add:

- recurrent layers: `LSTM` `2 * T * 4u * (input_dim + u)`, `GRU` with `3u`,
  `SimpleRNN` with `u` (the input and recurrent kernels at every step);
- XLNet's relative attention (`XLNetBackbone`): per layer and head, the
  content and position scores against `T` keys and `2T` relative positions,
  the segment scores and the weighted sum of values (its q/k/v/o/r
  projections are `EinsumDense`s);
- the LM heads' projections onto the vocabulary (`ReversibleEmbedding` in
  reverse, as in KerasHub's masked-LM heads, and `XLNetMaskedLMHead`): `2 * D * V` per
  predicted position;
- the straight-through token selection of the text connections: the
  `softmax(logits) @ E` product, `2 * V * D` per position.

Embedding lookups, biases, norms, activations, softmax and pooling are not
counted. A shared encoder is counted at every connection that calls it.
"""

import contextlib
import functools

import keras
import numpy as np

from dreamkeras.flops.counting import kind_totals
from dreamkeras.flops.counting import numel
from dreamkeras.flops.counting import patching
from dreamkeras.flops.counting import recording
from dreamkeras.flops.counting import static_shape
from dreamkeras.flops.counting import step_totals
from dreamkeras.flops.counting import variable_is_trainable

METHOD = (
    "analytical: 2 FLOPs per multiply-add of recurrent (LSTM/GRU), Conv1D, "
    "Dense and EinsumDense layers, the attention products (XLNet's relative "
    "ones included), LM-head vocabulary projections and straight-through "
    "token selection, recorded over one {mode} pass on one text of "
    "{length} tokens (shared encoders counted at every call; embedding "
    "lookups, norms, activations and pooling not counted)"
)
# Gates per recurrent cell type: LSTM 4, GRU 3, SimpleRNN 1.
RECURRENT_GATES = (("LSTM", 4), ("GRU", 3), ("SimpleRNN", 1))


def _recurrent_rule(gates):
    def rule(layer, sequences):
        batch, steps, features = static_shape(sequences)[:3]
        units = layer.units
        return 2 * batch * steps * gates * units * (features + units)

    return rule


def _relative_attention_flops(layer, kwargs):
    """XLNet's two-stream relative attention (content stream, query stream)."""
    content = static_shape(kwargs["content_stream"])
    positions = static_shape(kwargs["relative_position_encoding"])[1]
    batch, length = content[:2]
    heads, key_dim = layer.num_heads, layer.key_dim
    value_dim = layer.value_dim or key_dim
    per_stream = 2 * batch * heads * length * (
        length * key_dim  # content scores
        + positions * key_dim  # position scores
        + length * value_dim  # weighted sum of values
    )
    if kwargs.get("segment_matrix") is not None:
        per_stream += 2 * batch * length * heads * key_dim * 2  # two segment codes
    streams = 1 if kwargs.get("query_stream") is None else 2
    return streams * per_stream


@contextlib.contextmanager
def _text_recording(calls):
    """Appends `(kind, flops, layer_trainable, kernel_trainable)` per call."""
    with patching() as patch:
        _patch_text_layers(patch, calls)
        yield


def _patch_text_layers(patch, calls):
    import keras_hub

    from dreamkeras.layers import text_connections
    from dreamkeras.models.xlnet.xlnet_masked_lm import XLNetMaskedLMHead

    for class_name, gates in RECURRENT_GATES:
        cls = getattr(keras.layers, class_name)
        rule = _recurrent_rule(gates)

        def make(method, cls=cls, rule=rule):
            @functools.wraps(method)
            def call(self, sequences, *args, **kwargs):
                if type(self).call is call:  # not a subclass with its own call
                    cell = getattr(self, "cell", self)
                    calls.append(
                        ("recurrent", rule(self, sequences), bool(self.trainable),
                         variable_is_trainable(cell.kernel, self))
                    )
                return method(self, sequences, *args, **kwargs)

            return call

        patch(cls, "call", make)

    def make_attention_call(method):
        @functools.wraps(method)
        def __call__(self, *args, **kwargs):
            if "relative_position_encoding" in kwargs:  # XLNet's attention
                calls.append(
                    ("attention", _relative_attention_flops(self, kwargs),
                     bool(self.trainable), False)
                )
            return method(self, *args, **kwargs)

        return __call__

    patch(keras.layers.MultiHeadAttention, "__call__", make_attention_call)

    def make_reverse_embedding(method):
        @functools.wraps(method)
        def call(self, inputs, reverse=False, **kwargs):
            # Counted once, by the most specific patched class.
            if reverse and type(self).call is call:
                flops = 2 * numel(static_shape(inputs)) * int(self.input_dim)
                calls.append(
                    ("lm_head", flops, bool(self.trainable),
                     variable_is_trainable(self.embeddings, self))
                )
            return method(self, inputs, reverse=reverse, **kwargs)

        return call

    reversible = {
        getattr(module, "ReversibleEmbedding", None)
        for module in (keras.layers, keras_hub.layers)
    } - {None}
    for cls in reversible:  # Keras' own, and KerasHub's where it differs
        if "call" in cls.__dict__:
            patch(cls, "call", make_reverse_embedding)

    def make_xlnet_head(method):
        @functools.wraps(method)
        def call(self, inputs, mask_positions=None):
            outputs = method(self, inputs, mask_positions=mask_positions)
            flops = 2 * numel(static_shape(outputs)) * int(self.token_embedding.output_dim)
            calls.append(
                ("lm_head", flops, bool(self.trainable),
                 variable_is_trainable(self.token_embedding.embeddings, self))
            )
            return outputs

        return call

    patch(XLNetMaskedLMHead, "call", make_xlnet_head)

    def make_select(method):
        @functools.wraps(method)
        def select(self, logits, with_embeddings):
            if with_embeddings:
                table = self.backbone.token_embedding
                flops = 2 * numel(static_shape(logits)) * int(table.output_dim)
                # Its gradient reaches the logits: an input gradient.
                calls.append(
                    ("straight_through", flops, True,
                     variable_is_trainable(table.embeddings, table))
                )
            return method(self, logits, with_embeddings)

        return select

    connection_cls = text_connections.TextFrozenModelConnection
    patch(connection_cls, "_select_tokens", make_select)

    def make_connection_call(method):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            start = len(calls)
            outputs = method(self, *args, **kwargs)
            if self.token_mode == "argmax" and not self.trainable_encoder:
                # No gradient crosses argmax: the frozen layers behind it (the
                # vocabulary projection, the encoder, the LM head) have no
                # backward pass.
                for i in range(start, len(calls)):
                    kind, flops, trainable, kernel = calls[i]
                    if not trainable:
                        calls[i] = (kind, flops, "no_gradient", kernel)
            return outputs

        return call

    for cls in (text_connections.TextSleepConnection, text_connections.TextDreamConnection):
        patch(cls, "call", make_connection_call)


def _text_inputs(model, sequence_length):
    if sequence_length is None:
        shapes = [tuple(x.shape) for x in keras.tree.flatten(model.inputs)]
        sequence_length = shapes[0][1] if shapes and len(shapes[0]) > 1 else None
    if sequence_length is None:
        raise ValueError(
            "Counting FLOPs needs a sequence length: pass `sequence_length` "
            "(the preprocessor's, e.g. --max-length)."
        )
    names = [x.name for x in keras.tree.flatten(model.inputs)]
    inputs = {
        "token_ids": np.zeros((1, sequence_length), "int32"),
        "padding_mask": np.ones((1, sequence_length), "int32"),
    }
    if "segment_ids" in names:
        inputs["segment_ids"] = np.zeros((1, sequence_length), "int32")
    if "mask_positions" in names:
        inputs["mask_positions"] = np.arange(sequence_length, dtype="int32")[None]
    return inputs, int(sequence_length)


def record_text_calls(model, sequence_length=None, training=False):
    """`(kind, flops, layer_trainable, kernel_trainable)` of every counted call.

    One eager pass on one text of `sequence_length` tokens (all real).
    `layer_trainable` is `"no_gradient"` for frozen layers that no gradient
    reaches (behind an argmax).
    """
    inputs, _ = _text_inputs(model, sequence_length)
    calls = []
    with recording(calls), _text_recording(calls):
        model(inputs, training=training)
    return calls


def count_text_flops(model, sequence_length=None, training=False):
    """Returns the analytical FLOPs of one forward pass on one text.

    Args:
        model: a text `keras.Model` with `{"token_ids", "padding_mask"}`
            inputs (`TextSleepNet`, `TextDreamNet`, `LSTMClassifier`,
            `TextCNNClassifier`, a KerasHub or dreamkeras text backbone).
        sequence_length: int. Tokens per text (the preprocessor's
            `sequence_length`); defaults to the model's fixed input length.
        training: bool. Count the training-mode pass.

    Returns:
        A dict: `total` (int FLOPs per text), `by_kind` (`recurrent`, `conv`,
        `dense`, `attention`, `lm_head`, `straight_through`), `frozen` (the
        part in non-trainable layers: the frozen encoder, its LM head),
        `sequence_length` and `method`.

    Example:

    ```python
    flops = dreamkeras.flops.count_text_flops(model, sequence_length=128)
    flops["total"], flops["by_kind"]["attention"]
    ```
    """
    _, length = _text_inputs(model, sequence_length)
    calls = record_text_calls(model, length, training)
    by_kind = kind_totals(calls)
    frozen = sum(flops for _, flops, trainable, _ in calls if trainable is not True)
    return {
        "total": int(sum(by_kind.values())),
        "by_kind": by_kind,
        "frozen": int(frozen),
        "sequence_length": length,
        "method": METHOD.format(
            mode="training" if training else "inference", length=length
        ),
    }


def count_text_train_step_flops(model, sequence_length=None, frozen_backward=True):
    """Returns the analytical FLOPs of one train step on one text.

    A training-mode forward pass plus its backward pass, with the rule of
    `dreamkeras.flops.count_train_step_flops`: every layer's input
    gradient costs its forward product, a trainable kernel's gradient as much
    again, attention products twice (both operands). Frozen layers behind an
    argmax (`token_mode="argmax"` connections) have no backward pass; with
    `frozen_backward=False` no frozen layer has one.

    Args:
        model: a text `keras.Model` (see `count_text_flops`).
        sequence_length: int. Tokens per text.
        frozen_backward: bool. Whether gradients flow through the frozen
            encoder (they do in straight-through connections).

    Returns:
        A dict of ints per text: `total`, `forward`, `backward`, and
        `sequence_length` and `method`.

    Example:

    ```python
    step = dreamkeras.flops.count_text_train_step_flops(model, 128)["total"]
    ```
    """
    _, length = _text_inputs(model, sequence_length)
    forward, backward = step_totals(
        record_text_calls(model, length, training=True), frozen_backward
    )
    return {
        "total": forward + backward,
        "forward": forward,
        "backward": backward,
        "sequence_length": length,
        "method": METHOD.format(mode="training", length=length)
        + ", plus the backward pass (input gradients, trainable kernel "
        "gradients, both operands of attention products; none behind argmax)",
    }


def text_flops_report(model, sequence_length):
    """The `flops_per_text` entry of the text apps' report.

    `count_text_flops` (inference) plus `train_step_total` from
    `count_text_train_step_flops`. Counting never fails a finished run: an
    error is reported in the entry instead.

    Args:
        model: a text `keras.Model`.
        sequence_length: int. Tokens per text.

    Returns:
        A dict (see `count_text_flops`), or `{"error": str}`.

    Example:

    ```python
    report["flops_per_text"] = text_flops_report(model, 128)
    ```
    """
    try:
        report = count_text_flops(model, sequence_length)
        step = count_text_train_step_flops(model, sequence_length)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return {"error": f"{type(error).__name__}: {error}"}
    report["train_step_total"] = step["total"]
    return report
