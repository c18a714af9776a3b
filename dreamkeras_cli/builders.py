"""Builds the typed configurations from parsed flags, checking every value.

Each builder checks the flags' values (one-line `TrainingSetupError`s that
name the flag and the fix), applies `--fast-dev-run`'s settings (recording
what they replace) and makes the output paths absolute. Standard library
only: the checks run before any data is read or model built, and before
the heavy imports.
"""

import dataclasses
import os

from dreamkeras_cli.config import Data
from dreamkeras_cli.config import Files
from dreamkeras_cli.config import Hardware
from dreamkeras_cli.config import ImageAugment
from dreamkeras_cli.config import MAEModel
from dreamkeras_cli.config import Optimizer
from dreamkeras_cli.config import RunConfig
from dreamkeras_cli.config import Schedule
from dreamkeras_cli.config import TextAugment
from dreamkeras_cli.config import TextModel
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.config import VisionModel
from dreamkeras_cli.datasets import PRETRAIN_NATIVE_SHAPE

# The reference implementation's MAE masks 75% of the patches (in training
# and, unlike ours, at inference too).
REFERENCE_MASK_RATIO = 0.75
FAST_DEV_STEPS = 2
FAST_DEV_BATCH = 8
FAST_DEV_EPOCHS = 2


def check(checks):
    """Raises `TrainingSetupError` with the message of the first failed `(ok, message)`."""
    for ok, message in checks:
        if not ok:
            raise TrainingSetupError(message)


def check_writable(path, flag):
    """Raises unless `path`'s folder exists or can be created, and is writable.

    Example:

    ```python
    check_writable("/tmp/runs/x/model.keras", "--output")
    ```
    """
    path = os.path.abspath(os.path.expanduser(path))
    wanted = os.path.dirname(path.rstrip(os.sep)) or os.sep
    folder = wanted
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise TrainingSetupError(
            f"{flag} {path!r} cannot be written: the folder {wanted!r} cannot be created "
            f"because {folder!r} is a file. Pass {flag} in a folder you can write."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrainingSetupError(
            f"{flag} {path!r} cannot be written: {folder!r} is not a writable folder. "
            f"Pass {flag} somewhere you can write."
        )


# What the messages call each dataset; those in NEEDS_DATA_DIR have no default
# folder and no download.
DATA_NAMES = {
    "tiny_imagenet": "Tiny ImageNet", "imagenet": "ImageNet", "image_folder": "Image folder",
    "text_folder": "A text folder", "fashion_mnist": "Fashion-MNIST",
}
NEEDS_DATA_DIR = ("tiny_imagenet", "imagenet", "image_folder", "text_folder")


def check_data_dir(dataset, data_dir, default=None, fast=False, flag="--data-dir"):
    """Checks `--data-dir` before anything is loaded: a folder, and given when needed.

    A fast dev run reads no data: it checks only a folder given explicitly.

    Example:

    ```python
    check_data_dir("image_folder", "~/photos")
    ```
    """
    what = DATA_NAMES.get(dataset, f"The dataset {dataset!r}")
    if data_dir is None:
        if dataset in NEEDS_DATA_DIR and not fast:
            raise TrainingSetupError(f"{what} needs a local copy: pass {flag} DIR.")
        return
    if fast and data_dir == default:
        return
    path = os.path.expanduser(data_dir)
    if os.path.isfile(path):
        raise TrainingSetupError(
            f"{what}: {path!r} is a file, not a folder. Pass {flag} with the folder that "
            f"holds the data."
        )
    if not os.path.isdir(path):
        raise TrainingSetupError(
            f"{what}: the data directory {path!r} does not exist. Pass {flag} with an "
            f"existing directory."
        )


def check_data_flags(args, dataset, default=None):
    """The apps' data checks before the backend starts: `--data-dir`, `--yelp5`.

    Building a configuration (`dreamkeras_cli.commands.run_config`) does not
    look at the disk; the apps call this first, so that a missing or wrong
    data folder is one error line before any import, data or model.

    Example:

    ```python
    check_data_flags(args, "image_folder")
    ```
    """
    fast = getattr(args, "fast_dev_run", False)
    check_data_dir(dataset, args.data_dir, default, fast=fast)
    if getattr(args, "yelp5", None):
        check_data_dir("yelp5", args.yelp5, fast=fast, flag="--yelp5")


def check_encoder_path(encoder):
    """Refuses an `--encoder` that names a local path that does not exist.

    Preset names (`mae-tiny-32`, `roberta_base_en`) and handles
    (`hf://...`, `kaggle://...`) pass; a value with a path separator, or
    starting with `.` or `~`, must be an existing folder.
    """
    if not encoder or "://" in encoder:
        return
    if os.sep in encoder or "/" in encoder or encoder.startswith((".", "~")):
        path = os.path.expanduser(encoder)
        if not os.path.exists(path):
            raise TrainingSetupError(
                f"--encoder {encoder!r}: no such folder. Pass a local preset folder, a "
                f"preset name or a handle (hf://ORG/MODEL, kaggle://...)."
            )


def _optional_positive(args, name, flag):
    value = getattr(args, name, None)
    return (
        value is None or value >= 1,
        f"{flag} must be at least 1, got {value} (leave it out for all).",
    )


def check_recipe(args):
    """Checks the schedule, loss and validation flags of the classifiers."""
    check([
        (
            args.warmup_epochs is None or args.warmup_epochs >= 0,
            f"--warmup-epochs must be >= 0, got {args.warmup_epochs}.",
        ),
        (
            args.warmup_epochs is None or args.warmup_epochs < args.epochs,
            f"--warmup-epochs ({args.warmup_epochs}) must be shorter than --epochs "
            f"({args.epochs}).",
        ),
        (args.lr_step_epochs > 0, f"--lr-step-epochs must be positive, got {args.lr_step_epochs}."),
        (
            0 < args.lr_step_factor <= 1,
            f"--lr-step-factor must be in (0, 1], got {args.lr_step_factor}.",
        ),
        (
            0 <= args.label_smoothing < 1,
            f"--label-smoothing must be in [0, 1), got {args.label_smoothing}.",
        ),
        (
            0 <= args.validation_split < 1,
            f"--validation-split must be in [0, 1), got {args.validation_split}.",
        ),
        (
            args.patience is None or args.patience >= 1,
            f"--patience must be at least 1, got {args.patience}.",
        ),
        (
            not (args.patience and args.validation_split == 0),
            "--patience stops on the validation accuracy; it needs --validation-split "
            "above 0.",
        ),
    ])


def check_common(args):
    """Checks the flags every training app shares (`--epochs`, `--batch-size`...)."""
    check([
        (args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}."),
        (args.batch_size >= 2, f"--batch-size must be at least 2, got {args.batch_size}."),
        (args.lr > 0, f"--lr must be positive, got {args.lr}."),
        (args.weight_decay >= 0, f"--weight-decay must be >= 0, got {args.weight_decay}."),
        _optional_positive(args, "steps_per_epoch", "--steps-per-epoch"),
        _optional_positive(args, "eval_steps", "--eval-steps"),
        _optional_positive(args, "train_subset", "--train-subset"),
        _optional_positive(args, "eval_subset", "--eval-subset"),
        (
            not (args.resume and args.restart),
            "--resume and --restart exclude each other; pass one of them.",
        ),
    ])


def check_vision_model(args):
    """Checks the vision model flags (shared by the apps, tuner and benchmark)."""
    check([
        (1 <= args.blocks <= 4, f"--blocks must be 1 to 4, got {args.blocks}."),
        (args.width >= 1, f"--width must be positive, got {args.width}."),
        (
            args.mask_ratio is None or 0 <= args.mask_ratio < 1,
            f"--mask-ratio must be in [0, 1), got {args.mask_ratio}.",
        ),
        (
            not (getattr(args, "architecture", "ours") == "reference"
                 and args.model == "baseline"),
            "--architecture reference builds the reference's SleepNet or DreamNet; "
            "use --model sleepnet or dreamnet (the baseline is ours only).",
        ),
        (
            args.image_size is None or args.image_size >= 8,
            f"--image-size must be at least 8, got {args.image_size}.",
        ),
        (0 <= args.dropout < 1, f"--dropout must be in [0, 1), got {args.dropout}."),
    ])


def _check_image_augment(args):
    check([
        (args.mixup_alpha >= 0, f"--mixup-alpha must be >= 0, got {args.mixup_alpha}."),
        (
            0 <= args.randaugment_magnitude <= 1,
            f"--randaugment-magnitude must be in [0, 1], got {args.randaugment_magnitude}.",
        ),
    ])


def _check_text(args):
    connected = args.model in ("dreamnet", "sleepnet")
    check([
        (
            1 <= args.blocks <= (4 if connected else 64),
            f"--blocks must be 1 to 4 for --model {args.model}, got {args.blocks}."
            if connected
            else f"--blocks must be positive, got {args.blocks}.",
        ),
        (args.width >= 1, f"--width must be positive, got {args.width}."),
        (args.block_depth >= 1, f"--block-depth must be positive, got {args.block_depth}."),
        _optional_positive(args, "embedding_dim", "--embedding-dim"),
        (
            args.max_length >= 3,
            f"--max-length must be at least 3 (two special tokens and a word), "
            f"got {args.max_length}.",
        ),
        (
            0 < args.augment_rate <= 1,
            f"--augment-rate must be in (0, 1], got {args.augment_rate}.",
        ),
        (
            args.dropout is None or 0 <= args.dropout < 1,
            f"--dropout must be in [0, 1), got {args.dropout}.",
        ),
        (
            not (args.embedding_dim is not None and args.embedding == "encoder" and connected),
            "--embedding encoder copies the encoder's token embeddings (their "
            "width); --embedding-dim needs --embedding random.",
        ),
    ])


def _files(args, output, logdir, preset=False, fast=False):
    """The run's absolute paths; a fast dev run replaces its own default outputs."""
    given = args.output
    output = os.path.abspath(os.path.expanduser(given or output))
    if not preset and not output.endswith(".keras"):
        raise TrainingSetupError(
            f"--output must end with .keras (the Keras model format). "
            f"Received: {given!r}."
        )
    logdir = os.path.abspath(os.path.expanduser(args.logdir or logdir))
    check_writable(output, "--output")
    check_writable(os.path.join(logdir, "backup"), "--logdir")
    return Files(
        output=output,
        logdir=logdir,
        overwrite=args.overwrite or (fast and not given),
        resume=args.resume,
        restart=args.restart or (fast and not args.logdir),
        preset=preset,
    )


def _classifier_files(args, name, fast):
    if fast:
        tag = f"fast_dev_run_{name}_{args.model}"
    else:
        tag = f"{name}_{args.model}{args.blocks}"
    return _files(args, os.path.join("outputs", tag + ".keras"), os.path.join("runs", tag),
                  fast=bool(fast))


class _FastDevRun:
    """Replaces flag values for `--fast-dev-run` and records what it replaced."""

    def __init__(self, args):
        self.args = args
        self.replaced = []

    def set(self, flag, value):
        asked = getattr(self.args, flag.lstrip("-").replace("-", "_"))
        if asked != value:
            self.replaced.append((flag, asked, value))
        return value


def _schedule(args, fast=None):
    schedule = Schedule(
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        steps_per_epoch=args.steps_per_epoch, eval_steps=getattr(args, "eval_steps", None),
        train_subset=args.train_subset, eval_subset=args.eval_subset,
        verbose=args.verbose,
        validation_split=getattr(args, "validation_split", 0.1),
        patience=getattr(args, "patience", None),
    )
    if fast is None:
        return schedule
    return dataclasses.replace(
        schedule,
        epochs=fast.set("--epochs", min(args.epochs, FAST_DEV_EPOCHS)),
        steps_per_epoch=fast.set("--steps-per-epoch", FAST_DEV_STEPS),
        eval_steps=FAST_DEV_STEPS if hasattr(args, "eval_steps") else None,
        batch_size=fast.set("--batch-size", FAST_DEV_BATCH),
        train_subset=fast.set("--train-subset", None),
        eval_subset=fast.set("--eval-subset", None),
    )


def hardware(args):
    """The `Hardware` section of parsed flags."""
    return Hardware(
        backend=args.backend,
        mixed_precision=getattr(args, "mixed_precision", "none"),
        distribute=getattr(args, "distribute", False),
        debug=getattr(args, "debug", False),
    )


def _optimizer(args):
    return Optimizer(
        lr=args.lr, beta_1=getattr(args, "beta_1", 0.9), beta_2=getattr(args, "beta_2", 0.999),
        epsilon=getattr(args, "epsilon", 1e-5), weight_decay=args.weight_decay,
        warmup_epochs=getattr(args, "warmup_epochs", None),
        lr_schedule=getattr(args, "lr_schedule", "cosine"),
        lr_step_epochs=getattr(args, "lr_step_epochs", 10.0),
        lr_step_factor=getattr(args, "lr_step_factor", 0.1),
        label_smoothing=getattr(args, "label_smoothing", 0.0),
    )


def vision_model(args, fast=None):
    """The `VisionModel` of parsed vision flags (checked).

    Example:

    ```python
    model = vision_model(build_parser("benchmark").parse_args([]))
    ```
    """
    check_vision_model(args)
    architecture = getattr(args, "architecture", "ours")
    mask_ratio = args.mask_ratio
    if mask_ratio is None:
        mask_ratio = REFERENCE_MASK_RATIO if architecture == "reference" else 0.0
    model = VisionModel(
        kind=args.model, architecture=architecture, blocks=args.blocks, chain=args.chain,
        width=args.width, stem=args.stem, encoder=args.encoder, unfreeze=args.unfreeze,
        projection=args.projection, mask_ratio=mask_ratio,
        stop_gradient=args.stop_gradient, remat=args.remat,
        xla_cpu_kernels=getattr(args, "xla_cpu_kernels", False),
        image_size=args.image_size, dropout=args.dropout,
    )
    if fast is None:
        return model
    return dataclasses.replace(
        model,
        encoder=fast.set(
            "--encoder", "mae-tiny-32" if model.uses_autoencoder else "vit-tiny-32"
        ),
        width=fast.set("--width", 8),
        image_size=fast.set("--image-size", None),
    )


def image_run_config(args, info, command="dreamkeras"):
    """The `RunConfig` of a vision app's parsed flags.

    Args:
        args: `argparse.Namespace` from the vision parser.
        info: `dreamkeras_cli.datasets.DatasetInfo` of the app.
        command: str. The command, for messages.

    Returns:
        A `RunConfig` with `task="image"`.

    Raises:
        TrainingSetupError: a value out of range, or a bad `--output`.

    Example:

    ```python
    args = build_parser("vision").parse_args(["--fast-dev-run"])
    config = image_run_config(args, DATASETS["cifar100"])
    ```
    """
    check_common(args)
    check_recipe(args)
    _check_image_augment(args)
    check_encoder_path(args.encoder)
    fast = _FastDevRun(args) if args.fast_dev_run else None
    model = vision_model(args, fast)
    return RunConfig(
        task="image",
        data=Data(
            dataset=info.name, data_dir=args.data_dir, num_classes=info.num_classes,
            native_shape=info.native_shape,
        ),
        model=model,
        optimizer=_optimizer(args),
        schedule=_schedule(args, fast),
        files=_classifier_files(args, info.name, fast),
        hardware=hardware(args),
        augment=ImageAugment(
            randaugment=args.randaugment, magnitude=args.randaugment_magnitude,
            mixup_alpha=args.mixup_alpha,
        ),
        fast_dev_run=bool(fast),
        replaced=tuple(fast.replaced) if fast else (),
        command=command,
    )


def text_run_config(args, info, command="dreamkeras"):
    """The `RunConfig` of a text app's parsed flags (`task="text"`).

    With `--fast-dev-run` the encoder is a tiny random RoBERTa preset that
    the run writes into its log folder (`logdir/fast_dev_run_random_roberta`).

    Example:

    ```python
    args = build_parser("text").parse_args(["--model", "lstm"])
    config = text_run_config(args, DATASETS["imdb"])
    ```
    """
    check_common(args)
    check_recipe(args)
    _check_text(args)
    check_encoder_path(args.encoder)
    fast = _FastDevRun(args) if args.fast_dev_run else None
    files = _classifier_files(args, info.name, fast)
    model = TextModel(
        kind=args.model, blocks=args.blocks, width=args.width,
        block_depth=args.block_depth, embedding=args.embedding,
        embedding_dim=args.embedding_dim, encoder=args.encoder,
        token_mode=args.token_mode, unfreeze=args.unfreeze,
        max_length=args.max_length, dropout=args.dropout,
    )
    if fast:
        model = dataclasses.replace(
            model,
            encoder=fast.set(
                "--encoder", os.path.join(files.logdir, "fast_dev_run_random_roberta")
            ),
            width=fast.set("--width", 8),
            embedding_dim=fast.set("--embedding-dim", None),
            max_length=fast.set("--max-length", 16),
        )
    return RunConfig(
        task="text",
        data=Data(
            dataset=info.name, data_dir=args.data_dir,
            yelp5=getattr(args, "yelp5", None), num_classes=info.num_classes,
        ),
        model=model,
        optimizer=_optimizer(args),
        schedule=_schedule(args, fast),
        files=files,
        hardware=hardware(args),
        augment=TextAugment(augment=args.augment, rate=args.augment_rate),
        fast_dev_run=bool(fast),
        replaced=tuple(fast.replaced) if fast else (),
        command=command,
    )


def mae_run_config(args, command="dreamkeras pretrain-mae"):
    """The `RunConfig` of the MAE pretraining app's parsed flags (`task="mae"`).

    Example:

    ```python
    config = mae_run_config(build_parser("mae").parse_args(["--fast-dev-run"]))
    ```
    """
    check_common(args)
    check([
        (args.warmup_epochs >= 0, f"--warmup-epochs must be >= 0, got {args.warmup_epochs}."),
        (
            0 < args.mask_ratio < 1,
            f"--mask-ratio must be in (0, 1) (the loss is on masked patches), "
            f"got {args.mask_ratio}.",
        ),
        (
            args.image_size is None or args.image_size >= 8,
            f"--image-size must be at least 8, got {args.image_size}.",
        ),
    ])
    check_encoder_path(args.encoder)
    fast = _FastDevRun(args) if args.fast_dev_run else None
    tag = args.dataset.replace("/", "_").replace(":", "_")
    if fast:
        output, logdir = "fast_dev_run_mae", "fast_dev_run_pretrain_mae"
    else:
        output, logdir = f"mae_{tag}", f"pretrain_mae_{tag}"
    files = _files(
        args, os.path.join("outputs", output), os.path.join("runs", logdir),
        preset=True, fast=bool(fast),
    )
    model = MAEModel(
        encoder=args.encoder, image_size=args.image_size, mask_ratio=args.mask_ratio,
        norm_pix_loss=args.norm_pix_loss, flip=args.flip,
    )
    if fast:
        model = dataclasses.replace(
            model, encoder=fast.set("--encoder", "mae-tiny-32"),
            image_size=fast.set("--image-size", None),
        )
    return RunConfig(
        task="mae",
        data=Data(
            dataset=args.dataset, data_dir=args.data_dir, num_classes=1,
            native_shape=PRETRAIN_NATIVE_SHAPE,
        ),
        model=model,
        optimizer=_optimizer(args),
        schedule=_schedule(args, fast),
        files=files,
        hardware=hardware(args),
        fast_dev_run=bool(fast),
        replaced=tuple(fast.replaced) if fast else (),
        command=command,
    )
