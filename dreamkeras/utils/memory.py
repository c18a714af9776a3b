"""Handing freed host memory back to the operating system.

Compiling a train step with XLA allocates a lot of small, short-lived
objects on the C heap (HLO passes, LLVM code generation). glibc's `free`
keeps that memory in the process for reuse, but the step's buffers are
allocated elsewhere, so the process's resident memory stays high for the
whole run, and the train step's peak comes on top of it
(docs/cpu_performance.md has the measured effect on a large DreamNet).

`malloc_trim` returns those pages to the system; it changes no values and
costs a few milliseconds. It exists only in glibc: elsewhere (macOS, musl,
Windows) the functions here do nothing and say so in their return values.
"""

import ctypes
import ctypes.util
import functools
import gc

import keras

_COMPILE_EVENT_SUFFIX = "/backend_compile_duration"
_listener_state = {"registered": False, "releases": 0, "min_seconds": 1.0}


@functools.lru_cache(maxsize=None)
def _glibc():
    """The C library if it has `malloc_trim` (glibc), else None (looked up once)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def resident_memory_bytes():
    """Current resident memory (RSS) of this process in bytes, or None.

    Reads `/proc/self/statm` (Linux); None where it does not exist.
    """
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    import resource

    return pages * resource.getpagesize()


def release_host_memory(clear_jax_caches=False):
    """Returns memory that the process freed to the operating system.

    Runs Python's garbage collector, then glibc's `malloc_trim(0)`, which
    gives freed pages of the C heap (all of its arenas) back to the system.
    Nothing that is in use is touched.

    Args:
        clear_jax_caches: bool. Under the JAX backend, first drop JAX's
            in-memory caches of compiled programs (`jax.clear_caches`), such
            as the weight initialisers run while building a model. A
            program called again is
            compiled again (or read from the persistent compilation cache).

    Returns:
        bool. Whether `malloc_trim` was available (glibc) and ran.

    Example:

    ```python
    model.fit(images, labels, epochs=1)
    release_host_memory()
    ```
    """
    if clear_jax_caches and keras.backend.backend() == "jax":
        import jax

        jax.clear_caches()
    gc.collect()
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def release_host_memory_after_compiles(min_compile_seconds=1.0):
    """Releases freed host memory each time JAX finishes a long compilation.

    The memory XLA used while compiling a train step is freed before the
    step first runs, but glibc keeps it; the step's own buffers then come
    on top of it, and the process's peak memory with them. This registers
    a JAX monitoring listener that calls `malloc_trim` after every backend
    compilation that took at least `min_compile_seconds`, between compiling
    a program and running it. Short compilations (a model's weight
    initialisers: hundreds of them) are skipped, as they leave little.
    Calling it again registers nothing more; it sets the threshold.

    Only under the JAX backend with glibc; otherwise it registers nothing.

    Args:
        min_compile_seconds: float. Shorter compilations release nothing.

    Returns:
        bool. Whether the listener is registered.

    Example:

    ```python
    release_host_memory_after_compiles()
    model.fit(dataset, epochs=10)  # compiles, releases, then trains
    ```
    """
    if keras.backend.backend() != "jax" or _glibc() is None:
        return False
    _listener_state["min_seconds"] = float(min_compile_seconds)
    if _listener_state["registered"]:
        return True
    import jax

    libc = _glibc()

    def on_event_duration(event, duration_secs, **kwargs):
        del kwargs
        if (
            event.endswith(_COMPILE_EVENT_SUFFIX)
            and duration_secs >= _listener_state["min_seconds"]
        ):
            libc.malloc_trim(0)
            _listener_state["releases"] += 1

    jax.monitoring.register_event_duration_secs_listener(on_event_duration)
    _listener_state["registered"] = True
    return True


def releases_after_compiles():
    """How many times the listener of `release_host_memory_after_compiles` ran."""
    return _listener_state["releases"]
