"""Tiny ImageNet (200 classes, 64x64) from the usual tiny-imagenet-200 folder: train/<wnid>/images/*.JPEG, val/images with val/val_annotations.txt.

Usage:

    python apps/tiny_imagenet.py --data-dir ~/data/tiny-imagenet-200 --encoder <preset>

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("tiny_imagenet", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
