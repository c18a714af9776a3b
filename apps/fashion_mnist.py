"""Fashion-MNIST from its original gz files (apt-get install dataset-fashion-mnist); grayscale repeated to 3 channels for the encoder.

Usage:

    python apps/fashion_mnist.py --model dreamnet --blocks 2 --encoder mae-tiny-32 --width 16

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("fashion_mnist", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
