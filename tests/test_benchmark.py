"""`apps/benchmark.py`: one measurement in the default suite, the others `large`."""

import json

import keras
import pytest

from apps import benchmark
from tests.app_helpers import FIRST_LINE
from tests.app_helpers import header


def test_benchmark_prints_and_writes_figures(tmp_path, capsys):
    model = "sleepnet"
    output = tmp_path / "bench.json"
    status = benchmark.main(
        [
            f"--backend={keras.backend.backend()}", f"--model={model}", "--blocks=1",
            "--encoder=mae-tiny-32", "--width=8", "--batch-size=4", "--steps=2",
            "--warmup=1", "--mask-ratio=0.5", "--compare-xla-cpu-kernels",
            f"--output={output}",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert FIRST_LINE.match(printed) and header(printed)["backend"].startswith(keras.backend.backend())
    assert "img/s" in printed and "parameters" in printed
    both = json.loads(output.read_text())
    # The native graph and the XLA:CPU kernels, measured side by side.
    assert not both["native"]["xla_cpu_kernels"] and both["xla_cpu_kernels"]["xla_cpu_kernels"]
    assert "side by side (native -> XLA:CPU kernels)" in printed
    assert printed.count("train img/s") == 1 and printed.count(", XLA:CPU kernels") == 1
    assert both["native"]["parameters"] == both["xla_cpu_kernels"]["parameters"]
    saved = both["native"]
    assert saved["train_images_per_second"] > 0
    assert saved["inference_images_per_second"] > 0
    params = saved["parameters"]
    assert params["total"] == params["trainable"] + params["non_trainable"]
    assert 0 < params["frozen"] <= params["non_trainable"]
    # On every backend: analytical FLOPs, and the achieved rate from them
    # where XLA gives no count.
    assert saved["analytical_train_flops_per_image"] > 0
    assert saved["analytical_forward_flops_per_image"] > 0
    assert saved["train_flops_per_second"] > 0
    if keras.backend.backend() == "jax":
        assert saved["flops_count"] == "xla"
        # A train step costs more than a forward pass (backward pass too).
        assert saved["train_flops_per_image"] > saved["forward_flops_per_image"] > 0
    else:
        assert saved["flops_count"] == "analytical"
        assert "analytical)" in printed
    assert saved["memory"]["host_rss_bytes"] > 0
    assert saved["input_shape"] == [32, 32, 3] and saved["model"] == model
    assert saved["release_freed_memory"] and "--keep-freed-memory" not in printed
    # Time to the first step, split: the imports before the build, the build,
    # the first train call; and the machine the figures came from.
    assert saved["process_seconds_before_build"] > 0 and saved["build_seconds"] > 0
    assert saved["seconds_to_first_train_step"] == pytest.approx(
        saved["process_seconds_before_build"] + saved["build_seconds"]
        + saved["train_compile_seconds"]
    )
    assert printed.count("from the process start") == 1  # only the first measurement
    assert both["xla_cpu_kernels"]["seconds_to_first_train_step"] is None
    assert saved["machine"]["cpus"] >= 1 and len(saved["machine"]["load_average_end"]) == 3
    threads = saved["machine"]["threads"]
    if keras.backend.backend() == "torch":
        import torch

        assert threads == torch.get_num_threads()
    else:
        assert 1 <= threads <= saved["machine"]["cpus"]
    assert f"CPUs, {threads} thread{'' if threads == 1 else 's'}, load average" in printed


@pytest.mark.large
def test_benchmark_records_remat_and_stop_gradient(tmp_path, capsys):
    output = tmp_path / "bench.json"
    benchmark.main(
        [
            f"--backend={keras.backend.backend()}", "--model=dreamnet", "--blocks=1",
            "--encoder=mae-tiny-32", "--width=8", "--batch-size=2", "--steps=1",
            "--warmup=0", "--remat", "--skip-inference", "--loop=on-batch",
            "--keep-freed-memory", f"--output={output}",
        ]
    )
    printed = capsys.readouterr().out
    assert ", remat" in printed and "(on-batch," in printed
    saved = json.loads(output.read_text())
    assert saved["remat"] and not saved["stop_gradient"]
    assert not saved["release_freed_memory"] and "(--keep-freed-memory)" in printed
    assert saved["loop"] == "on-batch"
    assert saved["train_images_per_second"] > 0
    assert "inference_images_per_second" not in saved


@pytest.mark.large
@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile")
def test_benchmark_torch_compile_compiles_the_steps(tmp_path, capsys):
    output = tmp_path / "bench.json"
    benchmark.main(
        [
            "--backend=torch", "--model=baseline", "--blocks=1", "--encoder=mae-tiny-32",
            "--width=8", "--batch-size=2", "--steps=2", "--warmup=1", "--skip-inference",
            "--torch-compile", f"--output={output}",
        ]
    )
    assert ", torch.compile" in capsys.readouterr().out
    saved = json.loads(output.read_text())
    assert saved["jit_compile"] and saved["backend"] == "torch"
    assert saved["train_images_per_second"] > 0


@pytest.mark.large
def test_benchmark_fit_loop_runs_whole_executions(tmp_path, capsys, monkeypatch):
    calls = []
    original_fit = keras.Model.fit

    def counting_fit(self, x=None, y=None, **kwargs):
        calls.append((len(x), len(y), kwargs["batch_size"]))
        return original_fit(self, x, y, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", counting_fit)
    output = tmp_path / "bench.json"
    # Keras's PyTorch trainer runs one step per call.
    per_execution = 1 if keras.backend.backend() == "torch" else 2
    benchmark.main(
        [
            f"--backend={keras.backend.backend()}", "--model=sleepnet", "--blocks=1",
            "--encoder=mae-tiny-32", "--width=8", "--batch-size=2", "--steps=3",
            "--warmup=1", f"--steps-per-execution={per_execution}",
            "--skip-inference", f"--output={output}",
        ]
    )
    # First execution, warm-up and timed steps, each rounded up to whole
    # executions, of 2 images per step.
    if per_execution == 2:
        assert calls == [(4, 4, 2), (4, 4, 2), (8, 8, 2)]
    else:
        assert calls == [(2, 2, 2), (2, 2, 2), (6, 6, 2)]
    saved = json.loads(output.read_text())
    assert saved["loop"] == "fit"
    assert saved["steps_per_execution"] == per_execution
    assert "(fit," in capsys.readouterr().out


def test_benchmark_rejects_steps_per_execution_without_fit(capsys):
    assert benchmark.main(["--loop=on-batch", "--steps-per-execution=4"]) == 2
    assert capsys.readouterr().err == "error: --steps-per-execution needs --loop fit.\n"
