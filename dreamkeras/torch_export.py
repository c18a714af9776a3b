"""Frozen models as exported torch graphs: a torch-backend switch, off by default.

On the torch backend Keras runs eagerly, and every call of a Keras layer goes
through `Layer.__call__` (argument binding, dtype conversion, tracking). A
frozen KerasHub encoder is a few hundred such calls per forward pass; at small
batch sizes that Python, not the arithmetic, is most of a connection's time.
With this switch on, each connection runs its frozen model (the encoder; for
`DreamConnection` the MAE's encoder and decoder; for the text connections the
backbone) as one graph captured by `torch.export` the first time it sees an
input shape, and reused afterwards: the same ATen operations on the same
weights, without the Keras frames around them. Gradients still flow through
the graph to the trainable adapters. A frozen model that cannot be exported
(Python branching on tensor values) is named in a warning, once per input
shape, and runs as Keras layers.

The switch changes how a model runs, not what it is: it is read at every call
and never saved. It applies only on the torch backend, to a frozen model
(`trainable_encoder=False`) without `remat`, outside `torch.compile`; elsewhere
the frozen model runs as Keras layers. Each new input shape (for example a
smaller last batch) costs one export, a few seconds. Off by default: measure
it on your model and device (`apps/benchmark.py --torch-export`).

Example:

```python
dreamkeras.torch_export.enable()  # or DREAMKERAS_TORCH_EXPORT=1
model.fit(dataset)
```
"""

import logging
import weakref

import keras

from dreamkeras.utils.switch import Switch

ENVIRONMENT_VARIABLE = "DREAMKERAS_TORCH_EXPORT"
_switch = Switch(ENVIRONMENT_VARIABLE)


def enable(on=True):
    """Turns the exported frozen graphs on (or off with `on=False`).

    Args:
        on: bool. The new state. The default state is off, or on when the
            environment variable `DREAMKERAS_TORCH_EXPORT=1` is set.
    """
    _switch.set(on)


def enabled():
    """Returns whether frozen models run as exported graphs on torch."""
    return _switch.on


def graphs(on=True):
    """Context manager: the exported frozen graphs on (or off) inside the block.

    Example:

    ```python
    with dreamkeras.torch_export.graphs():
        model.predict(images)
    ```
    """
    return _switch.scoped(on)


class ExportedGraphs:
    """Exported graphs of a frozen model's forward pass, one per signature.

    A call gives the function to run and a `mode` naming everything it depends
    on besides its tensors (the caller, the training flag, the mask ratio). The
    first call with a signature (the mode, the tensors' shapes, dtypes and
    devices, and whether gradients are being recorded) exports `function`
    with `torch.export`; later calls run that graph. The function must compute
    with the frozen model's weights only: the graph reads their current
    values (they are not copied), but the Python around them runs once, at
    export.
    """

    def __init__(self):
        self.graphs = {}

    def __call__(self, function, tensors, owner, mode=None):
        import torch

        key = (
            mode,
            torch.is_grad_enabled(),
            tuple((tuple(t.shape), t.dtype, str(t.device)) for t in tensors),
        )
        if key not in self.graphs:
            try:
                self.graphs[key] = export(function, tensors, owner)
            except Exception as error:  # noqa: BLE001 - any export failure
                # Not silent: said once per signature, then run as layers.
                logging.getLogger("dreamkeras").warning(
                    "dreamkeras.torch_export could not export %s (%s: %s); "
                    "it runs as Keras layers for this input shape.",
                    getattr(owner, "name", type(owner).__name__),
                    type(error).__name__,
                    str(error).splitlines()[0] if str(error) else "",
                )
                self.graphs[key] = None
        graph = self.graphs[key]
        if graph is None:
            return function(*tensors)
        return graph(*tensors)


# One cache per frozen model, shared by the connections that hold it (DreamNet's
# connections share one autoencoder): a graph is exported once for all of them.
_GRAPHS = weakref.WeakKeyDictionary()


def run(frozen_model, function, tensors, mode=None):
    """`function(*tensors)`, a pass through `frozen_model` (and nothing else
    with weights): as its exported graph when the switch applies.

    Args:
        frozen_model: the frozen Keras model `function` runs.
        function: callable of the tensors.
        tensors: tuple of tensors.
        mode: hashable; everything besides the tensors that `function`
            depends on.
    """
    if not enabled() or keras.backend.backend() != "torch":
        return function(*tensors)
    import torch

    # Arrays passed by the caller (a padding mask) become tensors.
    tensors = tuple(keras.ops.convert_to_tensor(t) for t in tensors)
    # Not for symbolic inputs (Keras builds a functional model on `meta`
    # tensors), nor inside `torch.compile`, which traces the Keras layers itself.
    if torch.compiler.is_compiling() or any(t.device.type == "meta" for t in tensors):
        return function(*tensors)
    return graphs_of(frozen_model)(function, tensors, frozen_model, mode)


def graphs_of(frozen_model):
    """The `ExportedGraphs` of `frozen_model`, made on first use."""
    if frozen_model not in _GRAPHS:
        _GRAPHS[frozen_model] = ExportedGraphs()
    return _GRAPHS[frozen_model]


def export(function, tensors, owner):
    """`function(*tensors)` as a `torch.export` graph module.

    Args:
        function: callable of torch tensors returning tensors.
        tensors: example inputs; the graph is specialised to their shapes.
        owner: the Keras layer (a `torch.nn.Module` on this backend) holding
            the weights `function` reads, so that they are exported as its
            parameters (the same tensors) rather than as constants.
    """
    import torch

    class Function(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.owner = owner

        def forward(self, *inputs):
            return function(*inputs)

    program = torch.export.export(Function(), tuple(tensors), strict=False)
    return program.module()
