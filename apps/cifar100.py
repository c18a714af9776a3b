"""CIFAR-100 (tfds cifar100): paper defaults, DreamNet-3 on a frozen MAE-base encoder, 30 epochs, Adam lr 0.005, RandAugment + MixUp, images resized to the encoder's input size.

Usage:

    python apps/cifar100.py --backend jax --encoder <local MAE preset>
    python apps/cifar100.py --fast-dev-run        # smoke test, not a real run

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("cifar100", argv, callbacks=callbacks, prog="apps/cifar100.py")


if __name__ == "__main__":
    sys.exit(main())
