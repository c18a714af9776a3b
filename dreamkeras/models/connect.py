"""Adding connections to an existing Keras model: `add_connections`.

The paper's idea is generic: take a chain-like network, cut it into stages
`g_1 .. g_M`, and add a connection to a frozen pretrained model around every
stage, `h_m = g_m(h_{m-1}) + connection_m(h_{m-1})`. `add_connections` does
that to any functional or `Sequential` Keras model (a KerasHub
`ResNetBackbone`, a user's CNN, a text chain), by re-running the model's
graph with `keras.models.clone_model(..., call_function=...)` and the same
layers: the result shares the original's layers and weights (a pretrained
chain stays pretrained) and is an ordinary functional model that saves and
reloads with `keras.saving.load_model`.
"""

import keras

from dreamkeras.layers.connections import DreamConnection
from dreamkeras.layers.connections import SleepConnection
from dreamkeras.layers.dream_block import DreamBlock
from dreamkeras.layers.encoder_spec import is_autoencoder
from dreamkeras.layers.sequence import ResampleSequence
from dreamkeras.layers.sequence import TextDreamBlock
from dreamkeras.layers.text_connections import TextDreamConnection
from dreamkeras.layers.text_connections import TextSleepConnection
from dreamkeras.models.guard import ConnectedModel
from dreamkeras.models.rebuilt import softmax_head

# Where a KerasHub `ResNetBackbone`'s stem ends: the input of its first stage.
RESNET_STEM_OUTPUT = "pool1_pool"


def connection_kind(frozen_model):
    """Names the connection a frozen model calls for.

    Args:
        frozen_model: a ViT-style image encoder, a `MAEAutoencoder`, a
            KerasHub text backbone or a KerasHub masked LM.

    Returns:
        `"sleep"`, `"dream"`, `"text_sleep"` or `"text_dream"`.
    """
    if is_autoencoder(frozen_model):
        return "dream"
    if isinstance(frozen_model, keras_hub_masked_lm()):
        return "text_dream"
    if isinstance(getattr(frozen_model, "input", None), dict):
        return "text_sleep"
    return "sleep"


def keras_hub_masked_lm():
    import keras_hub

    return keras_hub.models.MaskedLM


def _layer_of(tensor):
    return tensor._keras_history[0]


def _as_functional(model):
    """A functional view of `model` (a `Sequential` is called on an `Input`)."""
    if isinstance(model, keras.Sequential):
        if not model.built or model.inputs is None:
            raise ValueError(
                f"The Sequential model {model.name!r} has no input shape yet. "
                f"Build it first, e.g. with `keras.Input(shape)` as its first "
                f"entry or `model.build((None, ...))`."
            )
        inputs = keras.Input(batch_shape=model.inputs[0].shape, name="inputs")
        x = inputs
        for layer in model.layers:
            x = layer(x)
        return keras.Model(inputs, x, name=model.name)
    if not hasattr(model, "_run_through_graph"):
        raise ValueError(
            f"`add_connections` rewires a functional or Sequential model, but "
            f"{type(model).__name__} {getattr(model, 'name', '')!r} is a subclassed "
            f"model with no graph. Call the connection layers inside its "
            f"`call()` instead (see dreamkeras.SleepConnection)."
        )
    return model


def resolve_points(model, after):
    """Layer names for `after` (layer names or `pyramid_outputs` levels)."""
    if isinstance(after, str):
        after = [after]
    after = list(after)
    if not after:
        raise ValueError("`after` must name at least one layer or pyramid level.")
    pyramid = getattr(model, "pyramid_outputs", None) or {}
    names = []
    for point in after:
        if point in pyramid:
            names.append(_layer_of(pyramid[point]).name)
            continue
        try:
            model.get_layer(point)
        except ValueError:
            known = list(pyramid) + [layer.name for layer in model.layers]
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise ValueError(
                f"`after` names {point!r}, which is neither a layer nor a "
                f"pyramid level of the model {model.name!r}. Pass names from: "
                f"{shown}."
            ) from None
        names.append(point)
    if len(set(names)) != len(names):
        raise ValueError(f"`after` names a layer twice. Received: after={after}.")
    return names


def default_start(model):
    """Where `h_0` comes from by default: a ResNet's stem, else the input."""
    import keras_hub

    if isinstance(model, keras_hub.models.ResNetBackbone):
        return RESNET_STEM_OUTPUT
    return None


def wire_connections(
    model,
    after,
    make_connection,
    start=None,
    merge_name="merge",
    input_shape=None,
    copy_layers=False,
):
    """Re-runs `model`'s graph with `h = stage(h) + connection(h)` at `after`.

    The lower-level half of `add_connections`, for builders that add their
    own head. Layers are reused, not copied.

    Args:
        model: a functional or `Sequential` Keras model.
        after: list of layer names (or `pyramid_outputs` levels) that end the
            stages, in chain order.
        make_connection: callable `(index, h, stage_output, inputs)` that
            calls the connection of stage `index` on `h` (the tensor the
            stage started from) and returns its features, or a
            `(features, extra)` pair such as DreamNet's `(features, dream)`;
            `inputs` are the new model inputs (for a text padding mask).
        start: optional layer name whose output is `h_0`. Defaults to the
            stem of a KerasHub `ResNetBackbone`, else the model input.
        merge_name: prefix of the `Add` layers' names.
        input_shape: optional shape (without the batch axis) of the new
            model's single input, e.g. a fixed image size for a backbone
            built for any size.
        copy_layers: if `True`, the new graph runs copies of `model`'s
            layers (same configs and weights) instead of the layers
            themselves, so that each layer has one node and
            `new_model.get_layer(name).output` is a tensor of the new
            graph. For builders whose source model is a throwaway.

    Returns:
        `(inputs, outputs, extras)`: the new graph's inputs and outputs and
        the connections' extra outputs in stage order.
    """
    model = _as_functional(model)
    points = resolve_points(model, after)
    if start is None:
        start = default_start(model)
    if start is not None:
        model.get_layer(start)  # a clear error for an unknown name
    index_of = {name: m for m, name in enumerate(points)}
    if input_shape is not None:
        inputs = keras.Input(
            shape=tuple(input_shape), dtype=model.input.dtype, name=model.input.name
        )
    else:
        inputs = keras.tree.map_structure(
            lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=x.name),
            model.input,
        )
    if start is None and not isinstance(inputs, keras.KerasTensor):
        raise ValueError(
            "A model with several inputs needs `start`: the name of the layer "
            "whose output the first connection reads."
        )
    state = {"h": None if start is not None else inputs, "next": 0, "extras": []}

    def call_function(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        if layer.name == start:
            state["h"] = outputs
        if layer.name not in index_of:
            return outputs
        m = index_of[layer.name]
        if m != state["next"] or state["h"] is None:
            raise ValueError(
                f"The connection points must follow the chain: {layer.name!r} "
                f"(point {m + 1}) is reached before "
                + (
                    f"{points[state['next']]!r}."
                    if state["h"] is not None
                    else f"the start layer {start!r}."
                )
                + f" Received: after={list(after)}, start={start!r}."
            )
        enriched = make_connection(m, state["h"], outputs, inputs)
        if isinstance(enriched, (tuple, list)):
            enriched, extra = enriched
            state["extras"].append(extra)
        outputs = keras.layers.Add(name=f"{merge_name}_{m + 1}")([outputs, enriched])
        state["h"] = outputs
        state["next"] += 1
        return outputs

    copies = []

    def copy_layer(layer):
        if not copy_layers or not isinstance(layer, keras.layers.Layer):
            return layer  # Operations such as keras.ops.cast hold no state.
        copy = layer.__class__.from_config(layer.get_config())
        copies.append((layer, copy))
        return copy

    outputs = keras.models.clone_model(
        model,
        input_tensors=inputs,
        clone_function=copy_layer,
        call_function=call_function,
    ).output
    for layer, copy in copies:
        copy.set_weights(layer.get_weights())
    if state["next"] != len(points):
        missing = points[state["next"]]
        raise ValueError(
            f"The layer {missing!r} named in `after` is not on the path from "
            f"the model's input to its output."
        )
    return inputs, outputs, state["extras"]


def connection_factory(frozen_model, kind=None, name_prefix=None, **options):
    """`make_connection` for `wire_connections`, from a frozen model.

    Each stage gets its own connection (own adapters) around the one shared
    frozen model, sized to the stage's output.

    Args:
        frozen_model: the shared frozen model.
        kind: `"sleep"`, `"dream"`, `"text_sleep"` or `"text_dream"`;
            read from the model by default.
        name_prefix: prefix of the connections' names (`"<prefix>_connection_m"`).
        **options: connection arguments (`projection`, `mask_ratio`,
            `stop_gradient`, `remat`, `trainable_encoder`, `token_mode`, ...).

    Returns:
        A callable `(index, h, stage_output, inputs)`.
    """
    kind = kind or connection_kind(frozen_model)
    prefix = name_prefix or kind
    dtype = options.pop("dtype", None)

    def make_connection(index, h, stage_output, inputs):
        name = f"{prefix}_connection_{index + 1}"
        if kind in ("sleep", "dream"):
            cls = SleepConnection if kind == "sleep" else DreamConnection
            extra = {}
            if kind == "dream" and "seed" not in options:
                # Each connection hides its own fixed pattern at inference.
                extra["seed"] = index
            connection = cls(
                frozen_model,
                output_size=tuple(stage_output.shape[1:3]),
                output_channels=stage_output.shape[-1],
                dtype=dtype,
                name=name,
                **options,
                **extra,
            )
            if connection.encoder_input == "features":
                return connection(h)
            if not isinstance(inputs, keras.KerasTensor):
                raise ValueError(
                    f"encoder_input={connection.encoder_input!r} feeds the model's "
                    "input image to the frozen model: the model needs one image "
                    f"input. Received inputs: {inputs}."
                )
            return connection(h, images=inputs)
        cls = TextSleepConnection if kind == "text_sleep" else TextDreamConnection
        connection = cls(
            frozen_model, output_dim=stage_output.shape[-1], dtype=dtype, name=name,
            **options,
        )
        padding_mask = _fit_length(_padding_mask(inputs), h.shape[1], f"{name}_mask")
        outputs = connection(h, padding_mask=padding_mask)
        features, dream = outputs if kind == "text_dream" else (outputs, None)
        features = _fit_length(features, stage_output.shape[1], f"{name}_fit")
        return features if dream is None else (features, dream)

    return make_connection


def _padding_mask(inputs):
    return inputs.get("padding_mask") if isinstance(inputs, dict) else None


def _fit_length(x, length, name):
    """`x` resampled along its sequence axis to `length`, when it differs."""
    if x is None or x.shape[1] == length:
        return x
    return ResampleSequence(length, name=name)(x)


def _merge_text_dreams(outputs, dreams, inputs):
    """The text DreamNet's parallel block, added to the chain's output."""
    length, dim = outputs.shape[1], outputs.shape[-1]
    embedded = [
        _fit_length(dream["embeddings"], length, f"dream_fit_{m + 1}")
        for m, dream in enumerate(dreams)
    ]
    mask = _fit_length(_padding_mask(inputs), length, "dream_mask")
    block = TextDreamBlock(length, dim, name="dream_block")
    return keras.layers.Add(name="merge_dreams")(
        [outputs, block(embedded, padding_mask=mask)]
    )


def add_connections(
    model,
    frozen_model,
    after,
    start=None,
    num_classes=None,
    dropout=0.0,
    head_dtype="float32",
    dream_block=None,
    input_shape=None,
    name=None,
    **connection_options,
):
    """Adds sleep or dream connections to an existing Keras model.

    Cuts `model` into stages at the layers named in `after` and wraps each
    stage with a connection to `frozen_model`:
    `h_m = stage_m(h_{m-1}) + connection_m(h_{m-1})` (paper eq. 1 and 2).
    The connection type follows the frozen model: a ViT-style image encoder
    gives `SleepConnection`s, a `MAEAutoencoder` `DreamConnection`s (and a
    `DreamBlock` that adds the dreams to the model's output, DreamNet's
    parallel block), a KerasHub text backbone `TextSleepConnection`s and a
    KerasHub masked LM `TextDreamConnection`s. All connections share the
    one frozen model; saved with `model.save(...)` it is stored once and
    `keras.saving.load_model` rebuilds it once, still frozen.

    The returned model reuses `model`'s layers and weights (clone `model`
    first for an independent copy).

    Args:
        model: a functional or `Sequential` Keras model, or a KerasHub
            backbone such as `keras_hub.models.ResNetBackbone`.
        frozen_model: the frozen pretrained model the connections call.
        after: list of layer names, or `pyramid_outputs` levels of a KerasHub
            backbone (`["P2", "P3", "P4"]`), that end the stages, in chain
            order. Their outputs must be `(batch, height, width, channels)`
            maps (vision) or `(batch, sequence, features)` (text).
        start: optional layer name whose output `h_0` is, the input of the
            first connection. Defaults to the stem of a KerasHub
            `ResNetBackbone` (`"pool1_pool"`), otherwise the model's input.
        num_classes: optional int. Adds a head: global average pooling,
            dropout and a softmax `Dense` layer.
        dropout: float. Dropout before the head.
        head_dtype: dtype of the head's dense layer.
        dream_block: optional layer merging the dreams of dream connections
            into the features: called on the list of dreams, it must return
            a map shaped like the model's output. Defaults to a
            `dreamkeras.layers.DreamBlock`.
        input_shape: optional input shape without the batch axis, for a
            model built for any image size (connections need a fixed one).
        name: optional name of the returned model.
        **connection_options: passed to every connection (`projection`,
            `mask_ratio`, `stop_gradient`, `remat`, `trainable_encoder`,
            `encoder_input` - `"image"` feeds the model's input image to the
            frozen model; `token_mode` for text).

    Returns:
        A functional `keras.Model` (a `dreamkeras.models.ConnectedModel`,
        which also checks input shapes before `fit`/`predict`).

    Example:

    ```python
    resnet = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128], stackwise_num_blocks=[2, 2],
        stackwise_num_strides=[1, 2], block_type="basic_block",
        image_shape=(64, 64, 3),
    )
    vit = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32,
    )
    model = dreamkeras.models.add_connections(
        resnet, vit, after=["P2", "P3"], num_classes=10
    )
    model.save("sleepnet_resnet.keras")
    ```
    """
    kind = connection_kind(frozen_model)
    make_connection = connection_factory(
        frozen_model, kind=kind, **connection_options
    )
    inputs, outputs, dreams = wire_connections(
        model,
        after,
        make_connection,
        start=start,
        merge_name=f"{kind}_merge",
        input_shape=input_shape,
    )
    if dreams and kind == "dream":
        block = dream_block or DreamBlock(
            output_size=tuple(outputs.shape[1:3]),
            output_channels=outputs.shape[-1],
            name="dream_block",
        )
        outputs = keras.layers.Add(name="merge_dreams")([outputs, block(dreams)])
    elif dreams:
        outputs = _merge_text_dreams(outputs, dreams, inputs)
    if num_classes is not None:
        if len(outputs.shape) == 4:
            outputs = keras.layers.GlobalAveragePooling2D(name="pool")(outputs)
        else:
            mask = _fit_length(_padding_mask(inputs), outputs.shape[1], "pool_mask")
            outputs = keras.layers.GlobalAveragePooling1D(name="pool")(
                outputs, mask=mask
            )
        outputs = softmax_head(outputs, num_classes, dropout, head_dtype)
    return ConnectedModel(
        inputs, outputs, name=name or f"{getattr(model, 'name', 'model')}_connected"
    )
