"""CIFAR-100 (tfds cifar100): paper defaults, DreamNet-3 on a frozen MAE-base encoder, 30 epochs, Adam lr 0.005, RandAugment + MixUp, images resized to the encoder's input size.

Usage:

    python apps/cifar100.py --backend jax --encoder <local MAE preset>
    python apps/cifar100.py --fast-dev-run        # smoke test, not a real run

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("cifar100", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
