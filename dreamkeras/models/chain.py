"""The one mechanism behind every network here: a chain with connections.

`interleave_connections` takes a chain of blocks and a factory of connections
and wires `h_m = g_m(h_{m-1}) + connection_m(h_{m-1})`. The vision builders
use it with ResNet stages; the same function works on any list of Keras
callables (a user's own blocks, or the stages of another network).
"""

import keras

# name -> (bottleneck, blocks per stage) for the ResNet depths of the paper.
CHAINS = {
    "resnet18": (False, (2, 2, 2, 2)),
    "resnet34": (False, (3, 4, 6, 3)),
    "resnet50": (True, (3, 4, 6, 3)),
}
STEMS = ("imagenet", "cifar")


def interleave_connections(x, blocks, make_connection, merge_name="merge"):
    """Wires `h_m = g_m(h_{m-1}) + connection_m(h_{m-1})` for every block.

    Args:
        x: the symbolic input of the first block, `h_0`.
        blocks: list of callables `g_m`.
        make_connection: callable `(index, output_shape) -> layer or None`.
            Called once per block with the block's output shape (so the
            connection can match it); `None` leaves that block unconnected.
            A connection may return a tensor or a `(features, extra)` pair.
        merge_name: prefix of the `Add` layers' names.

    Returns:
        `(h_M, extras)`: the chain's output and the list of extra outputs of
        the connections (DreamNet's reconstructions), in block order.

    Example:

    ```python
    inputs = keras.Input((32, 32, 16))
    blocks = [dreamkeras.layers.ResidualBlock(16) for _ in range(2)]
    outputs, _ = dreamkeras.models.interleave_connections(
        inputs, blocks, lambda m, shape: dreamkeras.layers.SleepConnection(vit)
    )
    ```
    """
    extras = []
    for index, block in enumerate(blocks):
        main = block(x)
        connection = make_connection(index, tuple(main.shape))
        if connection is None:
            x = main
            continue
        enriched = connection(x)
        if isinstance(enriched, (tuple, list)):
            enriched, extra = enriched
            extras.append(extra)
        x = keras.layers.Add(name=f"{merge_name}_{index + 1}")([main, enriched])
    return x, extras
