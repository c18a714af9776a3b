"""Builds the typed configurations from parsed flags, checking every value.

Each builder checks the flags' values (one-line `TrainingSetupError`s that
name the flag and the fix), applies `--fast-dev-run`'s settings (recording
what they replace) and makes the output paths absolute. Standard library
only: the checks run before any data is read or model built, and before
the heavy imports.
"""

import dataclasses
import os

from dreamkeras_cli.checks import check_image_augment
from dreamkeras_cli.checks import check_text
from dreamkeras_cli.checks import check
from dreamkeras_cli.checks import check_common
from dreamkeras_cli.checks import check_encoder_path
from dreamkeras_cli.checks import check_recipe
from dreamkeras_cli.checks import check_vision_model
from dreamkeras_cli.checks import check_writable
from dreamkeras_cli.config import Data
from dreamkeras_cli.config import Files
from dreamkeras_cli.config import Hardware
from dreamkeras_cli.config import ImageAugment
from dreamkeras_cli.config import MAEModel
from dreamkeras_cli.config import MLMModel
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


def _run_config(args, fast, command, **fields):
    """A `RunConfig` with the fields that every app fills the same way."""
    return RunConfig(
        optimizer=_optimizer(args),
        schedule=_schedule(args, fast),
        hardware=hardware(args),
        fast_dev_run=bool(fast),
        replaced=tuple(fast.replaced) if fast else (),
        command=command,
        **fields,
    )


def _pretrain_files(args, kind, tag, fast):
    """A pretraining run's files: the preset `outputs/{kind}_{tag}`."""
    if fast:
        output, logdir = f"fast_dev_run_{kind}", f"fast_dev_run_pretrain_{kind}"
    else:
        output, logdir = f"{kind}_{tag}", f"pretrain_{kind}_{tag}"
    return _files(
        args, os.path.join("outputs", output), os.path.join("runs", logdir),
        preset=True, fast=bool(fast),
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
    mesh = getattr(args, "mesh", None)
    num_processes = getattr(args, "num_processes", None)
    if num_processes is None and os.environ.get("JAX_NUM_PROCESSES", "").isdigit():
        num_processes = int(os.environ["JAX_NUM_PROCESSES"])
    return Hardware(
        backend=args.backend,
        mixed_precision=getattr(args, "mixed_precision", "none"),
        # A mesh or several processes imply --distribute.
        distribute=bool(getattr(args, "distribute", False) or mesh or (num_processes or 1) > 1),
        debug=getattr(args, "debug", False),
        mesh=mesh,
        coordinator_address=getattr(args, "coordinator_address", None),
        num_processes=getattr(args, "num_processes", None),
        process_id=getattr(args, "process_id", None),
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
        head=getattr(args, "head", "auto"),
        encoder_input=args.encoder_input,
        inference_mask_ratio=getattr(args, "inference_mask_ratio", 0.0),
        keep_visible=getattr(args, "keep_visible", False),
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
    check_image_augment(args)
    check_encoder_path(args.encoder)
    fast = _FastDevRun(args) if args.fast_dev_run else None
    model = vision_model(args, fast)
    return _run_config(
        args, fast, command,
        task="image",
        data=Data(
            dataset=info.name, data_dir=args.data_dir, num_classes=info.num_classes,
            native_shape=info.native_shape,
        ),
        model=model,
        files=_classifier_files(args, info.name, fast),
        augment=ImageAugment(
            randaugment=args.randaugment, magnitude=args.randaugment_magnitude,
            mixup_alpha=args.mixup_alpha,
        ),
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
    check_text(args)
    check_encoder_path(args.encoder)
    fast = _FastDevRun(args) if args.fast_dev_run else None
    files = _classifier_files(args, info.name, fast)
    model = TextModel(
        kind=args.model, blocks=args.blocks, chain=args.chain, width=args.width,
        block_depth=args.block_depth, embedding=args.embedding,
        embedding_dim=args.embedding_dim, encoder=args.encoder,
        token_mode=args.token_mode, unfreeze=args.unfreeze,
        max_length=args.max_length, dropout=args.dropout, charcnn_size=args.charcnn_size,
    )
    if fast:
        model = dataclasses.replace(
            model,
            encoder=fast.set(
                "--encoder", os.path.join(files.logdir, "fast_dev_run_random_roberta")
            ),
            width=fast.set("--width", 8),
            embedding_dim=fast.set("--embedding-dim", None),
            # The CharCNN (chain of three blocks, or baseline) needs 27 positions.
            max_length=fast.set("--max-length", 32 if model.uses_charcnn else 16),
        )
    return _run_config(
        args, fast, command,
        task="text",
        data=Data(
            dataset=info.name, data_dir=args.data_dir,
            yelp5=getattr(args, "yelp5", None), num_classes=info.num_classes,
        ),
        model=model,
        files=files,
        augment=TextAugment(augment=args.augment, rate=args.augment_rate),
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
    files = _pretrain_files(args, "mae", tag, fast)
    model = MAEModel(
        encoder=args.encoder, image_size=args.image_size, mask_ratio=args.mask_ratio,
        norm_pix_loss=args.norm_pix_loss, flip=args.flip,
    )
    if fast:
        model = dataclasses.replace(
            model, encoder=fast.set("--encoder", "mae-tiny-32"),
            image_size=fast.set("--image-size", None),
        )
    return _run_config(
        args, fast, command,
        task="mae",
        data=Data(
            dataset=args.dataset, data_dir=args.data_dir, num_classes=1,
            native_shape=PRETRAIN_NATIVE_SHAPE,
        ),
        model=model,
        files=files,
    )


def mlm_run_config(args, command="dreamkeras pretrain-mlm"):
    """The `RunConfig` of the MLM pretraining command's flags (`task="mlm"`).

    `data.data_dir` is the `--corpus` folder; a fast dev run reads none (it
    generates its texts).

    Example:

    ```python
    config = mlm_run_config(build_parser("mlm").parse_args(["--fast-dev-run"]))
    ```
    """
    check_common(args)
    fast = _FastDevRun(args) if args.fast_dev_run else None
    check([
        (
            bool(args.corpus) or bool(fast),
            "--corpus DIR is required: a folder of .txt files to pretrain on.",
        ),
        (args.warmup_epochs >= 0, f"--warmup-epochs must be >= 0, got {args.warmup_epochs}."),
        (
            0 < args.mask_ratio < 1,
            f"--mask-ratio must be in (0, 1) (the share of tokens predicted), got "
            f"{args.mask_ratio}.",
        ),
        (
            0 < args.validation_split < 1,
            f"--validation-split must be in (0, 1) (the held-out texts measure the "
            f"accuracy), got {args.validation_split}.",
        ),
        (
            args.hidden_dim % args.num_heads == 0,
            f"--num-heads {args.num_heads} must divide --hidden-dim {args.hidden_dim}.",
        ),
        (
            3 <= args.max_length <= args.max_sequence_length,
            f"--max-length must be from 3 to --max-sequence-length "
            f"({args.max_sequence_length}), got {args.max_length}.",
        ),
    ])
    corpus = os.path.abspath(os.path.expanduser(args.corpus)) if args.corpus else None
    tag = os.path.basename(corpus.rstrip(os.sep)) if corpus else "corpus"
    files = _pretrain_files(args, "mlm", tag, fast)
    model = MLMModel(
        words=args.words, hidden_dim=args.hidden_dim, num_layers=args.num_layers,
        num_heads=args.num_heads, max_sequence_length=args.max_sequence_length,
        max_length=args.max_length, mask_ratio=args.mask_ratio,
    )
    if fast:
        model = dataclasses.replace(
            model, hidden_dim=fast.set("--hidden-dim", 16),
            num_layers=fast.set("--num-layers", 1), num_heads=fast.set("--num-heads", 2),
            max_sequence_length=fast.set("--max-sequence-length", 32),
            max_length=fast.set("--max-length", 16),
        )
    return _run_config(
        args, fast, command,
        task="mlm",
        data=Data(dataset="corpus", data_dir=None if fast else corpus),
        model=model,
        files=files,
    )
