import os
import tempfile

# Before Keras (and so JAX) is imported: one persistent JAX compilation cache
# for the whole run, shared by both pytest workers and by the apps' child
# processes (they inherit the environment). Most of a small model's build and
# first step on a CPU is XLA compiling programs (down to each initialiser's
# random kernel) that other tests compile again.
if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(
        tempfile.gettempdir(), "dreamkeras-tests-jax-cache"
    )
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import keras
import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--run_large",
        action="store_true",
        default=False,
        help="Run slow tests (base-size models, full apps).",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run_large"):
        return
    skip_large = pytest.mark.skip(reason="slow: run with --run_large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip_large)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from float32, a fixed seed and a clean session."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1337)
    np.random.seed(1337)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()
