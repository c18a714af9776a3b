"""Masked-LM pretraining of a small RoBERTa on a folder of .txt files; writes a text preset.

The byte-level BPE vocabulary is built from the corpus (its most frequent
words kept whole), a share of the texts is held out, and the preset folder
is what the text apps load as their frozen encoder: pass it as `--encoder`.

Usage:

    python apps/pretrain_mlm.py --corpus ~/texts --output presets/my_roberta --epochs 10
    python apps/text_folder.py --data-dir ~/labelled --encoder presets/my_roberta --model sleepnet
    python apps/pretrain_mlm.py --fast-dev-run   # smoke test, not a real run

Run with --help for every flag (docs/text.md explains them).
"""

import sys

from dreamkeras_cli.commands import pretrain_mlm_app


def main(argv=None, callbacks=None):
    """Runs the command; returns the exit status."""
    return pretrain_mlm_app(argv, callbacks=callbacks, prog="apps/pretrain_mlm.py")


if __name__ == "__main__":
    sys.exit(main())
