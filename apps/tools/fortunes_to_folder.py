"""Turns Debian `fortunes` category files into a class-per-subfolder text folder.

A small real corpus for `apps/text_folder.py` on a machine without network:
each category file of /usr/share/games/fortunes (entries separated by lines
holding only `%`) becomes a class; entries are shuffled with a fixed seed,
capped per class, and split into train/ and test/ folders of .txt files.
With `--random-preset DIR` it also writes a small RoBERTa preset with RANDOM
weights whose vocabulary keeps the corpus' frequent words whole, with their
case (`dreamkeras text-preset`).

Usage:

    python apps/tools/fortunes_to_folder.py --out /tmp/fortunes \
        --categories computers politics science work --random-preset /tmp/roberta_tiny
    python apps/text_folder.py --data-dir /tmp/fortunes --encoder /tmp/roberta_tiny
"""

import os
import random
import re
import sys

from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.flags import build_parser
from dreamkeras_cli.runner import run_guarded
from dreamkeras_cli.runner import start_backend
from dreamkeras_cli.tool_commands import build_text_preset


def read_entries(path):
    """The entries of one fortune file (stripped, non-empty)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return [e.strip() for e in re.split(r"^%\s*$", text, flags=re.M) if e.strip()]


def write_corpus(args):
    """Writes OUT/{train,test}/<category>/<i>.txt; prints the counts."""
    if os.path.exists(args.out):
        raise TrainingSetupError(f"--out {args.out} exists; pass a new folder.")
    paths = [os.path.join(args.source, category) for category in args.categories]
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise TrainingSetupError(f"No fortune file {missing[0]} (apt-get install fortunes).")
    if not 0 <= args.test_share < 1:
        raise TrainingSetupError(f"--test-share must be in [0, 1), got {args.test_share}.")
    rng = random.Random(args.seed)
    for category, path in zip(args.categories, paths):
        entries = read_entries(path)
        rng.shuffle(entries)
        entries = entries[: args.max_per_class]
        num_test = int(round(len(entries) * args.test_share))
        for split, part in (("test", entries[:num_test]), ("train", entries[num_test:])):
            folder = os.path.join(args.out, split, category)
            os.makedirs(folder)
            for i, entry in enumerate(part):
                with open(os.path.join(folder, f"{i:05d}.txt"), "w") as f:
                    f.write(entry + "\n")
            print(f"{category}: {len(part)} {split}")


def main(argv=None):
    """Runs the tool; returns the exit status."""
    parser = build_parser(
        "fortunes", prog="apps/tools/fortunes_to_folder.py", description=__doc__.split("\n\n")[0]
    )

    def run():
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        if not args.out:
            raise TrainingSetupError("--out DIR is required.")
        preset = args.random_preset and os.path.abspath(args.random_preset)
        if preset and os.path.exists(preset):
            raise TrainingSetupError(f"--random-preset {preset} exists; pass a new folder.")
        if args.hidden_dim % args.num_heads:
            raise TrainingSetupError(
                f"--num-heads {args.num_heads} must divide --hidden-dim {args.hidden_dim}."
            )
        write_corpus(args)
        if preset:
            start_backend(args, "python apps/tools/fortunes_to_folder.py")
            build_text_preset(args, os.path.join(os.path.abspath(args.out), "train"), preset)

    return run_guarded(run)


if __name__ == "__main__":
    sys.exit(main())
