"""Builds a small RANDOM-weight RoBERTa preset from any folder of .txt files.

The byte-level BPE vocabulary keeps the corpus' most frequent words whole,
with their case (RoBERTa's tokenizer is case-sensitive). The text apps load
the folder with --encoder; its weights are random, so it measures
architectures and pipelines, never the benefit of pretraining.

Usage:

    python apps/tools/text_preset.py --corpus ~/data/reviews --output presets/reviews_tiny
    python apps/text_folder.py --data-dir ~/data/reviews --encoder presets/reviews_tiny

Run with --help for every flag.
"""

import sys

from dreamkeras_cli.tool_commands import text_preset_app


def main(argv=None):
    """Runs the command; returns the exit status."""
    return text_preset_app(argv, prog="apps/tools/text_preset.py")


if __name__ == "__main__":
    sys.exit(main())
