"""`dreamkeras compare`: train variants over seeds and tabulate them fairly.

Every variant trains once per seed through the same training app, with the
same data, splits (the apps' fixed validation split), budget (`--common`)
and seed list, one run after the other in this process. Each run writes its
model, report and TensorBoard logs under `OUTPUT/runs/` and `OUTPUT/logs/`;
a rerun of the same command skips the finished runs and resumes an
interrupted one from its backup. The table (`results.md`, `results.json`,
`results.png`) compares the variants on the test accuracy of the model
selected on validation, with paired differences against the first variant.

Example:

```
dreamkeras compare --dataset fashion_mnist --seeds 1 2 3 \\
    --variant "cnn=--model smallcnn" \\
    --variant "chain=--model baseline --width 16" \\
    --common "--epochs 2 --train-subset 5000"
```
"""

import json
import os
import shlex
import shutil

from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.datasets import DATASETS
from dreamkeras_cli.flags import build_parser
from dreamkeras_cli.runner import run_command

# Flags the comparison sets for every run; variants may not set them.
OWN_FLAGS = ("--seed", "--output", "--logdir", "--backend", "--restart", "--overwrite")
SPEC_FILE = "comparison.json"


def parse_variants(texts):
    """`NAME=FLAGS` texts -> ordered dict of name -> list of flags.

    Example:

    ```python
    parse_variants(["chain=--model baseline", "cnn=--model smallcnn"])
    ```
    """
    variants = {}
    for text in texts or ():
        name, sep, flags = text.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
            raise TrainingSetupError(
                f"--variant must be NAME=FLAGS with a name of letters, digits, - and _, "
                f"e.g. --variant 'chain=--model baseline'. Received: {text!r}."
            )
        if name in variants:
            raise TrainingSetupError(f"--variant {name!r} is given twice; names must differ.")
        variants[name] = shlex.split(flags)
    if not variants:
        raise TrainingSetupError(
            "Give the variants to compare: --variant NAME=FLAGS, once per variant."
        )
    return variants


def _check_own_flags(flags, where):
    for flag in flags:
        if flag.split("=")[0] in OWN_FLAGS:
            raise TrainingSetupError(
                f"{where} sets {flag.split('=')[0]}, which the comparison sets for every "
                f"run (seeds with --seeds, files under --output, --backend on compare)."
            )


def _spec(args, variants, common):
    return {
        "dataset": args.dataset,
        "common": common,
        "variants": variants,
    }


def _check_spec(output, spec):
    """Refuses to resume a folder made by a different comparison."""
    path = os.path.join(output, SPEC_FILE)
    if not os.path.exists(path):
        return
    with open(path) as file:
        old = json.load(file)
    if old.get("dataset") != spec["dataset"] or old.get("common") != spec["common"]:
        raise TrainingSetupError(
            f"{output} holds a comparison on {old.get('dataset')} with --common "
            f"{shlex.join(old.get('common', []))!r}; this one differs, so its runs are not "
            f"comparable. Use another --output, or --overwrite to start afresh."
        )
    for name, flags in spec["variants"].items():
        if name in old.get("variants", {}) and old["variants"][name] != flags:
            raise TrainingSetupError(
                f"Variant {name!r} ran in {output} with the flags "
                f"{shlex.join(old['variants'][name])!r}, not {shlex.join(flags)!r}. Give "
                f"the new flags another name, or --overwrite to start afresh."
            )


def run_paths(output, name, seed):
    """The model, report and log folder of one run."""
    model = os.path.join(output, "runs", name, f"seed{seed}.keras")
    return model, model[: -len(".keras")] + ".json", os.path.join(output, "logs", name, f"seed{seed}")


def _load_report(path):
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def _write_hparams(output, name, seed, flags, metrics):
    """One TensorBoard HParams run per (variant, seed), with its figures."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    logdir = os.path.join(output, "hparams", f"{name}_seed{seed}")
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        hp.hparams({"variant": name, "seed": seed, "flags": shlex.join(flags)})
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and value is not None:
                tf.summary.scalar(f"compare/{key}", value, step=0)
    writer.flush()
    writer.close()


def write_results(output, spec, seeds, metric, show=True, reference=None):
    """Reads the finished runs' reports; writes the table, JSON and plot.

    Returns:
        The summary dict (`dreamkeras.tuning.comparison.summarize`).
    """
    from dreamkeras.tuning import comparison
    from dreamkeras.utils import atomic

    runs = []
    for name, flags in spec["variants"].items():
        for seed in seeds:
            report = _load_report(run_paths(output, name, seed)[1])
            if report is not None:
                runs.append({"variant": name, "seed": seed, **comparison.run_metrics(report)})
    summary = comparison.summarize(
        runs, list(spec["variants"]), metric=metric, reference=reference
    )
    flags = {name: shlex.join(value) for name, value in spec["variants"].items()}
    title = f"{spec['dataset']}, seeds {' '.join(map(str, seeds))}"
    table = comparison.markdown_table(summary, flags)
    text = (
        f"# Comparison on {spec['dataset']}\n\n{len(runs)} finished runs; seeds "
        f"{', '.join(map(str, seeds))}; flags of every variant: "
        f"`{shlex.join(spec['common'])}`; figure: {metric} (selected on validation "
        f"unless it says test_accuracy). Paired differences are per seed against "
        f"{summary['reference']}, with a t 95% confidence interval.\n\n{table}"
    )
    with atomic.replacing(os.path.join(output, "results.md")) as temporary:
        with open(temporary, "w") as file:
            file.write(text)
    with atomic.replacing(os.path.join(output, "results.json")) as temporary:
        with open(temporary, "w") as file:
            json.dump({"spec": spec, "seeds": seeds, "runs": runs, "summary": summary},
                      file, indent=2)
    if runs:
        comparison.plot_summary(summary, os.path.join(output, "results.png"), title=title)
    if show:
        print(table, flush=True)
    return summary


def _run_all(args, spec, output, seeds, callbacks):
    import keras

    from dreamkeras.tuning import comparison
    from dreamkeras_cli.commands import training_app

    for seed in seeds:
        for name, flags in spec["variants"].items():
            model_path, report_path, logdir = run_paths(output, name, seed)
            if _load_report(report_path) is not None:
                print(f"compare: {name} seed {seed} finished earlier; skipped.", flush=True)
                continue
            argv = spec["common"] + flags + [
                "--seed", str(seed), "--output", model_path, "--logdir", logdir,
                "--backend", keras.backend.backend(),
            ]
            if os.path.exists(model_path):
                # A run killed between its final model and its report.
                argv.append("--overwrite")
            print(f"compare: {name} seed {seed}: {shlex.join(argv)}", flush=True)
            keras.utils.clear_session(free_memory=True)
            status = training_app(spec["dataset"], argv, callbacks=callbacks)
            if status != 0:
                raise TrainingSetupError(
                    f"The run of {name!r} with seed {seed} failed (see above). Fix its "
                    f"flags and run the same command again: finished runs are kept."
                )
            report = _load_report(report_path)
            _write_hparams(output, name, seed, spec["common"] + flags,
                           comparison.run_metrics(report))
            write_results(output, spec, seeds, args.metric, show=False,
                          reference=args.reference)


def compare_app(argv=None, callbacks=None, prog=None):
    """Runs `dreamkeras compare`; returns the exit status.

    Args:
        argv: list of str or None (`sys.argv[1:]`).
        callbacks: list of extra `keras.callbacks.Callback` for every run.
        prog: str or None. Program name for `--help` and messages.

    Example:

    ```python
    compare_app(["--variant", "cnn=--model smallcnn", "--seeds", "1", "2",
                 "--common", "--fast-dev-run"])
    ```
    """
    description = (
        "Trains each --variant once per seed with the same data, splits and budget, and "
        "writes a table (mean, standard deviation, paired differences with a 95% "
        "confidence interval) as Markdown and JSON, a PNG plot and TensorBoard HParams. "
        "Rerunning the same command resumes: finished runs are skipped."
    )

    def prepare(args, command):
        from dreamkeras_cli.commands import run_config

        if args.dataset not in DATASETS:
            raise TrainingSetupError(
                f"--dataset must be one of {sorted(DATASETS)}. Received: {args.dataset!r}."
            )
        variants = parse_variants(args.variant)
        if args.reference is not None and args.reference not in variants:
            raise TrainingSetupError(
                f"--reference {args.reference!r} is not a variant; one of {list(variants)}."
            )
        common = shlex.split(args.common or "")
        _check_own_flags(common, "--common")
        seeds = list(dict.fromkeys(args.seeds))
        for name, flags in variants.items():
            _check_own_flags(flags, f"--variant {name}")
            try:  # Every variant's flags are checked before anything trains.
                run_config(args.dataset, common + flags)
            except SystemExit:
                raise TrainingSetupError(
                    f"--variant {name}: the {args.dataset} app refused the flags "
                    f"{shlex.join(common + flags)!r} (its message is above)."
                ) from None
        output = args.output or os.path.join("comparisons", args.dataset)
        if args.overwrite and os.path.exists(output) and not args.report_only:
            shutil.rmtree(output)
        spec = _spec(args, variants, common)
        _check_spec(output, spec)
        title = (
            f"dreamkeras compare: {len(variants)} variant(s) x {len(seeds)} seed(s) on "
            f"{args.dataset}, into {output}."
        )

        def run():
            from dreamkeras.utils import atomic

            os.makedirs(output, exist_ok=True)
            if not args.report_only:
                old = _load_report(os.path.join(output, SPEC_FILE)) or {}
                merged = {**spec, "variants": {**old.get("variants", {}), **variants}}
                with atomic.replacing(os.path.join(output, SPEC_FILE)) as temporary:
                    with open(temporary, "w") as file:
                        json.dump(merged, file, indent=2)
                _run_all(args, spec, output, seeds, callbacks)
            write_results(output, spec, seeds, args.metric, reference=args.reference)
            print(f"Wrote {os.path.join(output, 'results.md')} (and .json, .png); "
                  f"tensorboard --logdir {os.path.join(output, 'hparams')} shows the "
                  f"HParams table.", flush=True)

        return title, run

    return run_command(
        "compare", argv, prog,
        lambda p: build_parser("compare", prog=p, description=description), prepare,
    )
