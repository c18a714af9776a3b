"""ImageNet-1k through tfds imagenet2012; --data-dir holds the manually downloaded ILSVRC2012 archives (also used as tfds data_dir).

Usage:

    python apps/imagenet.py --data-dir ~/data/imagenet --encoder <preset>

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("imagenet", argv, callbacks=callbacks, prog="apps/imagenet.py")


if __name__ == "__main__":
    sys.exit(main())
