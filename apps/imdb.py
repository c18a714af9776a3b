"""IMDB movie reviews (tfds imdb_reviews, 2 classes): text DreamNet / SleepNet on a frozen RoBERTa, or the LSTM / TextCNN baselines.

Usage:

    python apps/imdb.py --backend jax --encoder <local RoBERTa preset folder> --max-length 256
    python apps/imdb.py --fast-dev-run        # smoke test, not a real run

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("imdb", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
