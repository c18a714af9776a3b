"""A quiet start: the process environment before the heavy imports.

`KERAS_BACKEND` is read once, when Keras is first imported, and TensorFlow,
XLA, absl and CUDA print their start-up logs while they load. So the apps
parse their flags first (standard library only), then `prepare_process`
sets the environment, and `import_backend` imports Keras, dreamkeras and the
backend with the process's stderr captured: known start-up noise (absl's
"All log messages before absl::InitializeLog()", `cudart_stub.cc ... Could
not find cuda drivers`, `cuInit` failures on a machine without a GPU, CPU
feature notes) is dropped, and anything else is written to stderr after the
imports, so real warnings and errors still reach the user. `--debug` keeps
everything.
"""

import contextlib
import importlib.metadata
import os
import re
import sys
import tempfile

# jaxlib 0.10's XLA:CPU hands dots, convolutions and reductions to YNNPACK
# fusions; its own kernels train these models faster on CPU (alternating raw
# train steps on a 2-core machine: small DreamNet-3 batch 8 123/108/119 ->
# 109/103/109 ms, batch 128 1433 -> 1268 ms; small SleepNet-3 batch 8
# 76/72/71 -> 65/67/55 ms; SleepNet-3 at 224 4453/4420 -> 4398/4164 ms). The
# flag is experimental and XLA aborts on flags it does not know, so it is set
# only for the jaxlib it was measured on.
NO_YNN_FUSIONS = "--xla_cpu_experimental_ynn_fusion_type="
# With `--remat` (memory first), XLA:CPU's memory-optimised schedule: DreamNet-3
# (MAE-B, 224, batch 8) XLA temporaries 0.65 -> 0.50 GiB, step 11.8 -> 11.9 s;
# the small DreamNet-3 at batch 128 ran 3-4% slower with it, so plain runs keep
# XLA's default schedule.
MEMORY_SCHEDULE = "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"
MEASURED_JAXLIB = "0.10."
LABEL_WIDTH = 9
# Start-up lines of TensorFlow, XLA, absl and CUDA that say nothing to a user.
NOISE = re.compile(
    "|".join(
        (
            r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
            r"cudart_stub\.cc:\d+\]",
            r"cuda_platform\.cc:\d+\] failed call to cuInit",
            r"cpu_feature_guard\.cc:\d+\]",
            r"^To enable the following instructions: .* rebuild TensorFlow",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
            r"oneDNN custom operations are on",
            r"TF-TRT Warning: Could not find TensorRT",
        )
    )
)


class BackendMismatch(RuntimeError):
    """Keras was already imported in this process with another backend."""


def header_line(label, text):
    """One line of a run's header: `  label    text`.

    Example:

    ```python
    print(header_line("backend", "jax on the CPU"))
    ```
    """
    return f"  {label:<{LABEL_WIDTH}}{text}"


def select_backend(backend=None):
    """The backend of a run: `--backend`, else `KERAS_BACKEND`, else jax.

    Example:

    ```python
    select_backend(None)  # "jax" unless KERAS_BACKEND says otherwise
    ```
    """
    return backend or os.environ.get("KERAS_BACKEND") or "jax"


def prefer_xla_cpu_kernels(backend, memory_first=False):
    """Turns XLA:CPU's YNNPACK fusions off (`XLA_FLAGS`) for a JAX run.

    Only before JAX is imported, only with the jaxlib this was measured on,
    and never over an `XLA_FLAGS` that already sets the fusion types (set
    `XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=dot,...` to choose
    yourself). GPUs ignore the flags.

    Args:
        backend: str. The Keras backend of the run.
        memory_first: bool. Also pick XLA:CPU's memory-optimised schedule
            (not over a scheduler the user set), as the apps do under
            `--remat`.

    Returns:
        bool. Whether `XLA_FLAGS` was changed.

    Example:

    ```python
    prefer_xla_cpu_kernels("jax", memory_first=True)
    import jax
    ```
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if backend != "jax" or "jax" in sys.modules or "ynn_fusion_type" in flags:
        return False
    try:
        jaxlib = importlib.metadata.version("jaxlib")
    except importlib.metadata.PackageNotFoundError:
        return False
    if not jaxlib.startswith(MEASURED_JAXLIB):
        return False
    added = NO_YNN_FUSIONS
    if memory_first and "scheduler_type" not in flags:
        added += " " + MEMORY_SCHEDULE
    os.environ["XLA_FLAGS"] = f"{flags} {added}".strip()
    return True


def use_compilation_cache(backend):
    """Points JAX at a persistent compilation cache on disk, before JAX loads.

    JAX compiles every jitted function, down to each weight initialiser's
    random-number kernel, once per process; with the cache a second run of
    the same model reads the compiled programs from disk instead (JAX's
    `jax_compilation_cache_dir`). The folder is `$JAX_COMPILATION_CACHE_DIR`
    when set, else `dreamkeras/jax` in `$XDG_CACHE_HOME` (`~/.cache`).
    `DREAMKERAS_COMPILATION_CACHE=0` turns it off. Other backends: nothing.

    Args:
        backend: str. The Keras backend of the run.

    Returns:
        str or None. The cache folder, or None when not set here.

    Example:

    ```python
    use_compilation_cache("jax")
    import jax
    ```
    """
    if backend != "jax" or "jax" in sys.modules:
        return None
    if os.environ.get("DREAMKERAS_COMPILATION_CACHE", "1") == "0":
        return None
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(root, "dreamkeras", "jax")
    # Small programs too: a model's many initialiser kernels add up to most
    # of its build time on a CPU.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return os.environ["JAX_COMPILATION_CACHE_DIR"]


def prepare_process(backend=None, remat=False, debug=False):
    """Sets the environment a run needs before Keras is imported.

    `KERAS_BACKEND` (unless Keras is already imported: `import_backend`
    then checks it), the XLA:CPU flags of `prefer_xla_cpu_kernels`, JAX's
    persistent compilation cache (`use_compilation_cache`),
    `TF_FORCE_GPU_ALLOW_GROWTH=true` for the jax and torch backends (where
    TensorFlow is only the input pipeline), and,
    unless `debug`, `TF_CPP_MIN_LOG_LEVEL=1` (TensorFlow's and XLA's
    C++ INFO logs off; warnings and errors stay). A value the user set
    is kept.

    Args:
        backend: str or None. `--backend`.
        remat: bool. `--remat` (memory-first XLA schedule).
        debug: bool. `--debug`: keep every log.

    Returns:
        str. The backend of the run.

    Example:

    ```python
    backend = prepare_process("jax")
    import keras
    ```
    """
    backend = select_backend(backend)
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        prefer_xla_cpu_kernels(backend, memory_first=remat)
        use_compilation_cache(backend)
    if backend != "tensorflow" and "tensorflow" not in sys.modules:
        # Should TensorFlow (the input pipeline only) ever see a GPU, it takes
        # only the memory it uses (dreamkeras.training.devices hides them).
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if not debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    return backend


@contextlib.contextmanager
def quiet_stderr(enabled=True, stream=None):
    """Captures file descriptor 2 and writes back what is not start-up noise.

    C++ libraries (TensorFlow, XLA, CUDA) write their logs straight to the
    file descriptor, past `sys.stderr`; so the descriptor itself goes to a
    temporary file while the block runs. Afterwards every captured line
    that `NOISE` does not match is written to `stream` (`sys.stderr`).

    Args:
        enabled: bool. False: do nothing (`--debug`).
        stream: a text stream for the kept lines. Defaults to `sys.stderr`.

    Yields:
        A list, filled after the block with the dropped lines.

    Example:

    ```python
    with quiet_stderr():
        import tensorflow
    ```
    """
    dropped = []
    if not enabled:
        yield dropped
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # No file descriptor 2 (an embedded interpreter).
        yield dropped
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield dropped
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = []
            for line in text.splitlines():
                (dropped if NOISE.search(line) else kept).append(line)
            if kept:
                out = stream or sys.stderr
                out.write("\n".join(kept) + "\n")
                out.flush()


def describe_device(backend):
    """One line naming the device a run uses; says so when there is no GPU.

    Imports the backend (call it inside `quiet_stderr`).

    Args:
        backend: str. `"jax"`, `"tensorflow"` or `"torch"`.

    Returns:
        str, e.g. `"the CPU: no GPU found (1 device, 2 cores)"` or
        `"GPU: 1 x NVIDIA H200"`.

    Example:

    ```python
    describe_device("jax")  # "the CPU: no GPU found (2 cores)"
    ```
    """
    cores = os.cpu_count() or 1
    no_gpu = f"the CPU: no GPU found ({cores} cores)"
    if backend == "jax":
        import jax

        devices = jax.devices()
        platform = devices[0].platform
        if platform == "cpu":
            count = len(devices)
            extra = f", {count} CPU devices" if count > 1 else ""
            return f"the CPU: no GPU found ({cores} cores{extra})"
        kinds = sorted({getattr(d, "device_kind", platform) for d in devices})
        return f"{platform.upper()}: {len(devices)} x {', '.join(kinds)}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return no_gpu
        return f"GPU: {len(gpus)} x {gpus[0].name}"
    import torch

    if not torch.cuda.is_available():
        return no_gpu
    count = torch.cuda.device_count()
    return f"GPU: {count} x {torch.cuda.get_device_name(0)}"


def import_backend(backend, debug=False, libraries=("dreamkeras",)):
    """Imports Keras, `libraries` and the backend quietly; describes the device.

    TensorFlow is imported too (the input pipelines are tf.data) and runs
    one operation, so that its device start-up logs fall inside the capture.

    Args:
        backend: str. The backend asked for.
        debug: bool. Keep every log.
        libraries: tuple of str. Modules to import inside the capture.

    Returns:
        str. `describe_device`'s line.

    Raises:
        BackendMismatch: Keras was already imported with another backend
            (its message is that backend's name).
        ImportError: the backend's library is not installed.

    Example:

    ```python
    line = import_backend("jax")
    ```
    """
    with quiet_stderr(enabled=not debug):
        import keras

        for name in libraries:
            importlib.import_module(name)
        running = keras.backend.backend()
        if running == backend:
            import tensorflow as tf

            from dreamkeras.training.devices import keep_tensorflow_off_gpus

            # tf.data runs on the CPU; a TensorFlow holding the GPUs would
            # take the memory JAX or PyTorch train with. Before TF starts.
            keep_tensorflow_off_gpus(backend)
            tf.constant(0)  # Starts TensorFlow's devices (its cuInit log).
            return describe_device(backend)
    raise BackendMismatch(running)
