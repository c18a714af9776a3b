"""Train variants over several seeds and compare them fairly.

Each variant is a training app's flags; all share the data, splits, budget
(--common) and seeds. Writes results.md / .json / .png and TensorBoard HParams:

    python apps/compare.py --dataset fashion_mnist --seeds 1 2 3 \\
        --variant "cnn=--model smallcnn" \\
        --variant "chain=--model baseline --width 16" \\
        --variant "sleepnet=--model sleepnet --width 16 --encoder presets/mae" \\
        --common "--epochs 2 --train-subset 5000"

Rerunning the same command resumes. Run with --help for every flag.
"""

import sys

from dreamkeras_cli.compare import compare_app


def main(argv=None, callbacks=None):
    """Runs the command; returns the exit status."""
    return compare_app(argv, callbacks=callbacks, prog="apps/compare.py")


if __name__ == "__main__":
    sys.exit(main())
