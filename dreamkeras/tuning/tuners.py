"""KerasTuner tuners that tell the hypermodel which trial runs and save their state atomically.

KerasTuner rewrites its state files (`oracle.json`, `tuner0.json`, each
`trial_*/trial.json`) in place; a search killed during such a write would
leave a truncated JSON file that stops every later run of the project.
These tuners and their oracles write the same files through a temporary
name and an atomic rename (`dreamkeras.utils.atomic`).
"""

import json
import os

import keras_tuner

from dreamkeras.utils import atomic
from dreamkeras_cli.config import TrainingSetupError

TUNERS = ("random", "bayesian", "hyperband")


def _write_state(path, state):
    atomic.write_text(
        path, json.dumps(state),
        advice="The search's earlier state is kept: free space and run the same command again.",
    )


class _AtomicOracleState:
    """Writes an oracle's state and its trials' state atomically."""

    def save(self):
        _write_state(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        trial_json = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        _write_state(trial_json, trial.get_state())


class _RandomSearchOracle(_AtomicOracleState, keras_tuner.oracles.RandomSearchOracle):
    pass


class _BayesianOptimizationOracle(
    _AtomicOracleState, keras_tuner.oracles.BayesianOptimizationOracle
):
    pass


class _HyperbandOracle(_AtomicOracleState, keras_tuner.oracles.HyperbandOracle):
    pass


class _TrialLogsMixin:
    """Tells the hypermodel which trial runs (for its per-trial logs); saves atomically."""

    def run_trial(self, trial, *args, **kwargs):
        begin = getattr(self.hypermodel, "begin_trial", None)
        if begin is not None:
            begin(trial.trial_id, self.get_trial_dir(trial.trial_id))
        return super().run_trial(trial, *args, **kwargs)

    def save(self):
        self.oracle.save()
        _write_state(self._get_tuner_fname(), self.get_state())


class RandomSearch(_TrialLogsMixin, keras_tuner.RandomSearch):
    """`keras_tuner.RandomSearch` with dreamkeras' per-trial logs.

    Example:

    ```python
    tuner = RandomSearch(hypermodel, objective="val_accuracy", max_trials=4)
    ```
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, seed=None, **kwargs):
        self.seed = seed
        oracle = _RandomSearchOracle(objective=objective, max_trials=max_trials, seed=seed)
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)


class BayesianOptimization(_TrialLogsMixin, keras_tuner.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with dreamkeras' per-trial logs.

    Example:

    ```python
    tuner = BayesianOptimization(hypermodel, objective="val_accuracy", max_trials=4)
    ```
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, seed=None, **kwargs):
        oracle = _BayesianOptimizationOracle(
            objective=objective, max_trials=max_trials, seed=seed
        )
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


class Hyperband(_TrialLogsMixin, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` with dreamkeras' per-trial logs.

    Example:

    ```python
    tuner = Hyperband(hypermodel, objective="val_accuracy", max_epochs=9)
    ```
    """

    def __init__(self, hypermodel=None, objective=None, max_epochs=100, factor=3, seed=None,
                 **kwargs):
        oracle = _HyperbandOracle(objective, max_epochs=max_epochs, factor=factor, seed=seed)
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


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
