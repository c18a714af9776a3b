"""Builds the labelled Debian-description folder and the MLM pretraining corpus.

Source: `apt-cache dumpavail` (one-line `Description:` per package, `Section:`).
Labelled folder: OUT/labelled/{train,test}/<section>/<i>.txt, balanced,
fixed seed. Texts are de-duplicated; a text found under more than one of the
chosen sections is dropped (ambiguous label).
Pretraining corpus: OUT/corpus/*.txt, one description per paragraph: every
unique description of every package (all sections) EXCEPT the test texts.

    python docs/experiments/text_debian/make_data.py --out OUT/data
"""

import argparse
import collections
import os
import random
import subprocess

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--sections", nargs="+",
               default=["admin", "devel", "games", "net", "science", "utils"])
p.add_argument("--train-per-class", type=int, default=400)
p.add_argument("--test-per-class", type=int, default=150)
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True,
                      check=True).stdout
records = []
for block in dump.split("\n\n"):
    fields = {}
    for line in block.splitlines():
        if line[:1] in (" ", "\t") or ":" not in line:
            continue
        k, v = line.split(":", 1)
        fields.setdefault(k, v.strip())
    if "Description" in fields and "Section" in fields:
        section = fields["Section"].split("/")[-1]  # strip contrib/, non-free/
        records.append((section, fields["Description"]))

all_texts = sorted({d for _, d in records})
by_text = collections.defaultdict(set)
for s, d in records:
    by_text[d].add(s)
per_class = {s: sorted(d for d, ss in by_text.items() if ss == {s}) for s in args.sections}
rng = random.Random(args.seed)
need = args.train_per_class + args.test_per_class
test_texts = set()
os.makedirs(args.out)
for s in args.sections:
    texts = per_class[s]
    assert len(texts) >= need, (s, len(texts))
    rng.shuffle(texts)
    parts = {"test": texts[: args.test_per_class],
             "train": texts[args.test_per_class: need]}
    test_texts.update(parts["test"])
    for split, part in parts.items():
        folder = os.path.join(args.out, "labelled", split, s)
        os.makedirs(folder)
        for i, t in enumerate(part):
            with open(os.path.join(folder, f"{i:05d}.txt"), "w") as f:
                f.write(t + "\n")
    print(f"{s}: {len(texts)} unique unambiguous texts; {len(parts['train'])} train, "
          f"{len(parts['test'])} test")

corpus = [t for t in all_texts if t not in test_texts]
rng.shuffle(corpus)
os.makedirs(os.path.join(args.out, "corpus"))
chunk = 5000
for k in range(0, len(corpus), chunk):
    with open(os.path.join(args.out, "corpus", f"part{k // chunk:03d}.txt"), "w") as f:
        f.write("\n\n".join(corpus[k: k + chunk]) + "\n")
print(f"records {len(records)}, unique descriptions {len(all_texts)}, "
      f"pretraining corpus {len(corpus)} texts (test texts excluded: {len(test_texts)})")
