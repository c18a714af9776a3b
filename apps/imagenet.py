"""ImageNet-1k through tfds imagenet2012; --data-dir holds the manually downloaded ILSVRC2012 archives (also used as tfds data_dir).

Usage:

    python apps/imagenet.py --data-dir ~/data/imagenet --encoder <preset>

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("imagenet", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
