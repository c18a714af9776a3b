"""Your own images, one subfolder per class (keras.utils.image_dataset_from_directory); train/ and val/ split folders are used when present.

Usage:

    python apps/image_folder.py --data-dir ~/data/flowers --encoder <preset>

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("image_folder", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
