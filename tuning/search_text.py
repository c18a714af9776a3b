"""Hyperparameter search over text SleepNet / DreamNet with KerasTuner.

Usage (the paper's chain ablation as a search, on your own texts):

    python tuning/search_text.py --dataset text_folder --data-dir texts/ \\
        --model sleepnet --encoder presets/my_roberta --search-space chain,blocks \\
        --values blocks=1,2,3 --max-trials 9 --epochs 3 --directory tuning_runs

Each trial trains like the text apps (the same flags). Rerunning the same
command resumes the search; --overwrite starts afresh. Run with --help for
every flag.
"""

import sys

from dreamkeras_cli.tool_commands import search_text_app


def main(argv=None, callbacks=None):
    """Runs the command; returns the exit status."""
    return search_text_app(argv, callbacks=callbacks, prog="tuning/search_text.py")


if __name__ == "__main__":
    sys.exit(main())
