"""Tiny ImageNet (200 classes, 64x64) from the usual tiny-imagenet-200 folder: train/<wnid>/images/*.JPEG, val/images with val/val_annotations.txt.

Usage:

    python apps/tiny_imagenet.py --data-dir ~/data/tiny-imagenet-200 --encoder <preset>

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("tiny_imagenet", argv, callbacks=callbacks, prog="apps/tiny_imagenet.py")


if __name__ == "__main__":
    sys.exit(main())
