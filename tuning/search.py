"""Hyperparameter search over SleepNet / DreamNet with KerasTuner.

Usage (a search over M and frozen/unfrozen on Fashion-MNIST):

    python tuning/search.py --dataset fashion_mnist --tuner random \\
        --search-space blocks,unfreeze --values blocks=1,2,3 --max-trials 6 \\
        --model dreamnet --encoder mae-tiny-32 --width 8 --epochs 2 \\
        --train-subset 6000 --directory tuning_runs --project-name fmnist

Rerunning the same command resumes the search; --overwrite starts afresh.
The HyperModels live in `dreamkeras.tuning`. Run with --help for every flag.
"""

import sys

from dreamkeras_cli.tool_commands import search_app


def main(argv=None, callbacks=None):
    """Runs the command; returns the exit status."""
    return search_app(argv, callbacks=callbacks, prog="tuning/search.py")


if __name__ == "__main__":
    sys.exit(main())
