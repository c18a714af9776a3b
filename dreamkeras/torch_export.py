"""Frozen models as exported torch graphs: a torch-backend switch, off by default.

On the torch backend Keras runs eagerly, and every call of a Keras layer goes
through `Layer.__call__` (argument binding, dtype conversion, tracking). A
frozen KerasHub encoder is a few hundred such calls per forward pass; at small
batch sizes that Python, not the arithmetic, is most of a connection's time.
With this switch on, each connection runs its frozen model (encoder and, for
`DreamConnection`, decoder) as one graph captured by `torch.export` the first
time it sees an input shape, and reused afterwards: the same ATen operations
on the same weights, without the Keras frames around them. Gradients still
flow through the graph to `adapter_in`.

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

import contextlib
import os
import weakref

import keras

ENVIRONMENT_VARIABLE = "DREAMKERAS_TORCH_EXPORT"
_state = {"enabled": os.environ.get(ENVIRONMENT_VARIABLE, "0") == "1"}


def enable(on=True):
    """Turns the exported frozen graphs on (or off with `on=False`).

    Args:
        on: bool. The new state. The default state is off, or on when the
            environment variable `DREAMKERAS_TORCH_EXPORT=1` is set.
    """
    _state["enabled"] = bool(on)


def enabled():
    """Returns whether frozen models run as exported graphs on torch."""
    return _state["enabled"]


@contextlib.contextmanager
def graphs(on=True):
    """Context manager: the exported frozen graphs on (or off) inside the block.

    Example:

    ```python
    with dreamkeras.torch_export.graphs():
        model.predict(images)
    ```
    """
    previous = enabled()
    enable(on)
    try:
        yield
    finally:
        enable(previous)


def applies(*tensors):
    """Whether the switch is on and `tensors` are concrete torch tensors.

    False on other backends, for symbolic inputs (Keras builds a functional
    model on `meta` tensors) and inside `torch.compile`, which traces the
    Keras layers itself.
    """
    if not enabled() or keras.backend.backend() != "torch":
        return False
    import torch

    if torch.compiler.is_compiling():
        return False
    return all(
        isinstance(tensor, torch.Tensor) and tensor.device.type != "meta"
        for tensor in tensors
    )


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
        graph = self.graphs.get(key)
        if graph is None:
            graph = export(function, tensors, owner)
            self.graphs[key] = graph
        return graph(*tensors)


# One cache per frozen model, shared by the connections that hold it (DreamNet's
# connections share one autoencoder): a graph is exported once for all of them.
_GRAPHS = weakref.WeakKeyDictionary()


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
