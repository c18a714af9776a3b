"""Which mixed-precision policies the current backend and device can run."""

import keras


def unsupported_policy_reason(policy):
    """Says why `policy` cannot train on this backend and device, if it cannot.

    On CPU, JAX's attention (`jax.nn.dot_product_attention`, used by Keras'
    `MultiHeadAttention` and so by every ViT encoder) asks XLA for a
    float16 x float16 -> float32 dot algorithm, which XLA:CPU refuses when
    the program is compiled; PyTorch has no float16 convolutions on CPU.
    `mixed_float16` is a GPU policy; on CPU, `mixed_bfloat16` is the
    reduced-precision policy to use.

    Args:
        policy: str. A Keras dtype policy name, e.g. `"mixed_float16"`.

    Returns:
        str or None. A message naming the problem and the fix, or `None`
        when the policy is expected to work.

    Example:

    >>> unsupported_policy_reason("float32") is None
    True
    """
    if policy != "mixed_float16":
        return None
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            return None
        return (
            "mixed_float16 cannot run on the torch backend on CPU: PyTorch has "
            "no float16 convolutions on CPU. Use mixed_bfloat16 on CPU "
            "(mixed_float16 is meant for GPUs)."
        )
    if keras.backend.backend() != "jax":
        return None
    import jax

    if jax.default_backend() != "cpu":
        return None
    return (
        "mixed_float16 cannot run on the JAX backend on CPU: XLA:CPU has no "
        "float16 attention kernel with float32 accumulation. Use "
        "mixed_bfloat16 on CPU (mixed_float16 is meant for GPUs)."
    )
