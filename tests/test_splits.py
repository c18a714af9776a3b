"""The validation split, and that no test example reaches training or model selection."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from dreamkeras import data as dk_data
from dreamkeras import training
from dreamkeras.training import splits
from dreamkeras_cli import commands
from tests.app_helpers import paths


def _toy(n_train=200, n_test=40, seed=0, duplicates=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n_train, 8, 8, 3), dtype=np.uint8)
    x[n_train - duplicates:] = x[:duplicates]  # the last images repeat the first
    y = rng.integers(0, 5, n_train)
    x_test = rng.integers(0, 256, (n_test, 8, 8, 3), dtype=np.uint8)
    return dk_data.from_arrays("toy", x, y, x_test, rng.integers(0, 5, n_test), num_classes=5)


def _keys(dataset):
    return sorted(image.tobytes() for image, _ in dataset.as_numpy_iterator())


def test_validation_is_carved_exactly_and_apart_from_training():
    data = _toy()
    carved = splits.with_validation(data, 0.1)
    train, validation = _keys(carved.train), _keys(carved.validation)
    assert (carved.train_size, carved.validation_size) == (180, 20)
    assert (len(train), len(validation)) == (180, 20)
    assert not set(train) & set(validation)
    assert sorted(train + validation) == _keys(data.train)
    assert carved.validation_split.startswith("exactly 10% of the training split")
    # The test split is untouched.
    assert _keys(carved.eval) == _keys(data.eval) and carved.eval_size == 40


def test_the_split_does_not_depend_on_the_order_of_the_examples():
    data = _toy()
    reference = _keys(splits.with_validation(data, 0.1).validation)
    # A source that reshuffles at every pass (tfds shuffle_files,
    # image_dataset_from_directory): the same examples validate every time.
    shuffled = dataclasses.replace(
        data, train=data.train.shuffle(200, seed=3, reshuffle_each_iteration=True)
    )
    carved = splits.with_validation(shuffled, 0.1)
    for _ in range(3):
        assert _keys(carved.validation) == reference
        assert not set(_keys(carved.train)) & set(reference)


def test_duplicates_stay_on_one_side_and_the_key_changes_the_split():
    carved = splits.with_validation(_toy(duplicates=30), 0.1)
    train, validation = _keys(carved.train), _keys(carved.validation)
    assert not set(train) & set(validation)
    assert len(train) + len(validation) == 200
    other = splits.with_validation(_toy(), 0.1, seed=7)
    assert _keys(other.validation) != _keys(splits.with_validation(_toy(), 0.1).validation)


def test_own_validation_split_none_and_errors():
    data = _toy()
    own = dataclasses.replace(
        data, validation=data.eval.take(5), validation_size=5, validation_split="val"
    )
    assert splits.with_validation(own, 0.1) is own
    none = splits.with_validation(data, 0.0)
    assert none.validation is None and none.train_size == 200
    with pytest.raises(dk_data.DataError, match="--validation-split"):
        splits.with_validation(_toy(n_train=5), 0.05)
    with pytest.raises(ValueError, match="fraction"):
        splits.with_validation(data, 1.0)


def test_a_large_or_unsized_split_is_estimated(monkeypatch):
    monkeypatch.setattr(splits, "EXACT_COUNT_LIMIT", 10)
    carved = splits.with_validation(_toy(n_train=400), 0.25)
    assert carved.validation_split.startswith("about 25%")
    assert (carved.train_size, carved.validation_size) == (300, 100)  # estimates
    train, validation = _keys(carved.train), _keys(carved.validation)
    assert not set(train) & set(validation) and len(train) + len(validation) == 400
    assert 60 <= len(validation) <= 140  # 25% in expectation
    unsized = dataclasses.replace(_toy(), train_size=None)
    carved = splits.with_validation(unsized, 0.1)
    assert carved.validation_size is None and carved.train_size is None


def test_subsets_apply_to_validation_and_test():
    carved = splits.with_validation(_toy(), 0.1).take(50, 7)
    assert (carved.train_size, carved.validation_size, carved.eval_size) == (50, 7, 7)
    assert len(_keys(carved.validation)) == 7


class _EndOfTraining(keras.callbacks.Callback):
    def __init__(self, phase):
        super().__init__()
        self.phase = phase

    def on_train_begin(self, logs=None):
        self.phase["now"] = "training"

    def on_train_end(self, logs=None):
        self.phase["now"] = "after training"


def test_no_test_example_reaches_training_or_selection(tmp_path, monkeypatch):
    """A run of the engine with a spy on the test split: it is read only after
    `fit` (the final and the best model's evaluation, the reload check), never
    while training or choosing the best epoch; validation comes from training
    data, and the dream pictures from validation images."""
    phase = {"now": "setup"}
    reads = []

    def spy(image, label):
        def record(label):
            reads.append(phase["now"])
            return label

        label = tf.py_function(record, [label], label.dtype)
        label.set_shape(())
        return image, label

    original = training.image_task.synthetic_dataset

    def spied(*args, **kwargs):
        data = original(*args, **kwargs)
        return dataclasses.replace(data, eval=data.eval.map(spy))

    monkeypatch.setattr(training.image_task, "synthetic_dataset", spied)
    config = commands.run_config(
        "cifar100", ["--fast-dev-run", "--model", "baseline", "--blocks", "1",
                     "--verbose", "0"] + paths(tmp_path),
    )
    report = training.train(config, callbacks=[_EndOfTraining(phase)])
    assert reads and set(reads) == {"after training"}
    assert report["history"]["val_accuracy"] and report["validation_examples"] == 10
    assert report["best_model_test_accuracy"] is not None
    assert report["train_examples"] + report["validation_examples"] == 96
