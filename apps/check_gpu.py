"""Check a GPU machine: device, reduced precision and XLA on every installed backend.

Run this first on a new machine, after installing the CUDA builds
(docs/gpu.md):

    python apps/check_gpu.py                 # every installed backend
    python apps/check_gpu.py --backends jax --steps 10

For each backend it trains a small DreamNet-3 for a few steps in float32,
mixed_bfloat16 and mixed_float16 (random data, random weights) and prints
where the variables and outputs were, which dtype the layers computed in,
whether float16 scaled the loss, whether XLA compiled the step, and the time
per step. Exit status 0 when everything checked out.
"""

import sys

from dreamkeras_cli.check_gpu import check_gpu_app


def main(argv=None):
    """Runs the command; returns the exit status."""
    return check_gpu_app(argv, prog="apps/check_gpu.py")


if __name__ == "__main__":
    sys.exit(main())
