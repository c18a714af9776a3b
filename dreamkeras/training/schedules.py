"""Learning-rate schedules of the classifier apps: warm-up, then constant, cosine or step.

`--lr-schedule` names the decay and `--warmup-epochs` the linear warm-up in
front of it, so the four usual recipes are one flag each:

| recipe | flags |
| --- | --- |
| constant (the paper states no schedule) | `--lr-schedule constant --warmup-epochs 0` |
| the reference's: warm-up over 10% of the epochs, then constant | `--lr-schedule constant` |
| cosine | `--lr-schedule cosine --warmup-epochs 0` |
| warm-up + cosine (our default) | `--lr-schedule cosine` |
| step | `--lr-schedule step --lr-step-epochs 10 --lr-step-factor 0.1` |

All are one serialisable `WarmupSchedule`, so a saved model's optimizer
reloads with its schedule and a resumed run (whose optimizer step count is
restored) continues on the same curve.
"""

import math

import keras
from keras import ops

DECAYS = ("constant", "cosine", "step")
# `--warmup-epochs` left out: this share of `--epochs` (the reference's rule).
DEFAULT_WARMUP_SHARE = 0.1


@keras.saving.register_keras_serializable(package="dreamkeras")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up followed by a constant, cosine or step decay.

    With `s` the optimizer step (0 for the first update), `W` the warm-up
    steps and `T` the total steps:

    - warm-up, `s < W`: `learning_rate * (s + 1) / W` (the first update
      already moves, the last warm-up step reaches `learning_rate`);
    - `"constant"`: `learning_rate`;
    - `"cosine"`: `learning_rate * (f + (1 - f) * (1 + cos(pi * p)) / 2)`
      with `p = min((s - W) / (T - W), 1)` and `f = final_fraction`;
    - `"step"`: `learning_rate * step_factor ** floor(s / step_size)`: the
      rate is multiplied by `step_factor` every `step_size` steps, counted
      from the start of training (warm-up included).

    Args:
        learning_rate: float. The peak rate.
        total_steps: int. Steps of the whole run (the cosine's end).
        warmup_steps: int. Steps of the linear warm-up; `0` for none.
        decay: `"constant"`, `"cosine"` or `"step"`.
        step_size: int. Steps between two step decays (`"step"` only).
        step_factor: float. Multiplier of each step decay.
        final_fraction: float. The cosine's last value, as a share of
            `learning_rate`.

    Example:

    ```python
    schedule = dreamkeras.training.WarmupSchedule(
        0.005, total_steps=3000, warmup_steps=300, decay="cosine"
    )
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    float(schedule(299))  # 0.005
    ```
    """

    def __init__(
        self,
        learning_rate,
        total_steps,
        warmup_steps=0,
        decay="cosine",
        step_size=None,
        step_factor=0.1,
        final_fraction=0.0,
    ):
        if decay not in DECAYS:
            raise ValueError(f"`decay` must be one of {DECAYS}. Received: decay={decay!r}.")
        if learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be positive. Received: {learning_rate}.")
        if total_steps < 1 or warmup_steps < 0:
            raise ValueError(
                "`total_steps` must be at least 1 and `warmup_steps` at least 0. "
                f"Received: total_steps={total_steps}, warmup_steps={warmup_steps}."
            )
        if decay == "step" and (step_size is None or step_size < 1):
            raise ValueError(
                f"`decay='step'` needs `step_size` >= 1. Received: step_size={step_size}."
            )
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay
        self.step_size = None if step_size is None else int(step_size)
        self.step_factor = float(step_factor)
        self.final_fraction = float(final_fraction)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        base = self.learning_rate
        if self.decay == "constant":
            after = ops.full_like(step, base)
        elif self.decay == "cosine":
            span = float(max(self.total_steps - self.warmup_steps, 1))
            progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
            after = base * (self.final_fraction + (1.0 - self.final_fraction) * cosine)
        else:
            drops = ops.floor(step / float(self.step_size))
            after = base * ops.power(self.step_factor, drops)
        if not self.warmup_steps:
            return after
        warm = base * (step + 1.0) / float(self.warmup_steps)
        return ops.where(step < self.warmup_steps, warm, after)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
            "step_size": self.step_size,
            "step_factor": self.step_factor,
            "final_fraction": self.final_fraction,
        }


def warmup_epochs_of(optimizer, epochs):
    """`--warmup-epochs`, or 10% of `epochs` (the reference's rule) when unset.

    Example:

    ```python
    warmup_epochs_of(config.optimizer, 30)  # 3.0 by default
    ```
    """
    if optimizer.warmup_epochs is None:
        return DEFAULT_WARMUP_SHARE * epochs
    return float(optimizer.warmup_epochs)


def learning_rate_schedule(optimizer, epochs, steps_per_epoch):
    """The `WarmupSchedule` of a run's `Optimizer` settings.

    Args:
        optimizer: `dreamkeras_cli.config.Optimizer` (`lr`, `lr_schedule`,
            `warmup_epochs`, `lr_step_epochs`, `lr_step_factor`).
        epochs: int. Epochs of the run.
        steps_per_epoch: int. Optimizer steps per epoch.

    Returns:
        A `WarmupSchedule`.

    Example:

    ```python
    schedule = learning_rate_schedule(config.optimizer, 30, 781)
    ```
    """
    steps_per_epoch = max(int(steps_per_epoch), 1)
    total = max(int(epochs) * steps_per_epoch, 1)
    warmup = int(round(warmup_epochs_of(optimizer, epochs) * steps_per_epoch))
    # A warm-up as long as the run would never reach the peak rate.
    warmup = min(warmup, total - 1)
    step_size = None
    if optimizer.lr_schedule == "step":
        step_size = max(int(round(optimizer.lr_step_epochs * steps_per_epoch)), 1)
    return WarmupSchedule(
        optimizer.lr, total_steps=total, warmup_steps=warmup,
        decay=optimizer.lr_schedule, step_size=step_size,
        step_factor=optimizer.lr_step_factor,
    )
