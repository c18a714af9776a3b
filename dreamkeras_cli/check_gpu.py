"""`dreamkeras check-gpu` (`apps/check_gpu.py`): the first command on a new GPU machine.

For every installed backend (jax, tensorflow, torch) it starts a process of
its own (Keras' backend is fixed per process), trains a small DreamNet-3 for
a few steps in float32, mixed_bfloat16 and mixed_float16, and prints whether
the GPU, the reduced precision and XLA compilation were really used, read
from the tensors, the layers and JAX's compilation events
(`dreamkeras.training.gpu_check`). The exit status is 0 when every check
passed and a GPU (when `nvidia-smi` sees one) trained with every backend,
else 1.

Standard library only: the heavy libraries load in the child processes.
"""

import json
import os
import shutil
import subprocess
import sys

from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.flags import build_parser
from dreamkeras_cli.flags.base import BACKENDS
from dreamkeras_cli.runner import command_text
from dreamkeras_cli.runner import run_guarded

MARKER = "DREAMKERAS_CHECK_GPU_JSON "
PRECISION_NAMES = ("float32", "mixed_bfloat16", "mixed_float16")
BACKEND_MODULES = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}
# What to install when a backend trains on the CPU of a machine with a GPU.
INSTALL_HINTS = {
    "jax": "pip install -r requirements-cuda.txt (jax[cuda12])",
    "torch": "pip install -r requirements-cuda-torch.txt (PyTorch's CUDA build)",
    "tensorflow": "pip install -r requirements-cuda-tensorflow.txt (tensorflow[and-cuda])",
}
CHILD_TIMEOUT = 1800


def installed_backends():
    """The backends whose library is installed, in the order jax, tensorflow, torch."""
    import importlib.util

    return [b for b in BACKENDS if importlib.util.find_spec(BACKEND_MODULES[b]) is not None]


def nvidia_gpus():
    """`nvidia-smi`'s GPUs (`"name, driver, memory"` lines), [] without one."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
             "--format=csv,noheader"],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _split(text, known, flag):
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in known]
    if unknown or not items:
        raise TrainingSetupError(
            f"{flag} takes a comma-separated list from {', '.join(known)}. "
            f"Received: {text!r}."
        )
    return items


def run_child(backend, precisions, steps, batch_size, debug=False):
    """Runs the check of one backend in a new process; returns its report.

    Returns:
        dict: the child's `run_checks` report, or `{"backend", "error"}`.
    """
    command = [
        sys.executable, "-m", "dreamkeras_cli.check_gpu", "--child", backend,
        ",".join(precisions), str(steps), str(batch_size), "1" if debug else "0",
    ]
    environment = dict(os.environ)
    environment.pop("KERAS_BACKEND", None)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=environment,
        )
    except subprocess.TimeoutExpired:
        return {"backend": backend, "error": f"no answer in {CHILD_TIMEOUT} s"}
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    return {
        "backend": backend,
        "error": f"exit status {done.returncode}: " + " | ".join(tail)[-800:],
    }


def summary_lines(reports, gpus):
    """The closing verdict: `(ok, lines)`."""
    ok, lines = True, []
    for report in reports:
        backend = report["backend"]
        if report.get("error"):
            ok = False
            lines.append(f"{backend}: FAILED to run: {report['error']}")
            continue
        platform = report["device"]["platform"]
        failed = [r for r in report["results"] if not r["ok"]]
        if failed:
            ok = False
            lines.append(
                f"{backend}: PROBLEMS in "
                + ", ".join(f"{r['policy']} ({r['verdict']})" for r in failed)
            )
        elif platform == "cpu" and gpus:
            ok = False
            lines.append(
                f"{backend}: trains on the CPU although nvidia-smi sees a GPU; install "
                f"the CUDA build: {INSTALL_HINTS[backend]}"
            )
        elif platform == "cpu":
            lines.append(f"{backend}: ok on the CPU (no GPU on this machine)")
        else:
            auto = report["auto_policy"]
            lines.append(
                f"{backend}: ok on the {platform.upper()}: every precision trained there "
                f"in its own dtype"
                + (", with XLA" if backend != "torch" else "")
                + f"; --mixed-precision auto will use {auto}"
            )
        if backend != "tensorflow" and report.get("tensorflow_gpus"):
            ok = False
            lines.append(
                f"{backend}: TensorFlow (the input pipeline) still sees "
                f"{report['tensorflow_gpus']} GPU(s) and may take their memory"
            )
    return ok, lines


def check_gpu(args, command, runner=run_child):
    """Runs the whole check from parsed flags; returns the exit status (0 or 1)."""
    backends = _split(args.backends, BACKENDS, "--backends") if args.backends else (
        installed_backends()
    )
    precisions = _split(args.precisions, PRECISION_NAMES, "--precisions")
    if args.steps < 1 or args.batch_size < 1:
        raise TrainingSetupError("--steps and --batch-size must be at least 1.")
    gpus = nvidia_gpus()
    print(
        f"{command}: a small DreamNet-3 trained for {args.steps} steps of batch "
        f"{args.batch_size} in {', '.join(precisions)} on {', '.join(backends)}.",
        flush=True,
    )
    print(f"  nvidia-smi: {'; '.join(gpus) if gpus else 'no NVIDIA GPU found'}", flush=True)
    reports = []
    for backend in backends:
        report = runner(backend, precisions, args.steps, args.batch_size, args.debug)
        reports.append(report)
        if report.get("error"):
            print(f"{backend}: FAILED to run: {report['error']}", flush=True)
        else:
            print("\n".join(report["lines"]), flush=True)
    ok, lines = summary_lines(reports, gpus)
    print("\n".join(lines), flush=True)
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"nvidia_smi": gpus, "reports": reports, "ok": ok}, f, indent=2)
    return 0 if ok else 1


def check_gpu_app(argv=None, prog=None):
    """`dreamkeras check-gpu` / `apps/check_gpu.py`; returns the exit status.

    Example:

    ```python
    sys.exit(check_gpu_app(["--backends", "jax", "--steps", "3"]))
    ```
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    description = (
        "Run this first on a new GPU machine: for each installed backend, trains a "
        "small DreamNet-3 for a few steps in each precision and says whether the GPU, "
        "reduced precision (bfloat16 / float16 with loss scaling) and XLA compilation "
        "were really used. Exit status 0 when everything checked out."
    )
    command = command_text(prog, "check-gpu")
    status = {"code": 0}

    def go():
        parser = build_parser("check-gpu", prog=prog or "dreamkeras check-gpu",
                              description=description)
        args = parser.parse_args(argv)
        status["code"] = check_gpu(args, command)

    guarded = run_guarded(go)
    return guarded or status["code"]


def _child(backend, precisions, steps, batch_size, debug):
    from dreamkeras_cli import startup

    startup.prepare_process(backend, debug=debug)
    startup.import_backend(backend, debug=debug)
    from dreamkeras.training.gpu_check import report_lines
    from dreamkeras.training.gpu_check import run_checks

    # One more step than timed: the first one compiles.
    report = run_checks(precisions.split(","), steps=steps + 1, batch_size=batch_size)
    report["lines"] = report_lines(report)
    print(MARKER + json.dumps(report), flush=True)


if __name__ == "__main__" and len(sys.argv) == 7 and sys.argv[1] == "--child":
    _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1")
