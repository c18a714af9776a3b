"""IMDB movie reviews (tfds imdb_reviews, 2 classes): text DreamNet / SleepNet on a frozen RoBERTa, or the LSTM / TextCNN baselines.

Usage:

    python apps/imdb.py --backend jax --encoder <local RoBERTa preset folder> --max-length 256
    python apps/imdb.py --fast-dev-run        # smoke test, not a real run

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("imdb", argv, callbacks=callbacks, prog="apps/imdb.py")


if __name__ == "__main__":
    sys.exit(main())
