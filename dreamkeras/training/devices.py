"""TensorFlow off the GPUs when it only runs the input pipeline.

The input pipelines are `tf.data`, so every run imports TensorFlow, whatever
the Keras backend. A TensorFlow that sees the GPUs maps nearly all their
memory as soon as it starts its devices, and JAX (which preallocates 75% of
a GPU by default) or PyTorch then run out of memory. So for the jax and
torch backends every GPU is hidden from TensorFlow *before* its devices
start (`tf.config.set_visible_devices([], "GPU")`); tf.data runs on the CPU
anyway. Should TensorFlow already have started (TensorFlow used in the same
process before the run), the setting cannot change any more: a warning says
so. Keras sets `TF_FORCE_GPU_ALLOW_GROWTH=true` when it loads a non-tensorflow
backend, and the apps set it too, before importing
TensorFlow (`dreamkeras_cli.startup.prepare_process`), so that even a
TensorFlow that does see a GPU takes only what it uses.
"""

import logging

logger = logging.getLogger("dreamkeras")


def tensorflow_started():
    """Whether TensorFlow's eager context (and so its devices) has started."""
    from tensorflow.python.eager import context

    return context.context()._context_handle is not None


def keep_tensorflow_off_gpus(backend):
    """Hides the GPUs from TensorFlow unless TensorFlow is the backend.

    Args:
        backend: str. The Keras backend that trains (`"jax"`, `"torch"` or
            `"tensorflow"`).

    Returns:
        str: `"hidden"` (TensorFlow sees no GPU), `"tensorflow trains"`
        (the tensorflow backend keeps them) or `"too late"` (TensorFlow had
        started with GPUs visible; a warning was logged).

    Example:

    ```python
    keep_tensorflow_off_gpus("jax")  # before the first TensorFlow operation
    ```
    """
    import tensorflow as tf

    if backend == "tensorflow":
        return "tensorflow trains"
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TensorFlow already started its devices.
        if tf.config.get_visible_devices("GPU"):
            logger.warning(
                "dreamkeras: TensorFlow started before the run and sees the GPUs: it "
                "may hold GPU memory that %s needs. Call "
                "tf.config.set_visible_devices([], 'GPU') before any TensorFlow "
                "operation, or set TF_FORCE_GPU_ALLOW_GROWTH=true.", backend,
            )
            return "too late"
    return "hidden"
