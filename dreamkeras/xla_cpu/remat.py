"""Recomputing a frozen model's activations in the backward pass.

`keras.remat` asks the backend to recompute a function in the backward pass
instead of storing its intermediate activations. Under JAX it is
`jax.checkpoint`, and on XLA:CPU that saves nothing: the optimisation
barriers that keep the recomputation apart are expanded early, common
subexpression elimination merges it back into the forward pass, and every
activation is stored as before (docs/cpu_performance.md).

`recompute_in_backward` makes the recomputation depend on the incoming
gradient, which no compiler pass can merge away or move ahead of it.
The other backends use `keras.remat` (`tf.recompute_grad`,
`torch.utils.checkpoint`).
"""

import keras


def recompute_in_backward(fn):
    """Wraps a one-tensor function so that its backward pass recomputes it.

    Gradients are unchanged (same values as calling `fn`); only the memory
    kept between the forward and backward passes differs: `fn`'s input and
    the variables it reads, not its intermediate activations.

    Args:
        fn: callable taking one tensor and returning one tensor, such as a
            transformer block called in inference mode. It may read layer
            variables (trainable or not) but must not update any.

    Returns:
        A callable with the same signature.

    Example:

    ```python
    block = keras.layers.Dense(8, activation="gelu")
    block.build((None, 4))
    outputs = recompute_in_backward(block)(np.ones((2, 4), "float32"))
    ```
    """
    if keras.backend.backend() == "jax":
        return _jax_recompute_after_gradient(fn)
    return keras.remat(fn)


def _jax_recompute_after_gradient(fn):
    import jax
    import jax.numpy as jnp
    from jax.extend import core as jax_core

    def wrapped(x):
        # Traced anew on every call: the values `fn` closes over (the
        # layer's variables, tracers inside a stateless train step) become
        # explicit inputs, as `jax.custom_vjp` requires. A fresh function
        # object, because JAX caches traces by function and would hand back
        # the tracers of an earlier train step (`jax.closure_convert` too).
        traced = jax.make_jaxpr(lambda inputs: fn(inputs))(x)
        consts = list(traced.consts)

        def pure_fn(x, *consts):
            closed = jax_core.ClosedJaxpr(traced.jaxpr, list(consts))
            (output,) = jax_core.jaxpr_as_fun(closed)(x)
            return output

        @jax.custom_vjp
        def call(x, *consts):
            return pure_fn(x, *consts)

        def forward(x, *consts):
            return pure_fn(x, *consts), (x, consts)

        def backward(saved, gradient):
            x, consts = saved
            # `0 * g` is not folded for floats (it is NaN for an infinite g,
            # and then so is the gradient anyway), so the recomputation
            # cannot start before this block's gradient exists.
            first = jnp.reshape(gradient, (-1,))[0].astype("float32")
            x = x + (0.0 * first).astype(x.dtype)
            _, pullback = jax.vjp(pure_fn, x, *consts)
            return pullback(gradient)

        call.defvjp(forward, backward)
        return call(x, *consts)

    return wrapped
