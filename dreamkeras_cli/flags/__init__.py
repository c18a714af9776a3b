"""Every command-line flag of the apps, the tuner and the benchmark, defined once.

`FLAGS` maps a key to a `Flag`. A command (`COMMANDS`) lists, per argument
group, the keys of the flags it takes; `build_parser` turns the list into an
`argparse.ArgumentParser`. Where a flag means slightly different things to
different command families (`--lr` is Adam's rate for the classifiers and
AdamW's peak rate for MAE pretraining), its `help`, `default` or `choices` is
a dict keyed by family, still in the one definition.

Standard library only: the apps parse their flags (and answer `--help`)
before TensorFlow, JAX, PyTorch or Keras is imported.
"""

import argparse

from dreamkeras_cli.flags.base import BACKENDS as BACKENDS
from dreamkeras_cli.flags.base import Flag as Flag
from dreamkeras_cli.flags.model import MODEL_FLAGS
from dreamkeras_cli.flags.run import RUN_FLAGS
from dreamkeras_cli.flags.tools import TOOL_FLAGS

FLAGS = {**RUN_FLAGS, **MODEL_FLAGS, **TOOL_FLAGS}

BACKEND_GROUP = (
    "backend and hardware",
    ("backend", "mixed_precision", "distribute", "mesh", "coordinator_address",
     "num_processes", "process_id", "debug"),
)
# Data parallelism over the local devices and over processes (hosts).
DATA_PARALLEL = ("distribute", "coordinator_address", "num_processes", "process_id")
FILE_FLAGS = ("data_dir", "output", "logdir", "overwrite", "resume", "restart", "fast_dev_run")
RUN_LENGTH = (
    "seed", "steps_per_epoch", "eval_steps", "train_subset", "eval_subset", "verbose",
)
ADAM = ("epochs", "batch_size", "lr", "beta_1", "beta_2", "epsilon", "weight_decay")
# The schedule, the loss and model selection of the classifiers.
RECIPE = (
    "lr_schedule", "warmup_epochs", "lr_step_epochs", "lr_step_factor", "label_smoothing",
    "validation_split", "patience",
)
VISION_MODEL = (
    "model", "architecture", "blocks", "chain", "width", "stem", "encoder", "unfreeze",
    "projection", "mask_ratio", "stop_gradient", "remat", "xla_cpu_kernels", "image_size",
    "dropout", "head", "encoder_input", "inference_mask_ratio", "keep_visible",
)
IMAGE_AUGMENT = ("randaugment", "randaugment_magnitude", "mixup_alpha")
TEXT_AUGMENT = ("augment", "augment_rate")
TEXT_MODEL = (
    "model", "blocks", "chain", "width", "block_depth", "embedding", "embedding_dim", "encoder",
    "token_mode", "unfreeze", "max_length", "dropout", "charcnn_size",
)
SEARCH = (
    "dataset", "data_dir", "tuner", "search_space", "values", "max_trials",
    "executions_per_trial", "directory", "project_name", "overwrite", "num_best",
    "tuner_seed", "report_only",
)
PRESET = ("words", "hidden_dim", "num_layers", "num_heads", "max_sequence_length", "seed")

# Command family -> argument groups (title, flag keys).
COMMANDS = {
    "vision": (
        BACKEND_GROUP,
        ("model", VISION_MODEL),
        ("training", ADAM + RECIPE + IMAGE_AUGMENT + RUN_LENGTH),
        ("data and files", FILE_FLAGS),
    ),
    "text": (
        BACKEND_GROUP,
        ("model", TEXT_MODEL),
        ("training", ADAM + RECIPE + TEXT_AUGMENT + RUN_LENGTH),
        ("data and files", FILE_FLAGS),
    ),
    "mae": (
        ("backend and hardware", ("backend",) + DATA_PARALLEL + ("debug",)),
        ("data", ("dataset", "data_dir", "train_subset", "eval_subset")),
        ("model", ("encoder", "image_size", "mask_ratio", "norm_pix_loss")),
        (
            "training",
            ("epochs", "batch_size", "lr", "warmup_epochs", "weight_decay", "flip",
             "seed", "steps_per_epoch", "verbose"),
        ),
        ("files", ("output", "logdir", "overwrite", "resume", "restart", "fast_dev_run")),
    ),
    "mlm": (
        ("backend and hardware", ("backend",) + DATA_PARALLEL + ("debug",)),
        ("data", ("corpus", "validation_split", "train_subset", "eval_subset")),
        ("model", ("words", "hidden_dim", "num_layers", "num_heads", "max_sequence_length",
                   "max_length", "mask_ratio")),
        (
            "training",
            ("epochs", "batch_size", "lr", "warmup_epochs", "weight_decay", "seed",
             "steps_per_epoch", "verbose"),
        ),
        ("files", ("output", "logdir", "overwrite", "resume", "restart", "fast_dev_run")),
    ),
    "search": (
        ("search", SEARCH),
        ("backend and hardware", ("backend", "mixed_precision", "debug")),
        ("model", VISION_MODEL),
        ("training", ADAM + RECIPE + IMAGE_AUGMENT + RUN_LENGTH),
    ),
    "search-text": (
        ("search", SEARCH),
        ("backend and hardware", ("backend", "mixed_precision", "debug")),
        ("model", TEXT_MODEL),
        ("training", ADAM + RECIPE + TEXT_AUGMENT + RUN_LENGTH),
    ),
    "benchmark": (
        ("backend and hardware", ("backend", "mixed_precision", "debug")),
        (
            "model",
            ("model", "architecture", "blocks", "encoder", "image_size", "chain", "width",
             "stem", "projection", "mask_ratio", "stop_gradient", "remat", "xla_cpu_kernels",
             "encoder_input", "num_classes"),
        ),
        (
            "measurement",
            ("batch_size", "loop", "steps_per_execution", "steps", "warmup",
             "skip_inference", "keep_freed_memory", "compare_xla_cpu_kernels", "torch_compile",
             "torch_export", "output"),
        ),
    ),
    "compare": (
        ("comparison", ("dataset", "variant", "seeds", "common", "reference", "compare_metric", "output",
                        "overwrite", "report_only")),
        ("backend and hardware", ("backend", "debug")),
    ),
    "check-gpu": (
        ("check", ("backends", "precisions", "steps", "batch_size", "output")),
        ("backend and hardware", ("debug",)),
    ),
    "dream": (
        ("dream grid", ("saved_model", "images", "grid_output", "num_images", "rescale")),
        ("backend and hardware", ("backend", "debug")),
    ),
    "text-preset": (
        ("preset", ("corpus", "preset_output", "overwrite") + PRESET),
        ("backend and hardware", ("backend", "debug")),
    ),
    "fortunes": (
        ("corpus", ("fortunes_out", "categories", "fortunes_source", "max_per_class",
                    "test_share", "seed")),
        ("random preset", ("random_preset", "words", "hidden_dim", "num_layers",
                           "num_heads", "max_sequence_length")),
        ("backend and hardware", ("backend", "debug")),
    ),
}
# Flags a command takes although its parser does not show them.
HIDDEN_DEFAULTS = {
    "search": {
        "fast_dev_run": False, "distribute": False, "output": None, "logdir": None,
        "resume": False, "restart": False,
    },
    "search-text": {
        "fast_dev_run": False, "distribute": False, "output": None, "logdir": None,
        "resume": False, "restart": False, "yelp5": None,
    },
    "benchmark": {"fast_dev_run": False, "distribute": False, "dropout": 0.0, "unfreeze": False},
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default once, after its help, where it has one."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        # BooleanOptionalAction already appends its default.
        unset = default is None or default is False or default is argparse.SUPPRESS
        if unset or default == [] or "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)"


def add_flag(container, key, family, **overrides):
    """Adds the flag `key` of `FLAGS` to an argparse parser or group.

    Args:
        container: an `argparse.ArgumentParser` or argument group.
        key: str. A key of `FLAGS`.
        family: str. The command family (`"vision"`, `"text"`, `"mae"`, ...).
        **overrides: `default=` or `help=` for this command.

    Returns:
        The `argparse.Action`.
    """
    flag = FLAGS[key]
    options = dict(
        help=overrides.get("help", flag.resolve("help", family)),
        default=overrides.get("default", flag.resolve("default", family)),
        dest=flag.attribute,
    )
    if flag.kind == "switch":
        options.update(action="store_true", default=bool(options["default"]))
    elif flag.kind == "list":
        options.update(nargs="+", type=flag.type, metavar=flag.metavar)
    elif flag.kind == "toggle":
        options.update(action=argparse.BooleanOptionalAction)
    else:
        if flag.kind == "append":
            options.update(action="append", default=options["default"] or [])
        choices = flag.resolve("choices", family)
        if flag.type is not None:
            options["type"] = flag.type
        if choices is not None:
            options["choices"] = choices
        if flag.metavar:
            options["metavar"] = flag.metavar
    return container.add_argument(*flag.names, **options)


def build_parser(family, prog=None, description=None, extra=None, defaults=None, helps=None):
    """The `argparse.ArgumentParser` of a command family.

    Args:
        family: str. A key of `COMMANDS`.
        prog: str or None. Program name for `--help`.
        description: str or None. Text above the flags.
        extra: optional list of `(group title, flag keys)` added at the end
            (a dataset's own flags, e.g. `("Yelp", ("yelp5",))`).
        defaults: optional dict of flag key -> default for this command
            (e.g. the dataset's `--data-dir`).
        helps: optional dict of flag key -> help for this command (e.g.
            what `--data-dir` means for the dataset).

    Returns:
        An `argparse.ArgumentParser`.

    Example:

    ```python
    parser = build_parser("vision", prog="apps/cifar100.py")
    args = parser.parse_args(["--fast-dev-run"])
    ```
    """
    defaults, helps = defaults or {}, helps or {}
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=HelpFormatter,
        allow_abbrev=True,
    )
    for title, keys in COMMANDS[family] + tuple(extra or ()):
        group = parser.add_argument_group(title)
        for key in keys:
            overrides = {}
            if key in defaults:
                overrides["default"] = defaults[key]
            if key in helps:
                overrides["help"] = helps[key]
            add_flag(group, key, family, **overrides)
    parser.set_defaults(**HIDDEN_DEFAULTS.get(family, {}))
    return parser
