"""AG News (tfds ag_news_subset, 4 topics): text DreamNet-3 on a frozen RoBERTa (roberta_base_en) with its masked-LM head, LSTM chain, Adam, texts tokenised by the preset's own tokenizer.

Usage:

    python apps/ag_news.py --backend jax --encoder <local RoBERTa preset folder>
    python apps/ag_news.py --model lstm --encoder <preset>   # the LSTM baseline
    python apps/ag_news.py --fast-dev-run        # smoke test, not a real run

Run with --help for every flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import launch  # noqa: E402  (sets KERAS_BACKEND first)


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return launch("ag_news", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
