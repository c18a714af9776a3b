"""What the image and text classification tasks share: evaluate, save, reload check."""

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


def evaluator(config, eval_ds, unit):
    """Returns `evaluate(model)`: test loss, accuracies and eval throughput."""

    def evaluate(model):
        speed = Throughput(config.schedule.batch_size, mode="test")
        results = model.evaluate(
            eval_ds, steps=config.schedule.eval_steps, return_dict=True,
            callbacks=[speed], verbose=config.schedule.verbose,
        )
        return {
            "test_loss": results.get("loss"),
            "test_accuracy": results.get("accuracy"),
            "test_top5_accuracy": results.get("top5_accuracy"),
            f"eval_{unit}_per_second": speed.images_per_second,
        }

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


def classifier_run(config, unit, model, data, train_ds, eval_ds, lines, report, **options):
    """The `PreparedRun` of a classifier: evaluation, saving and summary included.

    Args:
        config: `dreamkeras_cli.config.RunConfig`.
        unit: str. `"images"` or `"texts"`.
        model, data, train_ds, eval_ds, lines, report: as in `PreparedRun`.
        **options: `extra` (a `finish`-like callable run after the
            parameter count), `callbacks`, and `more_summary` (a callable
            `report -> list of str` appended to the closing lines).

    Returns:
        A `dreamkeras.training.engine.PreparedRun`.
    """
    more_summary = options.get("more_summary")

    def summary(result):
        closing = reporting.classifier_summary(result, config.files, unit)
        return closing + (more_summary(result) if more_summary else [])

    return PreparedRun(
        model=model, train_ds=train_ds, eval_ds=eval_ds, data=data, lines=lines,
        evaluate=evaluator(config, eval_ds, unit), save=save_model, report=report,
        callbacks=list(options.get("callbacks", ())),
        finish=finisher(config, eval_ds, options.get("extra")), summary=summary,
    )


def parameter_text(model):
    """`"119,853 parameters, 78,365 trainable"` for the header."""
    counts = parameter_counts(model)
    return f"{counts['total']:,} parameters, {counts['trainable']:,} trainable"
