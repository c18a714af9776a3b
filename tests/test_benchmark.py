import json
import os
import sys

import keras

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "apps"))
import benchmark  # noqa: E402


def test_benchmark_prints_and_writes_figures(tmp_path, capsys):
    model = "sleepnet"
    output = tmp_path / "bench.json"
    result = benchmark.main(
        [
            f"--backend={keras.backend.backend()}", f"--model={model}", "--blocks=1",
            "--encoder=mae-tiny-32", "--width=8", "--batch-size=4", "--steps=2",
            "--warmup=1", "--mask-ratio=0.5", f"--output={output}",
        ]
    )
    printed = capsys.readouterr().out
    assert "img/s" in printed and "parameters" in printed
    saved = json.loads(output.read_text())
    assert saved["train_images_per_second"] > 0
    assert saved["inference_images_per_second"] > 0
    params = saved["parameters"]
    assert params["total"] == params["trainable"] + params["non_trainable"]
    assert 0 < params["frozen"] <= params["non_trainable"]
    if keras.backend.backend() == "jax":
        # A train step costs more than a forward pass (backward pass too).
        assert saved["train_flops_per_image"] > saved["forward_flops_per_image"] > 0
    assert result["memory"]["host_rss_bytes"] > 0


def test_benchmark_records_remat_and_stop_gradient(tmp_path, capsys):
    output = tmp_path / "bench.json"
    benchmark.main(
        [
            f"--backend={keras.backend.backend()}", "--model=dreamnet", "--blocks=1",
            "--encoder=mae-tiny-32", "--width=8", "--batch-size=2", "--steps=1",
            "--warmup=0", "--remat", "--skip-inference", f"--output={output}",
        ]
    )
    assert ", remat" in capsys.readouterr().out
    saved = json.loads(output.read_text())
    assert saved["remat"] and not saved["stop_gradient"]
    assert saved["train_images_per_second"] > 0
    assert "inference_images_per_second" not in saved
