"""In-process A/B of `dreamkeras.torch_export` on a text network (torch backend).

TextSleepNet-3 (LSTM chain, width 128) on a small random RoBERTa (4 layers, hidden 256,
4 heads, vocabulary 8,000), batch 8, sequences of 64 tokens, float32: median milliseconds
per inference call (no gradient) and per `train_on_batch`, the switch flipped between
blocks of 15 steps, three rounds. Random weights: the speed does not depend on them.

    KERAS_BACKEND=torch python docs/experiments/torch_export/text_ab.py
"""

import os
import time

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import dreamkeras  # noqa: E402
from dreamkeras import torch_export  # noqa: E402

BATCH, LENGTH, CLASSES = 8, 64, 4


def median_ms(step, repeats=15):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main():
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=8000, num_layers=4, num_heads=4, hidden_dim=256,
        intermediate_dim=1024, max_sequence_length=LENGTH,
    )
    model = dreamkeras.TextSleepNet(backbone, num_classes=CLASSES, num_blocks=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    inputs = {
        "token_ids": rng.integers(3, 8000, (BATCH, LENGTH)).astype("int32"),
        "padding_mask": np.ones((BATCH, LENGTH), "int32"),
    }
    labels = rng.integers(0, CLASSES, BATCH)
    tensors = {name: torch.as_tensor(value) for name, value in inputs.items()}

    def infer():
        with torch.no_grad():
            model(tensors, training=False)

    def train():
        model.train_on_batch(inputs, labels)

    for on in (False, True):  # warm-up, and the exports
        torch_export.enable(on)
        for _ in range(2):
            infer()
            train()
    for _ in range(3):
        for on in (False, True):
            torch_export.enable(on)
            print(
                f"torch_export={on}: inference {median_ms(infer):.0f} ms, "
                f"train {median_ms(train):.0f} ms",
                flush=True,
            )
    print("torch threads:", torch.get_num_threads())


if __name__ == "__main__":
    main()
