"""AG News (tfds ag_news_subset, 4 topics): text DreamNet-3 on a frozen RoBERTa (roberta_base_en) with its masked-LM head, LSTM chain, Adam, texts tokenised by the preset's own tokenizer.

Usage:

    python apps/ag_news.py --backend jax --encoder <local RoBERTa preset folder>
    python apps/ag_news.py --model lstm --encoder <preset>   # the LSTM baseline
    python apps/ag_news.py --fast-dev-run        # smoke test, not a real run

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import training_app


def main(argv=None, callbacks=None):
    """Runs the app; returns the exit status."""
    return training_app("ag_news", argv, callbacks=callbacks, prog="apps/ag_news.py")


if __name__ == "__main__":
    sys.exit(main())
