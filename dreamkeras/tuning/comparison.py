"""Statistics, tables and plots of a comparison of variants over seeds.

A comparison trains several variants (models, encoders, flags) with the same
seeds, data, splits and budget; `summarize` turns the per-run results into
per-variant means and standard deviations and paired differences against a
reference variant (same seed, same data), with a t confidence interval.
`dreamkeras compare` (`dreamkeras_cli.compare`) runs the trainings.
"""

import math

import numpy as np

# The figures of a run a comparison reports, from the training report.
METRICS = ("selected_test_accuracy", "best_val_accuracy", "test_accuracy")


def run_metrics(report):
    """The comparison's figures of one training report.

    `selected_test_accuracy` is the test accuracy of the model selected on
    validation (the best-validation epoch's), or of the final model when the
    run had no validation split.

    Args:
        report: dict. A training app's JSON report.

    Returns:
        dict of metric name -> float or None, plus `params`, `seconds`.

    Example:

    ```python
    run_metrics({"test_accuracy": 0.8, "best_model_test_accuracy": 0.82,
                 "best_val_accuracy": 0.83, "params": {"trainable": 10}})
    ```
    """
    selected = report.get("best_model_test_accuracy")
    if selected is None:
        selected = report.get("test_accuracy")
    return {
        "selected_test_accuracy": selected,
        "best_val_accuracy": report.get("best_val_accuracy"),
        "test_accuracy": report.get("test_accuracy"),
        "trainable_params": (report.get("params") or {}).get("trainable"),
        "frozen_params": (report.get("params") or {}).get("frozen"),
        "seconds": (report.get("seconds") or {}).get("total"),
    }


def t_interval(values, confidence=0.95):
    """Mean and the half-width of its t confidence interval.

    Args:
        values: sequence of float (at least one).
        confidence: float in (0, 1).

    Returns:
        `(mean, half_width)`; `half_width` is None for a single value.

    Example:

    ```python
    mean, half = t_interval([0.01, 0.02, 0.015])
    ```
    """
    from scipy import stats

    values = np.asarray(values, dtype="float64")
    mean = float(values.mean())
    if values.size < 2:
        return mean, None
    sem = float(values.std(ddof=1)) / math.sqrt(values.size)
    return mean, float(stats.t.ppf(0.5 + confidence / 2, values.size - 1) * sem)


def summarize(runs, variants, metric="selected_test_accuracy", reference=None):
    """Per-variant statistics and paired differences against `reference`.

    Args:
        runs: list of dicts with `variant`, `seed` and the `METRICS`.
        variants: list of str. Variant names in table order.
        metric: str. The figure compared (one of `METRICS`).
        reference: str or None. Variant the others are compared with, on the
            seeds both have. Defaults to the first variant.

    Returns:
        dict with `metric`, `reference` and `variants`: a list of dicts
        (`name`, `n`, `mean`, `std`, `values` by seed, `val_mean`, and
        `difference`: `mean`, `ci95`, `n`, `wins` against the reference).

    Example:

    ```python
    summary = summarize(runs, ["chain", "sleepnet"])
    ```
    """
    if metric not in METRICS:
        raise ValueError(f"`metric` must be one of {METRICS}. Received: {metric!r}.")
    reference = reference or variants[0]
    by_variant = {name: {} for name in variants}
    val_by_variant = {name: {} for name in variants}
    for run in runs:
        if run["variant"] in by_variant and run.get(metric) is not None:
            by_variant[run["variant"]][run["seed"]] = run[metric]
            val_by_variant[run["variant"]][run["seed"]] = run.get("best_val_accuracy")
    rows = []
    for name in variants:
        values = by_variant[name]
        row = {"name": name, "n": len(values), "values": dict(sorted(values.items()))}
        array = np.asarray(list(values.values()), dtype="float64")
        row["mean"] = float(array.mean()) if array.size else None
        row["std"] = float(array.std(ddof=1)) if array.size > 1 else None
        vals = [v for v in val_by_variant[name].values() if v is not None]
        row["val_mean"] = float(np.mean(vals)) if vals else None
        seeds = sorted(set(values) & set(by_variant[reference]))
        if name != reference and seeds:
            differences = [values[s] - by_variant[reference][s] for s in seeds]
            mean, half = t_interval(differences)
            row["difference"] = {
                "mean": mean,
                "ci95": None if half is None else [mean - half, mean + half],
                "n": len(seeds),
                "wins": int(sum(d > 0 for d in differences)),
            }
        else:
            row["difference"] = None
        rows.append(row)
    return {"metric": metric, "reference": reference, "variants": rows}


def _percent(value, digits=1):
    return "-" if value is None else f"{100 * value:.{digits}f}"


def markdown_table(summary, flags=None):
    """The summary as a Markdown table (accuracies in percent).

    Args:
        summary: dict from `summarize`.
        flags: optional dict of variant -> its flags, shown in a column.

    Returns:
        str.
    """
    reference = summary["reference"]
    lines = [
        f"| variant | seeds | test accuracy, % (mean +- std) | validation, % | "
        f"paired difference vs {reference}, points [95% CI] | wins | flags |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summary["variants"]:
        spread = "" if row["std"] is None else f" +- {_percent(row['std'])}"
        difference = row["difference"]
        if difference is None:
            diff_text, wins = "(reference)" if row["name"] == reference else "-", "-"
        else:
            interval = difference["ci95"]
            diff_text = f"{100 * difference['mean']:+.1f}" + (
                "" if interval is None
                else f" [{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}]"
            )
            wins = f"{difference['wins']}/{difference['n']}"
        flag_text = (flags or {}).get(row["name"], "")
        lines.append(
            f"| {row['name']} | {row['n']} | {_percent(row['mean'])}{spread} | "
            f"{_percent(row['val_mean'])} | {diff_text} | {wins} | `{flag_text}` |"
        )
    return "\n".join(lines) + "\n"


def plot_summary(summary, path, title=None):
    """Writes a PNG: each run's figure by variant, with mean and std.

    Args:
        summary: dict from `summarize`.
        path: str. The PNG file.
        title: optional str.

    Returns:
        str. `path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = summary["variants"]
    figure, axes = pyplot.subplots(figsize=(max(4.0, 1.3 * len(rows) + 1.5), 3.6))
    for index, row in enumerate(rows):
        values = [100 * v for v in row["values"].values()]
        if not values:
            continue
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
        axes.scatter(index + np.asarray(jitter), values, s=16, alpha=0.7, color="tab:blue")
        if row["mean"] is not None:
            axes.errorbar(
                index + 0.3, 100 * row["mean"], yerr=100 * (row["std"] or 0.0),
                fmt="o", color="black", capsize=4,
            )
    axes.set_xticks(range(len(rows)))
    axes.set_xticklabels([row["name"] for row in rows], rotation=20, ha="right")
    axes.set_ylabel(f"{summary['metric'].replace('_', ' ')} (%)")
    axes.grid(axis="y", alpha=0.3)
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path
