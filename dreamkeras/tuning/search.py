"""The hyperparameter search behind `tuning/search.py` (`dreamkeras search`).

A search is a KerasTuner project folder (`--directory/--project-name`).
Rerunning the same command reloads it and continues (KerasTuner reloads the
oracle; a trial killed mid-way is run again); `--overwrite` starts afresh.
At the end the best trials are written as a markdown table and JSON, and
the best trial's model (its best epoch) is evaluated on the held-out split
and saved as `.keras` in the project folder. A lock next to the project
folder (`PROJECT.lock`) refuses a second live search of the same project;
every file is written atomically (`dreamkeras.utils.atomic`), KerasTuner's
state files included (`dreamkeras.tuning.tuners`).
"""

import dataclasses
import datetime
import json
import os

import keras
import keras_tuner

from dreamkeras.training.report import line
from dreamkeras.training.splits import with_validation
from dreamkeras.training.report import write_json
from dreamkeras.tuning import results
from dreamkeras.tuning.hypermodels import VisionHyperModel
from dreamkeras.tuning.tuners import make_tuner
from dreamkeras.utils import atomic
from dreamkeras.utils.run_lock import RunLock
from dreamkeras_cli.config import TrainingSetupError

SEARCH_CONFIG = "search_config.json"
_WRITE_ADVICE = (
    "The finished trials are kept in the project: free space and run the same command "
    "again (or with --report-only) to write the results."
)


def split_validation(data, fraction):
    """The trials' data: validation (its own, or carved from training) as `eval`.

    The validation part is the one the training apps use
    (`dreamkeras.training.splits.with_validation`: the dataset's own
    validation split, else `fraction` of the training split chosen by a
    fixed content hash), so a trial's objective and an app's best epoch
    are measured on the same examples; the test split never takes part.

    Args:
        data: `dreamkeras.data.ImageDataset`.
        fraction: float in (0, 1).

    Returns:
        `(search_data, test_data)`: an `ImageDataset` whose `eval` split is
        the validation part, and the original one (whose `eval` is the test
        split).

    Example:

    ```python
    search_data, test_data = split_validation(data, 0.1)
    ```
    """
    carved = with_validation(data, fraction)
    if carved.validation is None:
        raise TrainingSetupError(
            "The search validates its trials on a validation split: pass "
            "--validation-split above 0."
        )
    search_data = dataclasses.replace(
        carved,
        eval=carved.validation,
        eval_size=carved.validation_size,
        eval_split=carved.validation_split,
        validation=None,
        validation_size=None,
        validation_split=None,
    )
    return search_data, data


def _project_record(search):
    """What identifies a search: a rerun with other values is refused."""
    run = search.run
    return {
        "dataset": run.data.dataset,
        "data_dir": run.data.data_dir,
        "model": dataclasses.asdict(run.model),
        "tuner": search.tuner,
        "search_space": list(search.search_space),
        "values": {k: list(v) for k, v in search.values.items()},
        "schedule": dataclasses.asdict(run.schedule),
        "optimizer": dataclasses.asdict(run.optimizer),
        "augment": dataclasses.asdict(run.augment),
        "validation_split": search.validation_split,
        "executions_per_trial": search.executions_per_trial,
    }


def _check_project(path, record, overwrite):
    """Refuses to resume a project that another command created."""
    stored_path = os.path.join(path, SEARCH_CONFIG)
    if overwrite or not os.path.exists(stored_path):
        return False
    with open(stored_path) as f:
        stored = json.load(f)
    changed = {
        key: (stored.get(key), value)
        for key, value in record.items()
        if json.loads(json.dumps(value)) != stored.get(key)
    }
    if changed:
        details = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise TrainingSetupError(
            f"The project {path!r} was made by another search ({details}). Rerun the "
            f"original command to resume it, pass --overwrite to delete it, or choose "
            f"another --project-name."
        )
    return True


def run_search(search, callbacks=None):
    """Runs (or resumes) a search; returns the summary (also `best_trials.json`).

    Args:
        search: `dreamkeras_cli.tool_config.SearchConfig`.
        callbacks: list of extra `keras.callbacks.Callback` for every
            trial's `fit` (deep-copied per trial by KerasTuner).

    Returns:
        dict: the summary.

    Example:

    ```python
    from dreamkeras_cli import datasets, flags, tool_builders

    args = flags.build_parser("search").parse_args(["--encoder", "vit-tiny-32"])
    search = tool_builders.search_config(args, datasets.DATASETS["fashion_mnist"])
    summary = dreamkeras.tuning.run_search(search)
    ```
    """
    from dreamkeras.training.runtime import check_backend

    run = search.run
    check_backend(run.hardware, run.command)
    project_dir = search.project_dir
    lock = RunLock(
        project_dir.rstrip(os.sep) + ".lock", f"The tuner project {project_dir}",
        advice="pass another --project-name to run both.",
    )
    try:
        lock.acquire()
    except OSError as error:
        raise TrainingSetupError(
            f"Cannot create the lock {lock.path!r} ({atomic.describe(error)}). Pass "
            f"--directory somewhere you can write."
        ) from None
    try:
        return _run_locked_search(search, callbacks, lock)
    finally:
        lock.release()


@dataclasses.dataclass
class SearchSetup:
    """What a search needs from its task (images or texts).

    Attributes:
        hypermodel: the `keras_tuner.HyperModel` (its trials' data inside).
        data: the loaded dataset (for its name and `synthetic`).
        search_data: the trials' data; its `eval` split validates.
        test_data: the dataset whose `eval` split is the test split.
        test_ds: callable `() -> tf.data.Dataset` of the test batches.
        random_encoder: bool, or None without an encoder.
        random_text: str. What the model line adds for random weights.
        summary: dict. The task's entries of the summary.

    Example:

    ```python
    setup = vision_search_setup(search, logdir)
    ```
    """

    hypermodel: object
    data: object
    search_data: object
    test_data: object
    test_ds: object
    random_encoder: object
    random_text: str
    summary: dict


def vision_search_setup(search, logdir):
    """The `SearchSetup` of a search over vision SleepNet / DreamNet."""
    from dreamkeras.training.image_task import is_named_size
    from dreamkeras.training.image_task import load_run_encoder
    from dreamkeras.training.image_task import load_training_data
    from dreamkeras.training.image_task import make_pipelines
    from dreamkeras.training.image_task import resolve_image_shape

    run = search.run
    encoder = load_run_encoder(run.model)
    image_shape = resolve_image_shape(run.model, encoder)
    del encoder
    data = load_training_data(run, image_shape)
    search_data, test_data = split_validation(data, search.validation_split)
    hypermodel = VisionHyperModel(
        run, search_data, image_shape=image_shape, search_space=search.search_space,
        values=search.values, logdir=logdir,
    )
    return SearchSetup(
        hypermodel=hypermodel, data=data, search_data=search_data, test_data=test_data,
        test_ds=lambda: make_pipelines(run, test_data, image_shape)[1],
        random_encoder=(
            is_named_size(run.model.encoder) if run.model.uses_encoder_weights else None
        ),
        random_text=": RANDOM weights (a named size, not pretrained)",
        summary={"image_shape": list(image_shape), "randaugment": run.augment.randaugment},
    )


def _run_locked_search(search, callbacks, lock):
    from dreamkeras.tuning.text_search import text_search_setup
    from dreamkeras.utils.profiling import parameter_counts

    run = search.run
    project_dir = search.project_dir
    if lock.takeover_line():
        print(line("lock", lock.takeover_line()), flush=True)
    for name in ("best_model.keras", "best_trials.md", "best_trials.json", SEARCH_CONFIG):
        atomic.remove_leftovers(os.path.join(project_dir, name))
    record = _project_record(search)
    resuming = _check_project(project_dir, record, search.overwrite)
    if search.report_only and not resuming:
        raise TrainingSetupError(
            f"--report-only: no search to report in {project_dir!r}. Check --directory / "
            f"--project-name and the other flags."
        )
    keras.utils.set_random_seed(run.schedule.seed)
    logdir = os.path.join(project_dir, "tensorboard")
    setup = (text_search_setup if run.task == "text" else vision_search_setup)(search, logdir)
    hypermodel, data = setup.hypermodel, setup.data
    search_data, test_data, random_encoder = (
        setup.search_data, setup.test_data, setup.random_encoder
    )
    tuner = make_tuner(
        search.tuner, hypermodel, search.directory, search.project_name,
        max_trials=search.max_trials, executions_per_trial=search.executions_per_trial,
        max_epochs=run.schedule.epochs, overwrite=search.overwrite, seed=search.tuner_seed,
    )
    os.makedirs(project_dir, exist_ok=True)
    write_json(os.path.join(project_dir, SEARCH_CONFIG), record)
    finished_before = results.finished_trials(tuner)
    encoder_text = "no encoder" if random_encoder is None else run.model.encoder + (
        setup.random_text if random_encoder else ""
    )
    print("\n".join([
        line("project", f"{project_dir} ({'resuming: ' if resuming else ''}"
             f"{finished_before} trial(s) finished before)"),
        line("logs", f"{logdir} (tensorboard --logdir {logdir})"),
        line("resume", "if interrupted, run the same command again; --overwrite starts afresh"),
        line("model", f"--model {run.model.kind}, encoder {encoder_text}"),
        line("data", f"{data.name}: {search_data.train_size} training / "
             f"{search_data.eval_size} validation / {test_data.eval_size} test examples"),
    ]), flush=True)
    if search.report_only:
        print("--report-only: no trial runs; reporting the completed trials.")
    else:
        early_stopping = keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=search.patience
        )
        tuner.search(
            epochs=run.schedule.epochs, callbacks=[early_stopping] + list(callbacks or []),
            verbose=run.schedule.verbose,
        )
    finished = results.finished_trials(tuner)
    if not finished:
        raise TrainingSetupError(
            f"No trial of {project_dir} finished (all failed); see the errors above."
        )

    rows = results.trial_rows(tuner)
    best_model = tuner.get_best_models(1)[0]
    test = best_model.evaluate(
        setup.test_ds(), steps=run.schedule.eval_steps, return_dict=True, verbose=0
    )
    best_path = os.path.join(project_dir, "best_model.keras")
    with atomic.replacing(best_path, advice=_WRITE_ADVICE) as temporary:
        best_model.save(temporary)
    fixed = {
        name: value for name, value in hypermodel.declare_hyperparameters(
            keras_tuner.HyperParameters()
        ).items() if name not in search.search_space
    }
    summary = {
        "project": project_dir,
        "tuner": search.tuner,
        "dataset": data.name,
        "synthetic_data": bool(data.synthetic),
        "model": run.model.kind,
        "encoder": run.model.encoder if run.model.uses_encoder_weights else None,
        "encoder_random_weights": random_encoder,
        **setup.summary,
        "search_space": list(search.search_space),
        "values": search.values,
        "fixed": fixed,
        "epochs_per_trial": run.schedule.epochs,
        "train_examples": search_data.train_size,
        "validation_examples": search_data.eval_size,
        "test_examples": test_data.eval_size,
        "test_split": test_data.eval_split,
        "trials_finished": finished,
        "trials_finished_before_this_run": finished_before,
        "trials": rows,
        "trials_not_completed": {
            trial_id: trial.status
            for trial_id, trial in tuner.oracle.trials.items()
            if trial.status != "COMPLETED"
        },
        "best": {
            "trial_id": rows[0]["trial_id"],
            "hyperparameters": rows[0]["hyperparameters"],
            "val_accuracy": rows[0]["metrics"].get("val_accuracy"),
            "test_accuracy": test.get("accuracy"),
            "test_loss": test.get("loss"),
            "params": parameter_counts(best_model),
            "model_path": best_path,
        },
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "keras_tuner_version": keras_tuner.__version__,
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    table = results.markdown_table(rows[: search.num_best], search.search_space)
    text = results.note(summary)
    atomic.write_text(
        os.path.join(project_dir, "best_trials.md"), text + "\n\n" + table + "\n",
        advice=_WRITE_ADVICE,
    )
    write_json(os.path.join(project_dir, "best_trials.json"), summary, advice=_WRITE_ADVICE)
    print(text)
    print(table)
    print(
        f"Best model saved to {best_path}; table and JSON: "
        f"{os.path.join(project_dir, 'best_trials.md')} / best_trials.json"
    )
    return summary
