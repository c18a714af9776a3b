"""KerasTuner tuners that tell the hypermodel which trial runs (for its logs)."""

import keras_tuner

from dreamkeras_cli.config import TrainingSetupError

TUNERS = ("random", "bayesian", "hyperband")


class _TrialLogsMixin:
    """Tells the hypermodel which trial runs (for its per-trial logs)."""

    def run_trial(self, trial, *args, **kwargs):
        begin = getattr(self.hypermodel, "begin_trial", None)
        if begin is not None:
            begin(trial.trial_id, self.get_trial_dir(trial.trial_id))
        return super().run_trial(trial, *args, **kwargs)


class RandomSearch(_TrialLogsMixin, keras_tuner.RandomSearch):
    """`keras_tuner.RandomSearch` with dreamkeras' per-trial logs.

    Example:

    ```python
    tuner = RandomSearch(hypermodel, objective="val_accuracy", max_trials=4)
    ```
    """


class BayesianOptimization(_TrialLogsMixin, keras_tuner.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with dreamkeras' per-trial logs.

    Example:

    ```python
    tuner = BayesianOptimization(hypermodel, objective="val_accuracy", max_trials=4)
    ```
    """


class Hyperband(_TrialLogsMixin, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` with dreamkeras' per-trial logs.

    Example:

    ```python
    tuner = Hyperband(hypermodel, objective="val_accuracy", max_epochs=9)
    ```
    """


def make_tuner(
    kind,
    hypermodel,
    directory,
    project_name,
    max_trials=10,
    executions_per_trial=1,
    max_epochs=2,
    objective="val_accuracy",
    overwrite=False,
    seed=None,
):
    """Returns a KerasTuner tuner of `kind` over `hypermodel`.

    Args:
        kind: `"random"`, `"bayesian"` or `"hyperband"`.
        hypermodel: a `keras_tuner.HyperModel` (e.g. `VisionHyperModel`).
        directory, project_name: str. The project folder.
        max_trials: int. Trials in all (random, bayesian); Hyperband's
            budget comes from `max_epochs` instead.
        executions_per_trial: int. Trainings averaged per trial.
        max_epochs: int. Hyperband's largest number of epochs per model.
        objective: str or `keras_tuner.Objective`. `"val_accuracy"` is
            maximised.
        overwrite: bool. Delete an existing project; otherwise reload it.
        seed: optional int. The oracle's seed.

    Returns:
        A `keras_tuner.Tuner`.

    Example:

    ```python
    tuner = dreamkeras.tuning.make_tuner(
        "random", hypermodel, "tuning_runs", "fmnist", max_trials=4
    )
    ```
    """
    if isinstance(objective, str):
        direction = "min" if "loss" in objective else "max"
        objective = keras_tuner.Objective(objective, direction)
    common = dict(
        objective=objective,
        executions_per_trial=executions_per_trial,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
        seed=seed,
    )
    if kind == "random":
        return RandomSearch(hypermodel, max_trials=max_trials, **common)
    if kind == "bayesian":
        return BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    if kind == "hyperband":
        return Hyperband(hypermodel, max_epochs=max_epochs, factor=3, **common)
    raise TrainingSetupError(f"--tuner must be one of {TUNERS}. Received: {kind!r}.")
