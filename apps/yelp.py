"""Yelp reviews: polarity (tfds yelp_polarity_reviews, 2 classes), or Yelp-5 (5 star ratings) from the yelp_review_full_csv files or a class-per-folder text folder with --yelp5 DIR.

Usage:

    python apps/yelp.py --encoder <local RoBERTa preset folder>
    python apps/yelp.py --yelp5 ~/data/yelp_review_full_csv --encoder <preset>
    python apps/yelp.py --fast-dev-run        # smoke test, not a real run

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("yelp", argv, callbacks=callbacks, prog="apps/yelp.py")


if __name__ == "__main__":
    sys.exit(main())
