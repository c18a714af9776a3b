"""Benchmark SleepNet, DreamNet and the plain chain.

Parameters, FLOPs, train/inference throughput, FLOP/s share of a measured
matmul peak, and peak memory, printed and written to JSON:

    python apps/benchmark.py --backend jax --model dreamnet --blocks 3 \\
        --encoder mae-small-32 --batch-size 8 --output bench.json

Named encoder sizes (`mae-small-32`, `vit-b16-224`, `mae-b16-224`, ...) build
random weights: fine for speed and size, which do not depend on the values.
Run with --help for every flag.
"""

import sys

from dreamkeras_cli.tool_commands import benchmark_app


def main(argv=None):
    """Runs the command; returns the exit status."""
    return benchmark_app(argv, prog="apps/benchmark.py")


if __name__ == "__main__":
    sys.exit(main())
