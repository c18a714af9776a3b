"""Your own images, one subfolder per class (keras.utils.image_dataset_from_directory); train/ and val/ split folders are used when present.

Usage:

    python apps/image_folder.py --data-dir ~/data/flowers --encoder <preset>

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("image_folder", argv, callbacks=callbacks, prog="apps/image_folder.py")


if __name__ == "__main__":
    sys.exit(main())
