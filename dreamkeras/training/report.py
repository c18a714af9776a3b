"""What a run says: its first lines, its JSON report and its closing summary."""

import json
import math
import os

import numpy as np

from dreamkeras_cli.startup import header_line as line


def jsonable(value):
    """`value` with numpy scalars, tuples and non-finite floats made JSON-safe."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(path, report, advice=None):
    """Writes `report` as JSON to `path` through a temporary file and a rename.

    A run killed while writing leaves the previous report (or none), never
    a truncated one (`dreamkeras.utils.atomic`).

    Args:
        path: str. The JSON file.
        report: dict. Made JSON-safe with `jsonable`.
        advice: optional str. The fix a failed write (a full disk) names.

    Raises:
        dreamkeras.utils.atomic.WriteError: the file could not be written.

    Example:

    ```python
    write_json("outputs/run.json", {"test_accuracy": 0.5})
    ```
    """
    from dreamkeras.utils import atomic

    atomic.write_text(path, json.dumps(jsonable(report), indent=2), advice=advice)


def file_lines(config, resume_epoch):
    """The header lines that say where a run writes and how it resumes.

    Args:
        config: `dreamkeras_cli.config.RunConfig`.
        resume_epoch: int or None. The epochs the backup holds (the
            zero-based epoch it resumes at); None without a backup.

    Returns:
        list of str.
    """
    files = config.files
    if files.preset:
        output = f"preset folder {files.output} (report {os.path.basename(files.report)} next to it)"
    else:
        output = (
            f"model {files.output} (report .json and best epoch _best.keras next to it)"
        )
    lines = [
        line("output", output),
        line("logs", f"{files.logdir} (tensorboard --logdir {files.logdir})"),
    ]
    epochs = config.schedule.epochs
    if resume_epoch is not None and resume_epoch >= epochs:
        resume = (
            f"the interrupted run finished its {resume_epoch} epochs: evaluating and "
            f"writing its model from {files.backup}, no epoch repeated"
        )
    elif resume_epoch:
        resume = (
            f"resuming the interrupted run at epoch {resume_epoch + 1}/{epochs} "
            f"({resume_epoch} finished, kept) from {files.backup}"
        )
    elif resume_epoch is not None:
        resume = (
            f"the interrupted run finished no epoch: starting at epoch 1/{epochs}"
        )
    elif config.fast_dev_run and files.restart:
        resume = "a fast dev run starts afresh each time"
    else:
        resume = (
            "if interrupted, run the same command again to resume from the last "
            "finished epoch; --restart starts afresh"
        )
    lines.append(line("resume", resume))
    return lines


def replaced_line(config):
    """The header line listing what `--fast-dev-run` replaced, or None."""
    if not config.replaced:
        return None
    def shown(value):
        return "none" if value is None else value

    parts = [f"{flag} {shown(asked)} -> {shown(used)}" for flag, asked, used in config.replaced]
    return line("replaces", ", ".join(parts))


def classifier_summary(report, files, unit):
    """The closing lines of a classifier run (accuracy, sizes, speed, files)."""
    params = report["params"]
    lines = []
    if report.get("best_val_accuracy") is not None:
        lines.append(
            f"Validation accuracy ({report.get('validation_examples') or '?'} examples): "
            f"{report['final_val_accuracy']:.4f} final, {report['best_val_accuracy']:.4f} "
            f"best (epoch {report['best_epoch']})"
        )
    best = report.get("best_model_test_accuracy")
    lines += [
        f"Test accuracy ({report['eval_split']} split, read once after training): "
        f"{report['test_accuracy']:.4f} final model"
        + (f", {best:.4f} best-validation model" if best is not None else ""),
        f"Parameters: {params['total']:,} total, {params['trainable']:,} "
        f"trainable, {params['non_trainable']:,} non-trainable"
        + (f" ({params['frozen']:,} in the frozen encoder)" if params["frozen"] else ""),
    ]
    if report.get("flops_per_image"):
        lines.append(f"FLOPs per image (analytical): {report['flops_per_image']['total']:,}")
    if report.get(f"train_{unit}_per_second"):
        lines.append(
            f"Throughput: {report[f'train_{unit}_per_second']:.1f} train / "
            f"{report[f'eval_{unit}_per_second'] or 0:.1f} eval {unit} per second"
        )
    lines.append(f"Saved {files.output} and {files.report}")
    if report["fast_dev_run"]:
        lines.append(
            f"Reload check: |test loss difference| after keras.saving.load_model = "
            f"{report['reload_check']['abs_loss_diff']:.2e}"
        )
    return lines
