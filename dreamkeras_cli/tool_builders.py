"""Builds the tuner's and the benchmark's configurations from parsed flags.

The same checks as `dreamkeras_cli.builders` (one-line `TrainingSetupError`s
naming the flag), for `SearchConfig` and `BenchmarkConfig`.
"""

import argparse
import os

from dreamkeras_cli.checks import check
from dreamkeras_cli.checks import check_writable
from dreamkeras_cli.builders import hardware
from dreamkeras_cli.builders import image_run_config
from dreamkeras_cli.builders import text_run_config
from dreamkeras_cli.checks import check_text_chain
from dreamkeras_cli.builders import vision_model
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.tool_config import TEXT_HYPERPARAMETERS
from dreamkeras_cli.tool_config import VISION_HYPERPARAMETERS
from dreamkeras_cli.tool_config import BenchmarkConfig
from dreamkeras_cli.tool_config import SearchConfig


def _search_space(text, known=VISION_HYPERPARAMETERS):
    names = list(known) if text == "all" else [
        name.strip() for name in text.split(",") if name.strip()
    ]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise TrainingSetupError(
            f"--search-space: unknown hyperparameter(s) {unknown or text!r}. Choose "
            f"from {','.join(known)} (or 'all')."
        )
    return tuple(names)


def _to_bool(text):
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError(text)


def parse_values(specs, search_space, known=VISION_HYPERPARAMETERS):
    """Parses `--values NAME=V1,V2` into `{name: (typed values)}`.

    Example:

    ```python
    parse_values(["blocks=1,2,3"], ("blocks",))  # {"blocks": (1, 2, 3)}
    ```
    """
    values = {}
    for spec in specs:
        name, _, items = spec.partition("=")
        if name not in known or not items:
            raise TrainingSetupError(
                f"--values takes NAME=V1,V2,... with NAME one of "
                f"{sorted(known)}. Received: {spec!r}."
            )
        if name not in search_space:
            raise TrainingSetupError(
                f"--values {name}=... restricts a hyperparameter that is not "
                f"searched; add {name} to --search-space."
            )
        kind = known[name]
        convert = _to_bool if kind == "bool" else kind
        try:
            values[name] = tuple(convert(item) for item in items.split(","))
        except ValueError:
            raise TrainingSetupError(
                f"--values {spec!r}: the values of {name} must be "
                f"{'true/false' if kind == 'bool' else kind.__name__}."
            ) from None
    return values


def search_config(args, info, command="dreamkeras search"):
    """The `SearchConfig` of the tuner's parsed flags.

    Args:
        args: `argparse.Namespace` from the search parser.
        info: `dreamkeras_cli.datasets.DatasetInfo` of `--dataset`.
        command: str. The command, for messages.

    Returns:
        A `SearchConfig`.

    Example:

    ```python
    search = search_config(args, DATASETS["fashion_mnist"])
    ```
    """
    for flag, value in (
        ("--max-trials", args.max_trials),
        ("--executions-per-trial", args.executions_per_trial),
        ("--num-best", args.num_best),
        ("--patience", args.patience),
    ):
        if value < 1:
            raise TrainingSetupError(f"{flag} must be at least 1, got {value}.")
    if not 0 < args.validation_split < 1:
        raise TrainingSetupError(
            f"--validation-split must be in (0, 1), got {args.validation_split}."
        )
    text = info.family == "text"
    known = TEXT_HYPERPARAMETERS if text else VISION_HYPERPARAMETERS
    search_space = _search_space(args.search_space, known)
    values = parse_values(args.values, search_space, known)
    if args.data_dir is None:
        args = argparse.Namespace(**{**vars(args), "data_dir": info.default_data_dir})
    run = (text_run_config if text else image_run_config)(args, info, command=command)
    if text:
        check_text_search(run.model, search_space, values)
    project_name = args.project_name or f"{info.name}_{args.model}"
    directory = os.path.abspath(os.path.expanduser(args.directory))
    check_writable(os.path.join(directory, project_name, "oracle.json"), "--directory")
    return SearchConfig(
        run=run, tuner=args.tuner, search_space=search_space, values=values,
        max_trials=args.max_trials, executions_per_trial=args.executions_per_trial,
        directory=directory,
        project_name=project_name, overwrite=args.overwrite, patience=args.patience,
        validation_split=args.validation_split, num_best=args.num_best,
        tuner_seed=args.tuner_seed, report_only=args.report_only,
    )


def check_text_search(model, search_space, values):
    """Refuses a text search space that would build impossible trials.

    Every combination of the searched values (and the fixed flags) must be
    a model the text apps accept: `--chain charcnn` has 3 blocks at most,
    `--block-depth` applies to the LSTM chain only, and the connected
    models alone are searched.

    Example:

    ```python
    check_text_search(run.model, ("blocks", "chain"), {"chain": ("lstm",)})
    ```
    """
    if not model.uses_encoder_weights:
        raise TrainingSetupError(
            f"search-text searches the connected models: pass --model sleepnet or "
            f"dreamnet (got --model {model.kind})."
        )

    def possible(name, current, searched_range):
        if name not in search_space:
            return (current,)
        return values.get(name) or searched_range

    chains = possible("chain", model.chain, ("lstm", "textcnn", "charcnn"))
    blocks = possible("blocks", model.blocks, (1, 2, 3, 4))
    depths = possible("block_depth", model.block_depth, (1, 2))
    for chain in chains:
        for count in blocks:
            for depth in depths:
                try:
                    check_text_chain(chain, count, depth, model.max_length)
                except TrainingSetupError as error:
                    raise TrainingSetupError(
                        f"The search space holds a model the text apps refuse ({error}) "
                        f"Restrict it with --values (e.g. --values chain=lstm,textcnn or "
                        f"--values blocks=1,2,3) or drop a name from --search-space."
                    ) from None


def benchmark_config(args, backend=None):
    """The `BenchmarkConfig` of the benchmark's parsed flags.

    Args:
        args: `argparse.Namespace` from the benchmark parser.
        backend: str or None. The backend the run will use (for checks).

    Returns:
        A `BenchmarkConfig`.

    Example:

    ```python
    benchmark = benchmark_config(args, "jax")
    ```
    """
    check([
        (args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}."),
        (args.steps >= 1, f"--steps must be at least 1, got {args.steps}."),
        (args.warmup >= 0, f"--warmup must be >= 0, got {args.warmup}."),
        (
            args.steps_per_execution >= 1,
            f"--steps-per-execution must be at least 1, got {args.steps_per_execution}.",
        ),
        (
            args.steps_per_execution == 1 or args.loop == "fit",
            "--steps-per-execution needs --loop fit.",
        ),
        (
            args.steps_per_execution == 1 or backend != "torch",
            "--steps-per-execution must be 1 with --backend torch (Keras's "
            "PyTorch trainer runs one step per call).",
        ),
        (
            not args.torch_compile or backend in (None, "torch"),
            "--torch-compile is for --backend torch (jax and tensorflow always "
            "compile the steps with XLA).",
        ),
        (
            not args.torch_export or backend in (None, "torch"),
            "--torch-export is for --backend torch (it runs the frozen models as "
            "torch.export graphs).",
        ),
    ])
    return BenchmarkConfig(
        model=vision_model(args),
        hardware=hardware(args),
        num_classes=args.num_classes,
        batch_size=args.batch_size,
        loop=args.loop,
        steps_per_execution=args.steps_per_execution,
        steps=args.steps,
        warmup=args.warmup,
        skip_inference=args.skip_inference,
        keep_freed_memory=args.keep_freed_memory,
        compare_xla_cpu_kernels=args.compare_xla_cpu_kernels,
        torch_compile=args.torch_compile,
        torch_export=args.torch_export,
        output=_checked_output(args.output),
    )


def _checked_output(output):
    if not output:
        return None
    check_writable(output, "--output")
    return os.path.abspath(os.path.expanduser(output))
