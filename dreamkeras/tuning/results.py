"""The results of a search: the completed trials as rows, a table and a note."""

import json
import os

import keras


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


def note(summary):
    """One paragraph: what was searched, on what, and the best trial."""
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
        f"{'' if summary.get('randaugment', True) else ' (RandAugment off)'}"
        f"{'' if summary.get('augment', True) else ' (word-edit augmentation off)'}. Best trial "
        f"{best['trial_id']}: "
        f"val_accuracy {best['val_accuracy']:.4f}, test accuracy "
        f"{best['test_accuracy']:.4f} on {summary['test_examples']} "
        f"{summary['test_split']} examples ({keras.backend.backend()} backend)."
    )


def finished_trials(tuner):
    """The number of completed trials of a tuner."""
    return sum(
        1 for t in tuner.oracle.trials.values() if t.status == "COMPLETED"
    )
