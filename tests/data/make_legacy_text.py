"""Writes `tests/data/legacy_text_*.keras` and their inputs and predictions.

Run once, at commit 49f8319 (before the text chains were rebuilt on
`wire_connections`), from the repository root:

    KERAS_BACKEND=jax python tests/data/make_legacy_text.py

`tests/test_text_legacy.py` checks that later versions still load the files
with the same predictions. Rerunning it with a newer version would only test
that version against itself.
"""

import os
import sys
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

from dreamkeras.models import LSTMClassifier  # noqa: E402
from dreamkeras.models import TextCNNClassifier  # noqa: E402
from dreamkeras.models import TextDreamNet  # noqa: E402
from dreamkeras.models import TextSleepNet  # noqa: E402
from dreamkeras.text.testing import tiny_roberta  # noqa: E402

WORDS = (
    "the cat sat on mat a dog ran in park stock market rose fell news "
    "team won game rain fell today"
).split()
TEXTS = [
    "the cat sat on the mat",
    "stock market rose today",
    "the team won the game in the rain and the dog ran in the park",
    "",
]


def main():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer, masked_lm = tiny_roberta(WORDS, max_sequence_length=16, seed=3)
    vocabulary = masked_lm.backbone.vocabulary_size
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor(
        tokenizer, sequence_length=12
    )
    x = {
        k: keras.ops.convert_to_numpy(v).astype("int32")
        for k, v in preprocessor(TEXTS).items()
    }
    y = np.array([0, 1, 2, 1])
    models = {
        "sleepnet": TextSleepNet(
            masked_lm.backbone, 3, num_blocks=2, width=8, block_depth=2
        ),
        "dreamnet": TextDreamNet(masked_lm, 3, num_blocks=2, width=8),
        "lstm": LSTMClassifier(vocabulary, 3, num_layers=2, width=8, embedding_dim=8),
        "textcnn": TextCNNClassifier(
            vocabulary, 3, embedding_dim=8, filter_sizes=(2, 3), num_filters=4
        ),
    }
    arrays = dict(x)
    for name, model in models.items():
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, verbose=0)
        arrays[name] = model.predict(x, verbose=0)
        if name == "dreamnet":
            for m, dream in enumerate(model.dream_model().predict(x, verbose=0)):
                arrays[f"dreamnet_dream_{m + 1}"] = dream
        model.save(os.path.join(HERE, f"legacy_text_{name}.keras"))
    np.savez(os.path.join(HERE, "legacy_text_predictions.npz"), **arrays)


if __name__ == "__main__":
    main()
