"""Turns Debian `fortunes` category files into a class-per-subfolder text folder.

A small real corpus for `apps/text_folder.py` on a machine without network:
each category file of /usr/share/games/fortunes (entries separated by lines
holding only `%`) becomes a class; entries are shuffled with a fixed seed,
capped per class, and split into train/ and test/ folders of .txt files.

With `--random-preset DIR` it also writes a small RoBERTa preset with RANDOM
weights whose BPE vocabulary keeps the corpus' most frequent words whole
(`dreamkeras.text.testing`): no pretrained weights can be downloaded here.

Usage:

    python apps/tools/fortunes_to_folder.py --out /tmp/fortunes \
        --categories computers politics science work --random-preset /tmp/roberta_tiny
    python apps/text_folder.py --data-dir /tmp/fortunes --encoder /tmp/roberta_tiny
"""

import argparse
import collections
import os
import random
import re
import sys

FORTUNES = "/usr/share/games/fortunes"


def read_entries(path):
    """The entries of one fortune file (stripped, non-empty)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return [e.strip() for e in re.split(r"^%\s*$", text, flags=re.M) if e.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="Folder to write (must not exist).")
    parser.add_argument(
        "--categories", nargs="+", default=["computers", "politics", "science", "work"],
        help="Fortune category files (classes).",
    )
    parser.add_argument("--source", default=FORTUNES, help="Fortunes folder.")
    parser.add_argument("--max-per-class", type=int, default=600)
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--random-preset", default=None, metavar="DIR")
    parser.add_argument("--preset-words", type=int, default=300)
    parser.add_argument("--hidden-dim", type=int, default=32)
    parser.add_argument("--max-sequence-length", type=int, default=64)
    args = parser.parse_args(argv)

    if os.path.exists(args.out):
        sys.exit(f"error: {args.out} exists; pass a new folder.")
    rng = random.Random(args.seed)
    counts = collections.Counter()
    for category in args.categories:
        path = os.path.join(args.source, category)
        if not os.path.exists(path):
            sys.exit(f"error: no fortune file {path} (apt-get install fortunes).")
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
            if split == "train":
                for entry in part:
                    counts.update(re.findall(r"[A-Za-z']+", entry.lower()))

    if args.random_preset:
        from dreamkeras.text import testing

        words = [w for w, _ in counts.most_common(args.preset_words)]
        tokenizer, masked_lm = testing.tiny_roberta(
            words, hidden_dim=args.hidden_dim, intermediate_dim=2 * args.hidden_dim,
            max_sequence_length=args.max_sequence_length, seed=args.seed,
        )
        testing.save_tiny_preset(
            args.random_preset, tokenizer, masked_lm,
            sequence_length=args.max_sequence_length,
        )
        print(
            f"Wrote a RANDOM-weight RoBERTa preset ({tokenizer.vocabulary_size()} "
            f"tokens, hidden {args.hidden_dim}) to {args.random_preset}."
        )


if __name__ == "__main__":
    main()
