"""What the image and text classification tasks share: evaluate, save, reload check."""

import os
import time

import keras

from dreamkeras.training import report as reporting
from dreamkeras.training.callbacks import Throughput
from dreamkeras.training.engine import PreparedRun
from dreamkeras.utils.profiling import parameter_counts
from dreamkeras_cli.config import TrainingSetupError

DIVERGENCE_ADVICE = "Lower --lr, or use --mixed-precision none / mixed_bfloat16."


def check_train_size(data, batch_size):
    """Refuses a training split smaller than one batch.

    Example:

    ```python
    check_train_size(data, config.schedule.batch_size)
    ```
    """
    if data.train_size is not None and data.train_size < batch_size:
        raise TrainingSetupError(
            f"{data.train_size} training examples is less than one batch "
            f"(--batch-size {batch_size}); lower --batch-size."
        )


def validation_results(history):
    """The validation figures of a run's history: final and best epoch.

    Args:
        history: dict of lists (`History.history`).

    Returns:
        dict: `final_val_accuracy`, `best_val_accuracy` and `best_epoch`
        (1-based, among the epochs this process trained), or `{}` without
        validation.
    """
    accuracies = history.get("val_accuracy") or []
    if not accuracies:
        return {}
    best = int(max(range(len(accuracies)), key=lambda i: accuracies[i]))
    return {
        "final_val_accuracy": accuracies[-1],
        "best_val_accuracy": accuracies[best],
        "best_epoch": best + 1,
    }


def evaluator(config, test_ds, unit):
    """Returns `evaluate(model)`: the test split, read once, on the final and best model.

    The test split is not seen during training: the epoch-end validation and
    the best-epoch checkpoint use the validation split. After training, the
    final model and the best epoch's model (`files.best`, when the run
    validated) are evaluated on the test split.

    Returns:
        A callable `(model) -> dict` of report entries: `test_loss`,
        `test_accuracy`, `test_top5_accuracy` (final model),
        `best_model_test_loss`, `best_model_test_accuracy`,
        `best_model_test_top5_accuracy` (best model, or None), the
        validation figures of `validation_results` and the evaluation
        throughput.
    """

    def evaluate(model):
        speed = Throughput(config.schedule.batch_size, mode="test")
        results = model.evaluate(
            test_ds, steps=config.schedule.eval_steps, return_dict=True,
            callbacks=[speed], verbose=config.schedule.verbose,
        )
        history = getattr(getattr(model, "history", None), "history", None) or {}
        report = {
            "test_loss": results.get("loss"),
            "test_accuracy": results.get("accuracy"),
            "test_top5_accuracy": results.get("top5_accuracy"),
            f"eval_{unit}_per_second": speed.images_per_second,
            **validation_results(history),
            "best_model_test_loss": None,
            "best_model_test_accuracy": None,
            "best_model_test_top5_accuracy": None,
        }
        best_path = config.files.best
        # Only a run that validated wrote the best model (an older file is not ours).
        if best_path and "val_accuracy" in history and os.path.exists(best_path):
            best = keras.saving.load_model(best_path)
            again = best.evaluate(
                test_ds, steps=config.schedule.eval_steps, return_dict=True, verbose=0
            )
            report.update(
                best_model_test_loss=again.get("loss"),
                best_model_test_accuracy=again.get("accuracy"),
                best_model_test_top5_accuracy=again.get("top5_accuracy"),
            )
            del best
        return report

    return evaluate


def save_model(model, path):
    """Saves a `.keras` model (the final output of a classifier run)."""
    model.save(path)


def reload_check(model, path, eval_ds, steps, test_loss):
    """Reloads the saved model and evaluates it on the same batches.

    Returns:
        dict: the reloaded loss, its difference to `test_loss`, and the
        trainable weight counts before and after.
    """
    reloaded = keras.saving.load_model(path)
    again = reloaded.evaluate(eval_ds, steps=steps, return_dict=True, verbose=0)
    return {
        "test_loss_after_reload": again["loss"],
        "abs_loss_diff": abs(again["loss"] - test_loss),
        "trainable_weights": len(model.trainable_weights),
        "reloaded_trainable_weights": len(reloaded.trainable_weights),
    }


def finisher(config, eval_ds, extra=None):
    """Returns `finish(model, report, timings)`: parameters, task extras, reload check."""

    def finish(model, report, timings):
        report["params"] = parameter_counts(model)
        if extra is not None:
            extra(model, report, timings)
        if config.fast_dev_run:
            tick = time.perf_counter()
            report["reload_check"] = reload_check(
                model, config.files.output, eval_ds, config.schedule.eval_steps,
                report["test_loss"],
            )
            timings["reload_check"] = time.perf_counter() - tick

    return finish


def selection_callbacks(config, validation_ds):
    """Early stopping on the validation split (`--patience`), if asked for.

    The best-epoch checkpoint is the engine's (`ModelCheckpoint` on
    `val_accuracy`); with no validation split there is neither.
    """
    patience = config.schedule.patience
    if not patience or validation_ds is None:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=patience
        )
    ]


def classifier_run(
    config, unit, model, data, train_ds, eval_ds, lines, report, validation_ds=None,
    **options,
):
    """The `PreparedRun` of a classifier: evaluation, saving and summary included.

    Args:
        config: `dreamkeras_cli.config.RunConfig`.
        unit: str. `"images"` or `"texts"`.
        model, data, train_ds, lines, report: as in `PreparedRun`.
        eval_ds: the test pipeline, evaluated once after training.
        validation_ds: the validation pipeline (the engine validates on it
            every epoch and keeps the best epoch's model), or None.
        **options: `extra` (a `finish`-like callable run after the
            parameter count), `callbacks`, and `more_summary` (a callable
            `report -> list of str` appended to the closing lines).

    Returns:
        A `dreamkeras.training.engine.PreparedRun` whose `eval_ds` (what
        `fit` validates on) is `validation_ds`.
    """
    more_summary = options.get("more_summary")

    def summary(result):
        closing = reporting.classifier_summary(result, config.files, unit)
        return closing + (more_summary(result) if more_summary else [])

    report = {
        **report,
        "validation_split": data.validation_split,
        "validation_examples": data.validation_size,
    }
    return PreparedRun(
        model=model, train_ds=train_ds, eval_ds=validation_ds, data=data, lines=lines,
        evaluate=evaluator(config, eval_ds, unit), save=save_model, report=report,
        callbacks=selection_callbacks(config, validation_ds)
        + list(options.get("callbacks", ())),
        finish=finisher(config, eval_ds, options.get("extra")), summary=summary,
    )


def parameter_text(model):
    """`"119,853 parameters, 78,365 trainable"` for the header."""
    counts = parameter_counts(model)
    return f"{counts['total']:,} parameters, {counts['trainable']:,} trainable"
