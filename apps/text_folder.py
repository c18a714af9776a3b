"""Your own texts, one subfolder of .txt files per class (keras.utils.text_dataset_from_directory); train/ and test/ (or val/) split folders are used when present.

Usage:

    python apps/text_folder.py --data-dir ~/data/reviews --encoder <preset> --model dreamnet --blocks 2
    python apps/text_folder.py --data-dir ~/data/reviews --encoder <preset> --model lstm

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("text_folder", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
