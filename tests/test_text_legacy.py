"""Text models saved by earlier versions still load, with the same predictions.

`tests/data/legacy_text_*.keras` were written by dreamkeras at commit 49f8319
(before the text chains were rebuilt on `wire_connections`) with
`tests/data/make_legacy_text.py`: a tiny random RoBERTa, two fit steps, then
`model.save`. Their inputs and predictions are in
`tests/data/legacy_text_predictions.npz`. Loading must rebuild the same graph
(registered class names, layer classes and names that the stored weights
reference) on every backend.
"""

import os

import keras
import numpy as np
import pytest

import dreamkeras

pytestmark = pytest.mark.saving
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CLASSES = {
    "sleepnet": dreamkeras.models.TextSleepNet,
    "dreamnet": dreamkeras.models.TextDreamNet,
    "lstm": dreamkeras.models.LSTMClassifier,
    "textcnn": dreamkeras.models.TextCNNClassifier,
}


@pytest.fixture(scope="module")
def saved():
    return dict(np.load(os.path.join(DATA, "legacy_text_predictions.npz")))


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_legacy_text_model_loads_with_the_same_predictions(kind, saved):
    model = keras.saving.load_model(os.path.join(DATA, f"legacy_text_{kind}.keras"))
    assert type(model) is CLASSES[kind]
    x = {"token_ids": saved["token_ids"], "padding_mask": saved["padding_mask"]}
    assert (x["padding_mask"] == 0).any()  # padded rows are part of the check
    np.testing.assert_allclose(model.predict(x, verbose=0), saved[kind], atol=1e-5)
    frozen = getattr(model, "backbone", None) or getattr(model, "masked_lm", None)
    if frozen is not None:  # still frozen after loading
        frozen_ids = {id(w) for w in frozen.weights}
        assert frozen_ids
        assert not any(id(w) in frozen_ids for w in model.trainable_weights)
    if kind == "dreamnet":
        dreams = model.dream_model().predict(x, verbose=0)
        for m, dream in enumerate(dreams):
            np.testing.assert_array_equal(dream, saved[f"dreamnet_dream_{m + 1}"])
