"""Your own texts, one subfolder of .txt files per class (keras.utils.text_dataset_from_directory); train/ and test/ (or val/) split folders are used when present.

Usage:

    python apps/text_folder.py --data-dir ~/data/reviews --encoder <preset> --model dreamnet --blocks 2
    python apps/text_folder.py --data-dir ~/data/reviews --encoder <preset> --model lstm

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("text_folder", argv, callbacks=callbacks, prog="apps/text_folder.py")


if __name__ == "__main__":
    sys.exit(main())
