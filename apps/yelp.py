"""Yelp reviews: polarity (tfds yelp_polarity_reviews, 2 classes), or Yelp-5 (5 star ratings) from the yelp_review_full_csv files or a class-per-folder text folder with --yelp5 DIR.

Usage:

    python apps/yelp.py --encoder <local RoBERTa preset folder>
    python apps/yelp.py --yelp5 ~/data/yelp_review_full_csv --encoder <preset>
    python apps/yelp.py --fast-dev-run        # smoke test, not a real run

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("yelp", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
