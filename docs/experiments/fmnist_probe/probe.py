"""Linear probes of a frozen image encoder on Fashion-MNIST, pretrained vs random.

Does the encoder itself know anything useful about the images? A softmax
layer is trained on its frozen features of the images (the mean of the patch
tokens, and the whole token grid), for the pretrained encoder and for the
same architecture with random weights, next to the same probe on the raw
pixels. The epoch is selected on validation images; the test split is read
once per run.

    KERAS_BACKEND=jax python docs/experiments/fmnist_probe/probe.py \
        --pretrained presets/mae_tiny_fmnist --random mae-tiny-32 --seeds 1 2 3

Data: the first 5,000 training images after the 6,000 held out for
validation (as the apps' `--train-subset 5000` with their fixed validation
split), the 10,000 test images; 28x28 grayscale repeated to 3 channels,
resized to 32x32, scaled to [0, 1] (what `apps/pretrain_mae.py` trains on).
"""

import argparse
import json

import keras
import numpy as np

import dreamkeras
from dreamkeras.data.sources import load_fashion_mnist

VALIDATION = 6000
TRAIN = 5000


def arrays(dataset, take=None):
    images, labels = [], []
    for x, y in dataset.batch(1000).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    images, labels = np.concatenate(images), np.concatenate(labels)
    return (images, labels) if take is None else (images[:take], labels[:take])


def prepare(images):
    images = np.repeat(images.astype("float32") / 255.0, 3, axis=-1)
    return keras.ops.convert_to_numpy(keras.ops.image.resize(images, (32, 32)))


def encoder_features(encoder, images):
    """`(mean of the patch tokens, flattened token grid)` of frozen encoder."""
    tokens = []
    for start in range(0, len(images), 500):
        batch = keras.ops.convert_to_numpy(encoder(images[start : start + 500], training=False))
        tokens.append(batch[:, 1:])  # the class token dropped
    tokens = np.concatenate(tokens)
    return tokens.mean(axis=1), tokens.reshape(len(tokens), -1)


def standardise(train, *others):
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    return [(x - mean) / std for x in (train,) + others]


def probe(train, validation, test, labels, seed, epochs=30):
    """Best-validation-epoch test accuracy of a softmax layer on features."""
    keras.utils.set_random_seed(seed)
    train, validation, test = standardise(train, validation, test)
    model = keras.Sequential(
        [keras.Input(train.shape[1:]), keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    best = (-1.0, None)
    for _ in range(epochs):
        model.fit(train, labels[0], batch_size=64, epochs=1, verbose=0)
        val = model.evaluate(validation, labels[1], verbose=0)[1]
        if val > best[0]:
            best = (val, model.evaluate(test, labels[2], verbose=0)[1])
    return {"validation": best[0], "test": best[1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", required=True, help="MAE preset folder.")
    parser.add_argument("--random", default="mae-tiny-32", help="The same size, random weights.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--output", default="probe.json")
    args = parser.parse_args()

    data = load_fashion_mnist()
    images, labels = arrays(data.train)
    test_images, test_labels = arrays(data.eval)
    splits = (
        prepare(images[VALIDATION : VALIDATION + TRAIN]),
        prepare(images[:VALIDATION]),
        prepare(test_images),
    )
    targets = (labels[VALIDATION : VALIDATION + TRAIN], labels[:VALIDATION], test_labels)

    rows = {}
    pixels = [s.reshape(len(s), -1) for s in splits]
    for seed in args.seeds:
        rows.setdefault("pixels", []).append(probe(*pixels, targets, seed))
        for name, source in (("pretrained", args.pretrained), ("random", args.random)):
            keras.utils.set_random_seed(seed)  # the random encoder's weights
            encoder = dreamkeras.encoders.load_encoder(source)
            mean, grid = zip(*(encoder_features(encoder, s) for s in splits))
            rows.setdefault(f"{name}-mean", []).append(probe(*mean, targets, seed))
            rows.setdefault(f"{name}-grid", []).append(probe(*grid, targets, seed))
        print(seed, {k: round(v[-1]["test"], 4) for k, v in rows.items()}, flush=True)

    summary = {
        name: {
            "test_mean": float(np.mean([r["test"] for r in runs])),
            "test_std": float(np.std([r["test"] for r in runs], ddof=1)) if len(runs) > 1 else 0.0,
            "validation_mean": float(np.mean([r["validation"] for r in runs])),
            "runs": runs,
        }
        for name, runs in rows.items()
    }
    with open(args.output, "w", encoding="utf-8") as file:
        json.dump(summary, file, indent=2)
    print("| features | test accuracy, % (mean +- std) | validation, % |")
    print("|---|---|---|")
    for name, row in summary.items():
        print(
            f"| {name} | {100 * row['test_mean']:.1f} +- {100 * row['test_std']:.1f} "
            f"| {100 * row['validation_mean']:.1f} |"
        )


if __name__ == "__main__":
    main()
