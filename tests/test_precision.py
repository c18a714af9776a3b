"""--mixed-precision auto per device kind (faked on CPU), TensorFlow off the GPUs, check-gpu."""

import json
import logging

import keras
import pytest

from dreamkeras.training import devices
from dreamkeras.training import gpu_check
from dreamkeras.training import precision
from dreamkeras.training.precision import DeviceInfo
from dreamkeras.training.runtime import run_scope
from dreamkeras_cli import check_gpu as check_gpu_cli
from dreamkeras_cli import commands
from dreamkeras_cli.config import Hardware
from dreamkeras_cli.flags import build_parser
from tests.app_helpers import BACKEND
from tests.app_helpers import run_python

T4 = DeviceInfo("gpu", "Tesla T4", (7, 5))
V100 = DeviceInfo("gpu", "Tesla V100-SXM2-16GB", (7, 0))
QUADRO = DeviceInfo("gpu", "Quadro RTX 5000", (7, 5))  # the paper's GPU
A100 = DeviceInfo("gpu", "NVIDIA A100-SXM4-40GB", (8, 0))
RTX3090 = DeviceInfo("gpu", "NVIDIA GeForce RTX 3090", (8, 6))
H200 = DeviceInfo("gpu", "NVIDIA H200", (9, 0))


@pytest.mark.parametrize(
    "device, policy",
    [
        (T4, "mixed_float16"), (V100, "mixed_float16"), (QUADRO, "mixed_float16"),
        (A100, "mixed_bfloat16"), (RTX3090, "mixed_bfloat16"), (H200, "mixed_bfloat16"),
        (DeviceInfo("tpu", "TPU v4"), "mixed_bfloat16"),
        (DeviceInfo("cpu", "CPU"), "none"),
        (DeviceInfo("gpu", "AMD Instinct MI250X", None), "none"),
    ],
)
def test_auto_picks_the_policy_of_the_device_kind(device, policy):
    assert precision.choose_policy(device)[0] == policy
    assert precision.resolve_policy("auto", device) == policy
    # An explicit policy is kept whatever the device.
    assert precision.resolve_policy("mixed_bfloat16", T4) == "mixed_bfloat16"
    assert precision.resolve_policy("none", H200) == "none"


def test_reasons_and_the_header_line():
    assert "loss scaling" in precision.choose_policy(T4)[1]
    assert "compute capability 9.0" in precision.choose_policy(H200)[1]
    assert "--mixed-precision" in precision.choose_policy(DeviceInfo("gpu", "X"))[1]
    line = precision.precision_line("auto", A100)
    assert line.split()[:2] == ["dtype", "mixed_bfloat16"] and "auto:" in line
    assert precision.precision_line("none").split()[:3] == ["dtype", "float32", "(--mixed-precision)"]
    assert precision._capability("8.6") == (8, 6) and precision._capability((7, 5)) == (7, 5)
    assert precision._capability(None) is None and precision._capability("x") is None


def test_this_machine_is_described():
    device = precision.describe_accelerator()
    assert device.platform in ("cpu", "gpu", "tpu")
    if device.platform == "cpu":
        assert precision.resolve_policy("auto") == "none"


def test_the_flag_defaults_to_auto():
    assert commands.run_config("cifar100").hardware.mixed_precision == "auto"
    assert commands.run_config("cifar100", ["--precision", "float32"]).hardware.mixed_precision == "none"
    args = build_parser("benchmark").parse_args([])
    assert args.mixed_precision == "auto"


@pytest.mark.parametrize("device, policy, scaled", [(T4, "mixed_float16", True),
                                                     (A100, "mixed_bfloat16", False)])
def test_a_run_on_a_faked_gpu_sets_the_policy_and_loss_scaling(monkeypatch, device, policy, scaled):
    monkeypatch.setattr(precision, "describe_accelerator", lambda backend=None: device)
    with run_scope(Hardware(mixed_precision="auto"), 8):
        assert keras.config.dtype_policy().name == policy
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(optimizer="adam", loss="mse")
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == scaled
        assert model.layers[0].compute_dtype == policy.split("_")[1]
    assert keras.config.dtype_policy().name == "float32"  # restored


# === TensorFlow kept off the GPUs ===


class _FakeConfig:
    def __init__(self, started=False, visible=()):
        self.calls, self.started, self.visible = [], started, list(visible)

    def set_visible_devices(self, devices, kind):
        if self.started:
            raise RuntimeError("Visible devices cannot be modified after being initialized")
        self.calls.append((list(devices), kind))

    def get_visible_devices(self, kind):
        return self.visible


def test_jax_and_torch_runs_hide_the_gpus_from_tensorflow(monkeypatch, caplog):
    import tensorflow as tf

    fake = _FakeConfig()
    monkeypatch.setattr(tf, "config", fake)
    assert devices.keep_tensorflow_off_gpus("jax") == "hidden"
    assert devices.keep_tensorflow_off_gpus("torch") == "hidden"
    assert fake.calls == [([], "GPU"), ([], "GPU")]
    # The tensorflow backend trains on them.
    assert devices.keep_tensorflow_off_gpus("tensorflow") == "tensorflow trains"
    assert len(fake.calls) == 2
    # Too late: TensorFlow started with a GPU visible; a warning says so.
    monkeypatch.setattr(tf, "config", _FakeConfig(started=True, visible=["GPU:0"]))
    with caplog.at_level(logging.WARNING, logger="dreamkeras"):
        assert devices.keep_tensorflow_off_gpus("jax") == "too late"
    assert "TF_FORCE_GPU_ALLOW_GROWTH" in caplog.text
    # Started, but without GPUs: nothing to hide.
    monkeypatch.setattr(tf, "config", _FakeConfig(started=True, visible=[]))
    assert devices.keep_tensorflow_off_gpus("jax") == "hidden"


SPY = """
import json, os
os.environ.pop("TF_FORCE_GPU_ALLOW_GROWTH", None)  # Keras in the parent set it.
from dreamkeras_cli import startup
backend = startup.prepare_process("%s")  # the environment only, as the apps do first
import tensorflow as tf
from tensorflow.python.eager import context
calls = []
original = tf.config.set_visible_devices
def spy(devices, kind=None):
    calls.append({"devices": list(devices), "kind": kind,
                  "tensorflow_started": context.context()._context_handle is not None})
    return original(devices, kind)
tf.config.set_visible_devices = spy
startup.import_backend(backend)
print("RESULT " + json.dumps({
    "calls": calls, "visible": len(tf.config.get_visible_devices("GPU")),
    "allow_growth": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH"),
}))
"""


@pytest.mark.parametrize("backend", ["jax", pytest.param("tensorflow", marks=pytest.mark.large)])
def test_the_apps_hide_the_gpus_before_tensorflow_starts(backend):
    """The apps' start-up, in a fresh process: for jax, the GPUs are hidden
    from TensorFlow before its devices start (so before it can allocate), and
    allow-growth is set before TensorFlow is imported; tensorflow keeps them."""
    result = run_python(SPY % backend, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT "))
    found = json.loads(line[len("RESULT "):])
    assert found["visible"] == 0 or backend == "tensorflow"
    if backend == "jax":
        assert found["calls"] == [
            {"devices": [], "kind": "GPU", "tensorflow_started": False}
        ]
        assert found["allow_growth"] == "true"
    else:
        assert found["calls"] == [] and found["allow_growth"] is None


# === check-gpu ===


def _entry(**overrides):
    entry = dict(
        policy="mixed_bfloat16", variable_device="gpu:0", output_device="gpu:0",
        output_dtype="bfloat16", variable_dtype="float32", loss_scaling=False,
        jit_compile=True, xla_compilations=4, losses=[2.3], losses_finite=True,
        first_step_seconds=3.0, step_seconds=0.01,
    )
    entry.update(overrides)
    return entry


def test_planned_precisions_skip_float16_on_cpus_only():
    on_cpu = dict(gpu_check.planned_precisions(DeviceInfo("cpu")))
    assert on_cpu["float32"] is None and on_cpu["mixed_bfloat16"] is None
    assert "GPU precision" in on_cpu["mixed_float16"]
    assert all(reason is None for _, reason in gpu_check.planned_precisions(T4))


def test_verdicts_read_what_really_ran():
    assert gpu_check.verdict(_entry(), "gpu") == (True, "ok")
    ok, text = gpu_check.verdict(_entry(variable_device="cpu:0"), "gpu")
    assert not ok and "not the gpu" in text
    ok, text = gpu_check.verdict(_entry(output_dtype="float32"), "gpu")
    assert not ok and "computes in float32, not bfloat16" in text
    f16 = _entry(policy="mixed_float16", output_dtype="float16", loss_scaling=False)
    assert "without loss scaling" in gpu_check.verdict(f16, "gpu")[1]
    assert "non-finite" in gpu_check.verdict(_entry(losses_finite=False), "gpu")[1]
    assert gpu_check.verdict({"policy": "x", "error": "Boom"}, "gpu") == (False, "FAILED: Boom")
    assert gpu_check.verdict({"policy": "x", "skipped": "why"}, "cpu")[0]
    if BACKEND == "jax":
        assert "no XLA" in gpu_check.verdict(_entry(xla_compilations=0), "gpu")[1]
    assert gpu_check.expected_dtype("float32") == "float32"


def _report(backend, platform="gpu", **entry):
    result = _entry(**entry)
    result["ok"], result["verdict"] = True, "ok"
    report = {
        "backend": backend, "auto_policy": "mixed_bfloat16", "tensorflow_gpus": 0,
        "device": {"platform": platform, "name": "NVIDIA H200", "compute_capability": "9.0"},
        "results": [result],
    }
    report["lines"] = gpu_check.report_lines(report)
    return report


def test_check_gpu_says_what_ran_and_sets_the_exit_status(tmp_path, monkeypatch, capsys):
    args = build_parser("check-gpu").parse_args(
        ["--backends", "jax,torch", "--steps", "2", "--output", str(tmp_path / "gpu.json")]
    )
    monkeypatch.setattr(check_gpu_cli, "nvidia_gpus", lambda: ["NVIDIA H200, 570.1, 143771 MiB"])

    def on_gpu(backend, precisions, steps, batch_size, debug):
        assert (steps, batch_size, precisions) == (
            2, 16, ["float32", "mixed_bfloat16", "mixed_float16"]
        )
        return _report(backend)

    assert check_gpu_cli.check_gpu(args, "dreamkeras check-gpu", runner=on_gpu) == 0
    out = capsys.readouterr().out
    assert "nvidia-smi: NVIDIA H200" in out and "jax: GPU NVIDIA H200, compute capability 9.0" in out
    assert "jax: ok on the GPU" in out and "auto will use mixed_bfloat16" in out
    saved = json.loads((tmp_path / "gpu.json").read_text())
    assert saved["ok"] and [r["backend"] for r in saved["reports"]] == ["jax", "torch"]

    # A backend that trains on the CPU of a GPU machine: the install line, status 1.
    def on_cpu(backend, *rest):
        return _report(backend, platform="cpu", variable_device="cpu:0")

    assert check_gpu_cli.check_gpu(args, "dreamkeras check-gpu", runner=on_cpu) == 1
    out = capsys.readouterr().out
    assert "trains on the CPU although nvidia-smi sees a GPU" in out
    assert "requirements-cuda.txt" in out and "requirements-cuda-torch.txt" in out

    def broken(backend, *rest):
        return {"backend": backend, "error": "exit status 1: ImportError"}

    assert check_gpu_cli.check_gpu(args, "dreamkeras check-gpu", runner=broken) == 1
    assert "FAILED to run: exit status 1" in capsys.readouterr().out


def test_check_gpu_flags():
    assert "check-gpu" in commands.TOOLS
    assert check_gpu_cli.check_gpu_app(["--backends", "mxnet"]) == 2
    assert set(check_gpu_cli.installed_backends()) >= {BACKEND}


@pytest.mark.large  # mixed precision training is in the default suite (test_vision_classifiers)
@pytest.mark.skipif(BACKEND == "torch", reason="compiles a DreamNet; jax and tensorflow only")
def test_one_precision_really_trains_and_is_read_back():
    """The real check on this machine: a small DreamNet-3 in mixed_bfloat16."""
    entry = gpu_check.check_precision("mixed_bfloat16", steps=2, batch_size=2)
    assert "error" not in entry, entry
    assert entry["output_dtype"] == "bfloat16" and entry["variable_dtype"] == "float32"
    assert entry["losses_finite"] and not entry["loss_scaling"]
    device = precision.describe_accelerator()
    assert entry["variable_device"].startswith(device.platform)
    assert gpu_check.verdict(entry, device.platform) == (True, "ok")
    if BACKEND == "jax":
        assert entry["xla_compilations"] >= 1


@pytest.mark.large
def test_check_gpu_app_end_to_end(capsys):
    assert check_gpu_cli.check_gpu_app(
        ["--backends", BACKEND, "--precisions", "float32,mixed_float16", "--steps", "1",
         "--batch-size", "2"]
    ) == 0
    out = capsys.readouterr().out
    assert f"{BACKEND}: ok on the" in out
