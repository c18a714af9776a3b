"""Hyperparameter search over SleepNet / DreamNet with KerasTuner.

Usage (a search over M and frozen/unfrozen on Fashion-MNIST):

    python tuning/search.py --dataset fashion_mnist --tuner random \
        --search-space blocks,unfreeze --values blocks=1,2,3 --max-trials 6 \
        --model dreamnet --encoder mae-tiny-32 --width 8 --epochs 2 \
        --train-subset 6000 --directory tuning_runs --project-name fmnist

Rerunning the same command resumes the search; --overwrite starts afresh.
The HyperModels live in `dreamkeras.tuning`. Run with --help for every flag.
"""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from apps._launcher import select_backend  # noqa: E402  (no Keras import)


def main(argv=None):
    """Runs the search; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    select_backend(argv)  # Sets KERAS_BACKEND before Keras is imported.
    from dreamkeras.tuning import main as search_main

    return search_main(argv, prog="tuning/search.py")


if __name__ == "__main__":
    sys.exit(main())
