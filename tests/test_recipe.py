"""The training recipe: schedules (against hand computations), AdamW, label smoothing, flags."""

import math

import keras
import numpy as np
import pytest

from dreamkeras.training.compile import NO_DECAY
from dreamkeras.training.compile import SparseCategoricalCrossentropyWithSmoothing
from dreamkeras.training.compile import adam
from dreamkeras.training.compile import compile_classifier
from dreamkeras.training.compile import steps_per_epoch_of
from dreamkeras.training.schedules import WarmupSchedule
from dreamkeras.training.schedules import learning_rate_schedule
from dreamkeras_cli import commands
from dreamkeras_cli.config import Optimizer
from dreamkeras_cli.config import Schedule
from dreamkeras_cli.config import TrainingSetupError


def _lr(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def _check(schedule, expected):
    for step, value in expected.items():
        np.testing.assert_allclose(_lr(schedule, step), value, rtol=1e-6, atol=1e-12,
                                   err_msg=f"step {step}")


def test_constant():
    _check(WarmupSchedule(0.01, 100, 0, "constant"), {0: 0.01, 50: 0.01, 99: 0.01, 500: 0.01})


def test_warmup_then_constant_the_references_schedule():
    # 10 warm-up steps: (s + 1) / 10 of the rate, then the rate.
    _check(
        WarmupSchedule(0.01, 100, 10, "constant"),
        {0: 0.001, 4: 0.005, 9: 0.01, 10: 0.01, 99: 0.01},
    )


def test_cosine():
    # 0.01 * (1 + cos(pi * s / 100)) / 2.
    _check(
        WarmupSchedule(0.01, 100, 0, "cosine"),
        {
            0: 0.01,
            25: 0.01 * (1 + math.cos(math.pi / 4)) / 2,  # 0.0085355...
            50: 0.005,
            75: 0.01 * (1 + math.cos(3 * math.pi / 4)) / 2,  # 0.0014644...
            100: 0.0,
            150: 0.0,  # past the end: stays at the floor
        },
    )


def test_warmup_then_cosine():
    # 10 warm-up steps, then a cosine over the other 100.
    _check(
        WarmupSchedule(0.01, 110, 10, "cosine"),
        {0: 0.001, 9: 0.01, 10: 0.01, 35: 0.01 * (1 + math.cos(math.pi / 4)) / 2,
         60: 0.005, 110: 0.0},
    )
    # A floor of 10%: 0.001 + 0.009 * (1 + cos(pi / 2)) / 2 in the middle.
    _check(
        WarmupSchedule(0.01, 110, 10, "cosine", final_fraction=0.1),
        {60: 0.001 + 0.009 * 0.5, 110: 0.001},
    )


def test_step():
    # Times 0.1 every 30 steps, counted from step 0.
    _check(
        WarmupSchedule(0.01, 100, 0, "step", step_size=30, step_factor=0.1),
        {0: 0.01, 29: 0.01, 30: 0.001, 59: 0.001, 60: 1e-4, 99: 1e-5},
    )
    # With a 5-step warm-up in front: 3/5 of the rate at step 2.
    _check(
        WarmupSchedule(0.01, 100, 5, "step", step_size=30, step_factor=0.5),
        {2: 0.006, 5: 0.01, 30: 0.005, 60: 0.0025},
    )


def test_bad_schedules():
    with pytest.raises(ValueError, match="decay"):
        WarmupSchedule(0.01, 100, 0, "linear")
    with pytest.raises(ValueError, match="step_size"):
        WarmupSchedule(0.01, 100, 0, "step")
    with pytest.raises(ValueError, match="total_steps"):
        WarmupSchedule(0.01, 0)


def test_schedule_of_the_run_settings():
    # --warmup-epochs unset: 10% of 30 epochs = 300 of 3000 steps.
    schedule = learning_rate_schedule(Optimizer(lr=0.005), epochs=30, steps_per_epoch=100)
    assert (schedule.warmup_steps, schedule.total_steps, schedule.decay) == (300, 3000, "cosine")
    _check(schedule, {0: 0.005 / 300, 299: 0.005, 1650: 0.0025, 3000: 0.0})
    step = learning_rate_schedule(
        Optimizer(lr=0.01, lr_schedule="step", lr_step_epochs=10, lr_step_factor=0.5,
                  warmup_epochs=0),
        epochs=30, steps_per_epoch=100,
    )
    _check(step, {0: 0.01, 999: 0.01, 1000: 0.005, 2000: 0.0025})
    # A warm-up as long as the run is cut one step short of it.
    short = learning_rate_schedule(Optimizer(warmup_epochs=2.0), epochs=2, steps_per_epoch=3)
    assert short.warmup_steps == 5


def test_schedule_saves_with_the_optimizer_and_drives_it():
    schedule = WarmupSchedule(0.01, 10, 2, "cosine")
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(
        keras.optimizers.Adam(learning_rate=schedule)
    ))
    assert isinstance(restored._learning_rate, WarmupSchedule)
    assert restored._learning_rate.get_config() == schedule.get_config()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
    model.fit(np.zeros((12, 3)), np.zeros((12, 2)), batch_size=4, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 3
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), _lr(schedule, 3),
        rtol=1e-6,
    )


def test_adamw_decays_kernels_not_biases_or_norms():
    plain = adam(Optimizer(lr=0.1))
    assert type(plain) is keras.optimizers.Adam
    # Zero gradients: Adam's update is 0, so only the decay moves a weight:
    # kernel * (1 - lr * weight_decay); biases and norm weights stay.
    model = keras.Sequential([
        keras.Input((2,)), keras.layers.Dense(2, bias_initializer="ones"),
        keras.layers.BatchNormalization(),
    ])
    optimizer = adam(Optimizer(lr=0.1, weight_decay=0.5, warmup_epochs=0))
    assert isinstance(optimizer, keras.optimizers.AdamW) and set(NO_DECAY) >= {"bias"}
    model.compile(optimizer=optimizer, loss=lambda y, p: 0.0 * keras.ops.sum(p))
    dense, norm = model.layers
    kernel = np.array(dense.kernel)
    model.fit(np.ones((4, 2)), np.zeros((4, 2)), batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(np.array(dense.kernel), kernel * (1 - 0.1 * 0.5), rtol=1e-6)
    np.testing.assert_allclose(np.array(dense.bias), 1.0)
    np.testing.assert_allclose(np.array(norm.gamma), 1.0)


def test_label_smoothing_of_integer_labels_by_hand():
    loss = SparseCategoricalCrossentropyWithSmoothing(4, label_smoothing=0.2)
    probabilities = np.array([[0.7, 0.1, 0.1, 0.1]], "float32")
    # Target: 0.8 on the label plus 0.2 / 4 on every class.
    expected = -(0.85 * math.log(0.7) + 3 * 0.05 * math.log(0.1))
    np.testing.assert_allclose(float(loss(np.array([0]), probabilities)), expected, rtol=1e-5)
    again = SparseCategoricalCrossentropyWithSmoothing.from_config(loss.get_config())
    assert (again.num_classes, again.label_smoothing) == (4, 0.2)


def test_compile_classifier_follows_the_recipe():
    def model():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(6, activation="softmax")])

    smoothed = Optimizer(label_smoothing=0.1, lr_schedule="step", lr_step_epochs=1)
    one_hot = compile_classifier(model(), smoothed, 6, epochs=3, steps_per_epoch=10)
    assert one_hot.loss.get_config()["label_smoothing"] == 0.1
    schedule = one_hot.optimizer._learning_rate
    assert isinstance(schedule, WarmupSchedule)
    assert (schedule.decay, schedule.total_steps, schedule.step_size) == ("step", 30, 10)
    sparse = compile_classifier(model(), smoothed, 6, sparse=True)
    assert isinstance(sparse.loss, SparseCategoricalCrossentropyWithSmoothing)
    # Without the run's length the rate is constant.
    assert not isinstance(sparse.optimizer._learning_rate, WarmupSchedule)
    np.testing.assert_allclose(float(sparse.optimizer.learning_rate), 0.005)
    assert steps_per_epoch_of(Schedule(batch_size=64), 45000) == 703
    assert steps_per_epoch_of(Schedule(steps_per_epoch=7), 45000) == 7
    assert steps_per_epoch_of(Schedule(), None) is None


def test_the_papers_defaults_stay_the_defaults():
    config = commands.run_config("cifar100")
    optimizer, schedule, augment = config.optimizer, config.schedule, config.augment
    # The paper: 30 epochs of Adam, lr 0.005, betas 0.9 / 0.999, eps 1e-5, RandAugment + MixUp.
    assert (optimizer.lr, optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (
        0.005, 0.9, 0.999, 1e-5
    )
    assert schedule.epochs == 30 and augment.randaugment and augment.mixup_alpha > 0
    assert optimizer.weight_decay == 0.0 and optimizer.label_smoothing == 0.0
    # Ours where the paper says nothing (docs/recipe.md says why).
    assert optimizer.lr_schedule == "cosine" and optimizer.warmup_epochs is None
    assert schedule.validation_split == 0.1 and schedule.patience is None
    assert config.hardware.mixed_precision == "auto"
    assert config.model.architecture == "ours" and config.model.mask_ratio == 0.0


def test_recipe_flags_reach_the_config():
    config = commands.run_config("cifar100", [
        "--lr-schedule", "step", "--lr-step-epochs", "5", "--lr-step-factor", "0.5",
        "--warmup-epochs", "2", "--label-smoothing", "0.1", "--weight-decay", "0.05",
        "--validation-split", "0.2", "--patience", "3",
    ])
    assert config.optimizer == Optimizer(
        lr=0.005, weight_decay=0.05, warmup_epochs=2.0, lr_schedule="step",
        lr_step_epochs=5.0, lr_step_factor=0.5, label_smoothing=0.1,
    )
    assert (config.schedule.validation_split, config.schedule.patience) == (0.2, 3)
    text = commands.run_config("ag_news", ["--label-smoothing", "0.1", "--lr-schedule", "constant"])
    assert text.optimizer.label_smoothing == 0.1 and text.optimizer.lr_schedule == "constant"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--label-smoothing", "1"], "--label-smoothing"),
        (["--warmup-epochs", "30"], "shorter than --epochs"),
        (["--warmup-epochs", "-1"], "--warmup-epochs"),
        (["--lr-step-factor", "2"], "--lr-step-factor"),
        (["--validation-split", "1"], "--validation-split"),
        (["--patience", "0"], "--patience"),
        (["--patience", "2", "--validation-split", "0"], "needs --validation-split"),
        (["--architecture", "reference", "--model", "baseline"], "--architecture reference"),
    ],
)
def test_bad_recipe_flags_are_one_line_errors(argv, message):
    with pytest.raises(TrainingSetupError, match=message):
        commands.run_config("cifar100", argv)
