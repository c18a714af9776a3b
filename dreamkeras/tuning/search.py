"""The hyperparameter search behind `python tuning/search.py`.

A search is a KerasTuner project folder (`--directory/--project-name`).
Rerunning the same command reloads it and continues (KerasTuner reloads the
oracle; a trial killed mid-way is run again); `--overwrite` starts afresh.
At the end the best trials are written as a markdown table and JSON, and
the best trial's model (its best epoch) is evaluated on the held-out split
and saved as `.keras` in the project folder.
"""

import argparse
import datetime
import json
import os
import sys

import keras
import keras_tuner

from dreamkeras.tuning.hypermodels import VISION_HYPERPARAMETERS
from dreamkeras.tuning.hypermodels import VisionHyperModel

TUNERS = ("random", "bayesian", "hyperband")
SEARCH_CONFIG = "search_config.json"


class SearchSetupError(ValueError):
    """A search cannot start: bad flags, a project made by another command.

    Example:

    ```python
    try:
        dreamkeras.tuning.run_search(["--tuner", "grid"])
    except dreamkeras.tuning.SearchSetupError as error:
        print(error)
    ```
    """


class _TrialLogsMixin:
    """Tells the hypermodel which trial runs (for its per-trial logs)."""

    def run_trial(self, trial, *args, **kwargs):
        begin = getattr(self.hypermodel, "begin_trial", None)
        if begin is not None:
            begin(trial.trial_id, self.get_trial_dir(trial.trial_id))
        return super().run_trial(trial, *args, **kwargs)


class RandomSearch(_TrialLogsMixin, keras_tuner.RandomSearch):
    """`keras_tuner.RandomSearch` with dreamkeras' per-trial logs."""


class BayesianOptimization(_TrialLogsMixin, keras_tuner.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with dreamkeras' per-trial logs."""


class Hyperband(_TrialLogsMixin, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` with dreamkeras' per-trial logs."""


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
    raise SearchSetupError(f"--tuner must be one of {TUNERS}. Received: {kind!r}.")


def build_search_parser(dataset_defaults=None, prog=None):
    """Returns the `argparse.ArgumentParser` of `tuning/search.py`.

    The model and training flags are the apps' (`dreamkeras.training.config`):
    they fix what is not searched and give the defaults of what is.

    Args:
        dataset_defaults: optional `DatasetDefaults` for the `--data-dir`
            help; the dataset itself is `--dataset`.
        prog: str or None. Program name for `--help`.

    Returns:
        An `argparse.ArgumentParser`.

    Example:

    ```python
    args = build_search_parser().parse_args(["--search-space", "blocks,unfreeze"])
    ```
    """
    from dreamkeras.training import DATASETS
    from dreamkeras.training.config import add_backend_flags
    from dreamkeras.training.config import add_model_flags
    from dreamkeras.training.config import add_training_flags

    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "KerasTuner search over SleepNet / DreamNet hyperparameters "
            "(M, chain, projection, frozen/unfrozen encoder, learning rate, "
            "weight decay, RandAugment magnitude, MixUp alpha). Each trial "
            "trains like the apps (same flags); the trials validate on a "
            "part of the training split held out with --validation-split. "
            "Rerunning the same command resumes the search."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    group = parser.add_argument_group("search")
    group.add_argument(
        "--dataset", choices=sorted(DATASETS), default="fashion_mnist",
        help="Dataset (the apps' datasets).",
    )
    group.add_argument(
        "--data-dir", default=None,
        help="Data folder of the dataset, as for the app (default: the "
        "app's default, e.g. /usr/share/datasets/fashion-mnist).",
    )
    group.add_argument("--tuner", choices=TUNERS, default="random", help="Search algorithm.")
    group.add_argument(
        "--search-space", default="blocks,unfreeze",
        help=f"Comma-separated hyperparameters to search, from "
        f"{','.join(VISION_HYPERPARAMETERS)}; 'all' for all. The others are "
        f"fixed at their flags' values.",
    )
    group.add_argument(
        "--values", action="append", default=[], metavar="NAME=V1,V2,...",
        help="Restrict a searched hyperparameter to a list of values, e.g. "
        "--values blocks=1,2,3 (repeatable).",
    )
    group.add_argument(
        "--max-trials", type=int, default=10,
        help="Trials in all, counting those of an earlier run of the same "
        "project (random, bayesian).",
    )
    group.add_argument(
        "--executions-per-trial", type=int, default=1,
        help="Trainings per trial (the objective is their mean).",
    )
    group.add_argument(
        "--directory", default="tuning_runs", help="Folder of the tuner projects."
    )
    group.add_argument(
        "--project-name", default=None,
        help="Project folder inside --directory. Default: <dataset>_<model>.",
    )
    group.add_argument(
        "--overwrite", action="store_true",
        help="Delete an existing project and start afresh (otherwise the "
        "search resumes).",
    )
    group.add_argument(
        "--patience", type=int, default=2,
        help="EarlyStopping patience (epochs without val_accuracy gain) per trial.",
    )
    group.add_argument(
        "--validation-split", type=float, default=0.1,
        help="Fraction of the (subset of the) training split held out to "
        "validate the trials; the test split only evaluates the best model.",
    )
    group.add_argument(
        "--num-best", type=int, default=10, help="Rows of the best-trials table."
    )
    group.add_argument(
        "--tuner-seed", type=int, default=1, help="Seed of the search algorithm."
    )
    group.add_argument(
        "--report-only", action="store_true",
        help="Run no trial: write the table and the best model of the "
        "project's completed trials (e.g. of a search stopped early).",
    )
    add_backend_flags(parser)
    add_model_flags(parser)
    add_training_flags(parser)
    parser.set_defaults(
        fast_dev_run=False, distribute=False, resume=False, restart=False,
        epochs=2, verbose=2,
    )
    return parser


def parse_values(specs, search_space):
    """Parses `--values NAME=V1,V2` into {name: [typed values]}.

    Example:

    ```python
    parse_values(["blocks=1,2,3"], ("blocks",))  # {"blocks": [1, 2, 3]}
    ```
    """
    kinds = {
        "blocks": int, "chain": str, "projection": str, "lr": float,
        "weight_decay": float, "randaugment_magnitude": float,
        "mixup_alpha": float,
    }

    def to_bool(text):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(text)

    kinds["unfreeze"] = to_bool
    values = {}
    for spec in specs:
        name, _, items = spec.partition("=")
        if name not in kinds or not items:
            raise SearchSetupError(
                f"--values takes NAME=V1,V2,... with NAME one of {sorted(kinds)}. "
                f"Received: {spec!r}."
            )
        if name not in search_space:
            raise SearchSetupError(
                f"--values {name}=... restricts a hyperparameter that is not "
                f"searched; add {name} to --search-space."
            )
        try:
            values[name] = [kinds[name](item) for item in items.split(",")]
        except ValueError:
            raise SearchSetupError(
                f"--values {spec!r}: values of {name} must be {kinds[name].__name__}."
            ) from None
    return values


def _search_space(text):
    names = list(VISION_HYPERPARAMETERS) if text == "all" else [
        n.strip() for n in text.split(",") if n.strip()
    ]
    unknown = [n for n in names if n not in VISION_HYPERPARAMETERS]
    if unknown or not names:
        raise SearchSetupError(
            f"--search-space: unknown hyperparameter(s) {unknown or text!r}. "
            f"Choose from {','.join(VISION_HYPERPARAMETERS)} (or 'all')."
        )
    return tuple(names)


def split_validation(data, fraction):
    """Holds out the last `fraction` of the training split for validation.

    Args:
        data: `dreamkeras.data.ImageDataset` with a known `train_size`.
        fraction: float in (0, 1).

    Returns:
        `(search_data, test_data)`: an `ImageDataset` whose `eval` split is
        the held-out training examples, and the original one.

    Example:

    ```python
    search_data, test_data = split_validation(data, 0.1)
    ```
    """
    import dataclasses

    if not 0 < fraction < 1:
        raise SearchSetupError(
            f"--validation-split must be in (0, 1), got {fraction}."
        )
    if data.train_size is None:
        raise SearchSetupError(
            f"The size of the {data.name} training split is unknown; pass "
            f"--train-subset N so that a validation part can be held out."
        )
    num_val = max(1, int(round(data.train_size * fraction)))
    num_train = data.train_size - num_val
    search_data = dataclasses.replace(
        data,
        train=data.train.take(num_train),
        eval=data.train.skip(num_train),
        train_size=num_train,
        eval_size=num_val,
        eval_split=f"last {num_val} training examples",
    )
    return search_data, data


def _check_project(path, config, overwrite):
    """Refuses to resume a project that another command created."""
    stored_path = os.path.join(path, SEARCH_CONFIG)
    if overwrite or not os.path.exists(stored_path):
        return False
    with open(stored_path) as f:
        stored = json.load(f)
    changed = {
        key: (stored.get(key), value)
        for key, value in config.items()
        if stored.get(key) != value and key not in ("max_trials",)
    }
    if changed:
        details = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise SearchSetupError(
            f"The project {path!r} was made by another search ({details}). "
            f"Rerun the original command to resume it, pass --overwrite to "
            f"delete it, or choose another --project-name."
        )
    return True


def trial_rows(tuner, num_trials=None):
    """The completed trials, best first, as dicts (for the table and JSON).

    Args:
        tuner: a `keras_tuner.Tuner` after `search`.
        num_trials: optional int. Rows to return (all by default).

    Returns:
        list of dict.

    Example:

    ```python
    rows = dreamkeras.tuning.trial_rows(tuner, num_trials=5)
    rows[0]["hyperparameters"]["blocks"]
    ```
    """
    oracle = tuner.oracle
    trials = [
        trial
        for trial in oracle.get_best_trials(len(oracle.trials))
        if trial.status == "COMPLETED"
    ][:num_trials]
    rows = []
    for rank, trial in enumerate(trials, start=1):
        info = {}
        summary_path = os.path.join(tuner.get_trial_dir(trial.trial_id), "execution0.json")
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                info = json.load(f)
        metrics = {}
        for name in ("val_accuracy", "val_loss", "accuracy", "loss"):
            if trial.metrics.exists(name):
                metrics[name] = trial.metrics.get_best_value(name)
        rows.append(
            {
                "rank": rank,
                "trial_id": trial.trial_id,
                "status": trial.status,
                "score": trial.score,
                "hyperparameters": dict(trial.hyperparameters.values),
                "metrics": metrics,
                "epochs_run": info.get("epochs_run"),
                "seconds": info.get("seconds"),
                "train_images_per_second": info.get("train_images_per_second"),
                "trainable_params": (info.get("params") or {}).get("trainable"),
                "total_params": (info.get("params") or {}).get("total"),
                "logdir": info.get("logdir"),
            }
        )
    return rows


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows, searched):
    """A markdown table of `trial_rows`, one column per searched value.

    Example:

    ```python
    print(dreamkeras.tuning.markdown_table(rows, ("blocks", "unfreeze")))
    ```
    """
    header = (
        ["rank", "trial"] + list(searched)
        + ["val_accuracy", "epochs", "trainable params", "seconds"]
    )
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in rows:
        cells = [row["rank"], row["trial_id"]]
        cells += [row["hyperparameters"].get(name) for name in searched]
        cells += [
            row["metrics"].get("val_accuracy"),
            row["epochs_run"],
            f"{row['trainable_params']:,}" if row["trainable_params"] else None,
            f"{row['seconds']:.0f}" if row["seconds"] else None,
        ]
        lines.append("| " + " | ".join(_format(c) for c in cells) + " |")
    return "\n".join(lines)


def run_search(argv=None, prog=None, callbacks=None):
    """Parses the flags, runs (or resumes) the search; returns the summary.

    Args:
        argv: list of str or None (`sys.argv[1:]`).
        prog: str or None. Program name for `--help`.
        callbacks: list of extra `keras.callbacks.Callback` for every
            trial's `fit` (deep-copied per trial by KerasTuner).

    Returns:
        dict: the summary also written as `best_trials.json`.

    Example:

    ```python
    summary = dreamkeras.tuning.run_search(
        ["--encoder", "mae-tiny-32", "--width", "8", "--max-trials", "2"]
    )
    ```
    """
    from dreamkeras.training import DATASETS
    from dreamkeras.training import load_run_encoder
    from dreamkeras.training import load_training_data
    from dreamkeras.training import make_pipelines
    from dreamkeras.training import parameter_counts
    from dreamkeras.training import resolve_image_shape
    from dreamkeras.training.app import adopt_running_backend
    from dreamkeras.training.app import enable_jax_compilation_cache
    from dreamkeras.training.trainer import check_args

    args = build_search_parser(prog=prog).parse_args(argv)
    adopt_running_backend(args, "python tuning/search.py", SearchSetupError)
    for flag, value in (("--max-trials", args.max_trials),
                        ("--executions-per-trial", args.executions_per_trial),
                        ("--num-best", args.num_best)):
        if value < 1:
            raise SearchSetupError(f"{flag} must be at least 1, got {value}.")
    check_args(args)
    search_space = _search_space(args.search_space)
    values = parse_values(args.values, search_space)
    defaults, load_data = DATASETS[args.dataset]
    if args.data_dir is None:
        args.data_dir = defaults.default_data_dir
    project_name = args.project_name or f"{args.dataset}_{args.model}"
    project_dir = os.path.join(args.directory, project_name)
    config = {
        "dataset": args.dataset,
        "data_dir": args.data_dir,
        "model": args.model,
        "encoder": args.encoder,
        "tuner": args.tuner,
        "search_space": list(search_space),
        "values": values,
        "epochs": args.epochs,
        "width": args.width,
        "batch_size": args.batch_size,
        "train_subset": args.train_subset,
        "eval_subset": args.eval_subset,
        "validation_split": args.validation_split,
        "randaugment": args.randaugment,
        "steps_per_epoch": args.steps_per_epoch,
        "image_size": args.image_size,
        "stem": args.stem,
        "mask_ratio": args.mask_ratio,
        "dropout": args.dropout,
        "seed": args.seed,
        "executions_per_trial": args.executions_per_trial,
        "fixed": {
            name: getattr(args, name)
            for name in VISION_HYPERPARAMETERS
            if name not in search_space
        },
    }
    resuming = _check_project(project_dir, config, args.overwrite)
    if args.report_only and not resuming:
        raise SearchSetupError(
            f"--report-only: no search to report in {project_dir!r}. Check "
            f"--directory / --project-name and the other flags."
        )
    enable_jax_compilation_cache()

    keras.utils.set_random_seed(args.seed)
    encoder = None if args.model == "baseline" else load_run_encoder(args)
    image_shape = resolve_image_shape(args, encoder)
    del encoder
    data = load_training_data(args, defaults, load_data, image_shape)
    search_data, test_data = split_validation(data, args.validation_split)
    random_encoder = _is_random(args.encoder) if args.model != "baseline" else None
    if random_encoder:
        print(
            f"NOTE: --encoder {args.encoder} is a named size with RANDOM "
            f"weights, not a pretrained encoder; the results say so."
        )

    logdir = os.path.join(project_dir, "tensorboard")
    hypermodel = VisionHyperModel(
        args, search_data, image_shape=image_shape, search_space=search_space,
        values=values, logdir=logdir,
    )
    tuner = make_tuner(
        args.tuner, hypermodel, args.directory, project_name,
        max_trials=args.max_trials,
        executions_per_trial=args.executions_per_trial,
        max_epochs=args.epochs, overwrite=args.overwrite, seed=args.tuner_seed,
    )
    os.makedirs(project_dir, exist_ok=True)
    with open(os.path.join(project_dir, SEARCH_CONFIG), "w") as f:
        json.dump(config, f, indent=2)
    finished_before = _finished(tuner)
    print(
        f"{'Resuming' if resuming else 'Starting'} the {args.tuner} search "
        f"{project_dir} ({finished_before} trial(s) finished before) over "
        f"{list(search_space)} on {data.name}: {search_data.train_size} "
        f"training / {search_data.eval_size} validation examples, "
        f"backend {args.backend}. TensorBoard: tensorboard --logdir {logdir}"
    )
    tuner.search_space_summary()
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=args.patience
    )
    if args.report_only:
        print("--report-only: no trial runs; reporting the completed trials.")
    else:
        tuner.search(
            epochs=args.epochs, callbacks=[early_stopping] + list(callbacks or []),
            verbose=args.verbose,
        )
    finished = _finished(tuner)
    if not finished:
        raise SearchSetupError(
            f"No trial of {project_dir} finished (all failed); see the errors above."
        )

    rows = trial_rows(tuner)
    best_model = tuner.get_best_models(1)[0]
    _, test_ds = make_pipelines(args, test_data, image_shape)
    test = best_model.evaluate(test_ds, steps=args.eval_steps, return_dict=True, verbose=0)
    best_path = os.path.join(project_dir, "best_model.keras")
    best_model.save(best_path)

    summary = {
        "project": project_dir,
        "tuner": args.tuner,
        "dataset": data.name,
        "synthetic_data": bool(data.synthetic),
        "model": args.model,
        "encoder": args.encoder if args.model != "baseline" else None,
        "encoder_random_weights": random_encoder,
        "image_shape": list(image_shape),
        "search_space": list(search_space),
        "values": values,
        "fixed": config["fixed"],
        "randaugment": args.randaugment,
        "epochs_per_trial": args.epochs,
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
        "backend": args.backend,
        "keras_version": keras.__version__,
        "keras_tuner_version": keras_tuner.__version__,
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    table = markdown_table(rows[: args.num_best], search_space)
    note = _note(summary)
    with open(os.path.join(project_dir, "best_trials.md"), "w") as f:
        f.write(note + "\n\n" + table + "\n")
    with open(os.path.join(project_dir, "best_trials.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    print(note)
    print(table)
    print(
        f"Best model saved to {best_path}; table and JSON: "
        f"{os.path.join(project_dir, 'best_trials.md')} / best_trials.json"
    )
    return summary


def _note(summary):
    encoder = summary["encoder"]
    if summary["encoder_random_weights"]:
        encoder = f"{encoder} (RANDOM weights, not pretrained)"
    best = summary["best"]
    return (
        f"{summary['tuner']} search, {summary['model']} on {summary['dataset']}"
        f"{' (SYNTHETIC data)' if summary['synthetic_data'] else ''}, encoder "
        f"{encoder}, {summary['trials_finished']} trials of at most "
        f"{summary['epochs_per_trial']} epoch(s), {summary['train_examples']} "
        f"training / {summary['validation_examples']} validation examples; "
        f"fixed {summary['fixed']}"
        f"{'' if summary['randaugment'] else ' (RandAugment off)'}. Best trial "
        f"{best['trial_id']}: "
        f"val_accuracy {best['val_accuracy']:.4f}, test accuracy "
        f"{best['test_accuracy']:.4f} on {summary['test_examples']} "
        f"{summary['test_split']} examples ({keras.backend.backend()} backend)."
    )


def _finished(tuner):
    return sum(
        1 for t in tuner.oracle.trials.values() if t.status == "COMPLETED"
    )


def _is_random(name):
    from dreamkeras.encoders import named_sizes

    return name in named_sizes()


def main(argv=None, prog=None):
    """Command-line entry point: like `run_search`, with clear errors.

    Returns:
        int. 0 on success, 2 on a user error.
    """
    from dreamkeras.data import DataError
    from dreamkeras.training import TrainingSetupError

    try:
        run_search(argv, prog=prog)
    except (SearchSetupError, TrainingSetupError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
