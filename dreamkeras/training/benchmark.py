"""The benchmark behind `apps/benchmark.py`: size, FLOPs, speed and memory of one model.

Parameters, FLOPs (analytical on every backend, XLA's count on JAX),
train and inference throughput (through `model.fit`/`predict` or the
`*_on_batch` calls, timed after warm-up steps, compile time apart), the
achieved FLOP/s as a share of a matmul peak measured in the same run, and
peak memory. Named encoder sizes build random weights: fine for speed and
size, which do not depend on the values.
"""

import dataclasses
import os
import time

import keras
import numpy as np

from dreamkeras import torch_export
from dreamkeras.flops.counting import count_flops
from dreamkeras.flops.counting import count_train_step_flops
from dreamkeras.training.image_task import build_model
from dreamkeras.training.precision import resolve_policy
from dreamkeras.utils import memory
from dreamkeras.utils import profiling


def _build(config):
    model_config = config.model
    image_shape = None
    if model_config.image_size:
        image_shape = (model_config.image_size, model_config.image_size, 3)
    # The factory loads the encoder by name (the baseline takes its input size).
    return build_model(model_config, config.num_classes, image_shape, model_config.encoder)


def run_benchmark(config):
    """Measures the model a `BenchmarkConfig` describes; prints and returns the figures.

    Args:
        config: `dreamkeras_cli.tool_config.BenchmarkConfig`.

    Returns:
        dict. The figures (also written to `config.output` as JSON).

    Example:

    ```python
    from dreamkeras_cli import flags, tool_builders

    args = flags.build_parser("benchmark").parse_args(["--encoder", "mae-tiny-32"])
    result = run_benchmark(tool_builders.benchmark_config(args))
    ```
    """
    backend = keras.backend.backend()
    precision = resolve_policy(config.hardware.mixed_precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if precision == "none" else precision)
    try:
        with torch_export.graphs(torch_export.enabled() or config.torch_export):
            result = _measure_as_configured(config, backend, precision)
    finally:
        keras.config.set_dtype_policy(previous)
    if config.output:
        from dreamkeras.training.report import write_json

        os.makedirs(os.path.dirname(config.output) or ".", exist_ok=True)
        write_json(config.output, result)
    return result


def _measure_as_configured(config, backend, precision):
    """`_measure` once, or twice side by side with `compare_xla_cpu_kernels`."""
    if not config.compare_xla_cpu_kernels:
        result = _measure(config, backend, precision)
        print(report_text(result), flush=True)
        return result
    result = {
        name: _measure(
            dataclasses.replace(
                config,
                model=dataclasses.replace(config.model, xla_cpu_kernels=on),
            ),
            backend,
            precision,
            # The second measurement starts long after the process.
            from_process_start=not on,
        )
        for name, on in (("native", False), ("xla_cpu_kernels", True))
    }
    print(comparison_text(result), flush=True)
    return result


def _measure(config, backend, precision, from_process_start=True):
    release = not config.keep_freed_memory
    machine_at_start = profiling.machine_state()
    started = profiling.seconds_since_process_start() if from_process_start else None
    if release:
        memory.release_host_memory_after_compiles()
    build_start = time.perf_counter()
    model = _build(config)
    build_seconds = time.perf_counter() - build_start
    if release:
        memory.release_host_memory(clear_jax_caches=True)
    input_shape = tuple(model.input.shape[1:])
    rng = np.random.default_rng(0)
    images = rng.random((config.batch_size,) + input_shape).astype("float32")
    labels = rng.integers(0, config.num_classes, config.batch_size)
    loss = keras.losses.SparseCategoricalCrossentropy()
    # XLA on jax and tensorflow; torch.compile on torch only when asked.
    jit_compile = backend != "torch" or config.torch_compile
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    stop_gradient = config.model.stop_gradient
    analytical_forward = count_flops(model)["total"]
    analytical_step = count_train_step_flops(model, frozen_backward=not stop_gradient)["total"]
    flops = profiling.xla_flops(model, images, labels, loss)
    peak = profiling.matmul_peak_flops(
        dtype="float32" if precision == "none" else precision.split("_")[1]
    )
    if release:  # What the FLOP counts and the peak measurement left.
        memory.release_host_memory()
    if config.loop == "fit":
        train_first, train_step = profiling.time_fit(
            model, images, labels, config.warmup, config.steps
        )
    else:
        train_first, train_step = profiling.time_steps(
            lambda: model.train_on_batch(images, labels), config.warmup, config.steps
        )
    result = {
        "backend": backend,
        "model": config.model.kind,
        "blocks": config.model.blocks,
        "encoder": config.model.encoder,
        "input_shape": list(input_shape),
        "batch_size": config.batch_size,
        "precision": "float32" if precision == "none" else precision,
        "mask_ratio": config.model.mask_ratio,
        "projection": config.model.projection,
        "stop_gradient": stop_gradient,
        "remat": config.model.remat,
        "xla_cpu_kernels": config.model.xla_cpu_kernels,
        "jit_compile": bool(model.jit_compile),
        "torch_export": backend == "torch" and torch_export.enabled(),
        "loop": config.loop,
        "steps_per_execution": config.steps_per_execution,
        "release_freed_memory": release,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "parameters": profiling.parameter_counts(model),
        "analytical_forward_flops_per_image": analytical_forward,
        "analytical_train_flops_per_image": analytical_step,
        "process_seconds_before_build": started,
        "build_seconds": build_seconds,
        "train_compile_seconds": train_first,
        # Start of the process to the end of the first train step, without
        # this benchmark's own FLOP counts and peak measurement.
        "seconds_to_first_train_step": (
            None if started is None else started + build_seconds + train_first
        ),
        "train_step_seconds": train_step,
        "train_images_per_second": config.batch_size / train_step,
        "matmul_peak_flops_per_second": peak,
    }
    # The achieved rate counts what the compiled step computes (recomputation
    # under --remat included) where XLA reports it, else the model's FLOPs.
    if flops["forward"] is not None:
        counted_by, step_flops = "xla", flops["train_step"]
        result.update(
            forward_flops_per_image=flops["forward"] / config.batch_size,
            train_flops_per_image=flops["train_step"] / config.batch_size,
        )
    else:
        counted_by, step_flops = "analytical", analytical_step * config.batch_size
    achieved = step_flops / train_step
    result.update(
        flops_count=counted_by,
        train_flops_per_second=achieved,
        train_share_of_matmul_peak=achieved / peak,
    )
    if not config.skip_inference:
        if config.loop == "fit":
            infer_first, infer_step = profiling.time_predict(
                model, images, config.warmup, config.steps
            )
        else:
            infer_first, infer_step = profiling.time_steps(
                lambda: model.predict_on_batch(images), config.warmup, config.steps
            )
        result.update(
            inference_compile_seconds=infer_first,
            inference_images_per_second=config.batch_size / infer_step,
        )
    result["memory"] = profiling.peak_memory()
    result["machine"] = {
        "cpus": machine_at_start["cpus"],
        **profiling.compute_threads(),
        "load_average_start": machine_at_start["load_average"],
        "load_average_end": profiling.machine_state()["load_average"],
        "jax_compilation_cache": os.environ.get("JAX_COMPILATION_CACHE_DIR")
        if backend == "jax" else None,
    }
    if config.model.architecture == "reference":
        from dreamkeras.models.reference_counts import reference_comparison

        result["reference_comparison"] = reference_comparison(model, analytical_forward)
    return result


def _threads_text(count):
    return f"{count} thread" + ("" if count == 1 else "s")


def report_text(result):
    """The printed form of `run_benchmark`'s figures."""
    params = result["parameters"]
    lines = [
        f"{result['model']}-{result['blocks']} on {result['encoder']} "
        f"{tuple(result['input_shape'])}, batch {result['batch_size']}, "
        f"{result['precision']}, {result['backend']}, mask {result['mask_ratio']}"
        + (", stop-gradient" if result.get("stop_gradient") else "")
        + (", remat" if result.get("remat") else "")
        + (", XLA:CPU kernels" if result.get("xla_cpu_kernels") else "")
        + (", torch.compile" if result["backend"] == "torch" and result.get("jit_compile") else "")
        + (", torch.export frozen models" if result.get("torch_export") else ""),
        f"  parameters     total {params['total'] / 1e6:.2f}M  trainable "
        f"{params['trainable'] / 1e6:.2f}M  frozen model {params['frozen'] / 1e6:.2f}M",
    ]
    analytical = (
        f"forward {result['analytical_forward_flops_per_image'] / 1e9:.3f}G"
        f"  train step {result['analytical_train_flops_per_image'] / 1e9:.3f}G"
    )
    if "forward_flops_per_image" in result:
        lines.append(
            f"  FLOPs/image    forward {result['forward_flops_per_image'] / 1e9:.3f}G"
            f"  train step {result['train_flops_per_image'] / 1e9:.3f}G (XLA count;"
            f" analytical {analytical})"
        )
    else:
        lines.append(f"  FLOPs/image    {analytical} (analytical)")
    lines.append(
        f"  train          {result['train_images_per_second']:.2f} img/s "
        f"({result.get('loop', 'fit')}, {result['train_step_seconds'] * 1e3:.1f} "
        f"ms/step, first call {result['train_compile_seconds']:.1f} s)"
    )
    if result.get("seconds_to_first_train_step") is not None:
        lines.append(
            f"  first step     {result['seconds_to_first_train_step']:.1f} s from the "
            f"process start: imports {result['process_seconds_before_build']:.1f} s, "
            f"build {result['build_seconds']:.1f} s, first train call "
            f"{result['train_compile_seconds']:.1f} s"
        )
    lines.append(
        f"  achieved       {result['train_flops_per_second'] / 1e9:.1f} GFLOP/s = "
        f"{100 * result['train_share_of_matmul_peak']:.0f}% of the measured matmul "
        f"peak {result['matmul_peak_flops_per_second'] / 1e9:.1f} GFLOP/s"
        f" ({result['flops_count']} count)"
    )
    if "inference_images_per_second" in result:
        lines.append(f"  inference      {result['inference_images_per_second']:.2f} img/s")
    if result.get("xla_flags"):
        lines.append(f"  XLA_FLAGS      {result['xla_flags']}")
    if result.get("reference_comparison"):
        from dreamkeras.models.reference_counts import comparison_lines

        lines += ["  " + text for text in comparison_lines(result["reference_comparison"])]
    machine = result.get("machine")
    if machine:
        load = machine["load_average_start"], machine["load_average_end"]
        lines.append(
            f"  machine        {machine['cpus']} CPUs, {_threads_text(machine['threads'])}, "
            "load average "
            + (f"{load[0][0]:.1f} at the start, {load[1][0]:.1f} at the end"
               if load[0] else "unknown")
            + (f", JAX cache {machine['jax_compilation_cache']}"
               if machine.get("jax_compilation_cache") else "")
        )
    memory_figures = result["memory"]
    device = memory_figures["device_bytes"]
    lines.append(
        f"  peak memory    host RSS {memory_figures['host_rss_bytes'] / 2**30:.2f} GiB"
        + (f", device {device / 2**30:.2f} GiB" if device else "")
        + ("" if result.get("release_freed_memory", True) else " (--keep-freed-memory)")
    )
    return "\n".join(lines)


def comparison_text(results):
    """Both reports of a `--compare-xla-cpu-kernels` run, then the ratios.

    The peak memory is the process's peak so far, so the second column's is
    at least the first's.
    """
    native, fast = results["native"], results["xla_cpu_kernels"]
    lines = [report_text(native), "", report_text(fast), "", "side by side (native -> XLA:CPU kernels)"]
    for key, label in (
        ("train_images_per_second", "train img/s"),
        ("inference_images_per_second", "inference img/s"),
        ("train_compile_seconds", "first train call s"),
        ("train_share_of_matmul_peak", "share of matmul peak"),
    ):
        if key in native and key in fast:
            lines.append(
                f"  {label:<22}{native[key]:10.3f} -> {fast[key]:10.3f}"
                f"  ({fast[key] / native[key]:.2f}x)"
            )
    return "\n".join(lines)
