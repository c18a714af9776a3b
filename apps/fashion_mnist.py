"""Fashion-MNIST from its original gz files (apt-get install dataset-fashion-mnist); grayscale repeated to 3 channels for the encoder.

Usage:

    python apps/fashion_mnist.py --model dreamnet --blocks 2 --encoder mae-tiny-32 --width 16

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("fashion_mnist", argv, callbacks=callbacks, prog="apps/fashion_mnist.py")


if __name__ == "__main__":
    sys.exit(main())
