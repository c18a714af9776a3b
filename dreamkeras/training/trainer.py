"""The shared training run behind the apps in `apps/`."""

import contextlib
import dataclasses
import datetime
import json
import math
import os
import shutil
import sys
import time

import keras
import numpy as np

from dreamkeras.data import build_pipeline
from dreamkeras.models.factory import build_vision_classifier
from dreamkeras.data import synthetic_dataset
from dreamkeras.data.pipeline import label_error_from
from dreamkeras.training.callbacks import EpochRecorder
from dreamkeras.training.callbacks import HParamsLogger
from dreamkeras.training.callbacks import Throughput
from dreamkeras.training.callbacks import tensorboard_callback
from dreamkeras.training.flops import count_flops
from dreamkeras.utils.memory import release_host_memory
from dreamkeras.utils.profiling import parameter_counts
from dreamkeras.utils.profiling import xla_flops
from dreamkeras.utils.precision import unsupported_policy_reason

NOT_A_REAL_RUN = (
    "=" * 72 + "\n"
    "FAST DEV RUN: this is NOT a real run. Generated random images, a tiny\n"
    "RANDOM-weight encoder ({encoder}), {steps} steps per epoch. The numbers\n"
    "below only show that the pipeline works end to end.\n" + "=" * 72
)


class TrainingSetupError(ValueError):
    """A run cannot start: bad flags, an existing output, no encoder.

    Example:

    ```python
    try:
        dreamkeras.training.main("cifar100", ["--epochs", "0"])
    except dreamkeras.training.TrainingSetupError as error:
        print(error)
    ```
    """


@dataclasses.dataclass
class RunPaths:
    """Where a run writes.

    Attributes:
        output: str. Final model (`.keras`).
        best: str. Best epoch's model (`_best.keras`).
        report: str. JSON report.
        logdir: str. TensorBoard logs.
        backup: str. `BackupAndRestore` state (`logdir/backup`).
    """

    output: str
    best: str
    report: str
    logdir: str
    backup: str


def _is_named_size(name):
    from dreamkeras.encoders import named_sizes

    return name in named_sizes()


def apply_fast_dev_run_settings(args, defaults, **model_settings):
    """The settings every `--fast-dev-run` shares, plus the task's own.

    Two epochs of two steps of batch 8 on the whole (generated) data, and
    outputs under `outputs/` and `runs/` that a rerun replaces.

    Args:
        args: parsed flags, changed in place.
        defaults: the dataset's defaults (its `name` tags the outputs).
        **model_settings: flag values of the task's tiny model.

    Returns:
        `args`.
    """
    for name, value in model_settings.items():
        setattr(args, name, value)
    args.epochs = min(args.epochs, 2)
    args.steps_per_epoch = 2
    args.eval_steps = 2
    args.batch_size = 8
    args.train_subset = None
    args.eval_subset = None
    tag = f"fast_dev_run_{defaults.name}_{args.model}"
    if args.output is None:
        args.output = os.path.join("outputs", f"{tag}.keras")
        args.overwrite = True
    if args.logdir is None:
        args.logdir = os.path.join("runs", tag)
        args.restart = True
    return args


def _apply_fast_dev_run(args, defaults):
    """Tiny settings for `--fast-dev-run`, keeping the user's model choice."""
    if not args.fast_dev_run:
        return args
    return apply_fast_dev_run_settings(
        args, defaults,
        encoder="mae-tiny-32" if args.model == "dreamnet" else "vit-tiny-32",
        width=8, image_size=None,
    )


def check_args(args):
    """Raises `TrainingSetupError` for out-of-range flag values."""
    checks = [
        (1 <= args.blocks <= 4, f"--blocks must be 1 to 4, got {args.blocks}."),
        (args.width >= 1, f"--width must be positive, got {args.width}."),
        (args.mixup_alpha >= 0, f"--mixup-alpha must be >= 0, got {args.mixup_alpha}."),
        (
            0 <= args.randaugment_magnitude <= 1,
            f"--randaugment-magnitude must be in [0, 1], got {args.randaugment_magnitude}.",
        ),
        (args.weight_decay >= 0, f"--weight-decay must be >= 0, got {args.weight_decay}."),
        (0 <= args.mask_ratio < 1, f"--mask-ratio must be in [0, 1), got {args.mask_ratio}."),
        (
            args.image_size is None or args.image_size >= 8,
            f"--image-size must be at least 8, got {args.image_size}.",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainingSetupError(message)


def resolve_paths(args, defaults):
    """Returns the `RunPaths` of a run from its flags."""
    tag = f"{defaults.name}_{args.model}{args.blocks}"
    output = args.output or os.path.join("outputs", f"{tag}.keras")
    if not output.endswith(".keras"):
        raise TrainingSetupError(
            f"--output must end with .keras (the Keras model format). "
            f"Received: {output!r}."
        )
    logdir = args.logdir or os.path.join("runs", tag)
    stem = output[: -len(".keras")]
    return RunPaths(
        output=output,
        best=stem + "_best.keras",
        report=stem + ".json",
        logdir=logdir,
        backup=os.path.join(logdir, "backup"),
    )


def _backup_epoch(backup_dir):
    """The epoch a `BackupAndRestore` backup resumes at, or None."""
    metadata = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(metadata):
        return None
    with open(metadata) as f:
        return int(json.load(f).get("epoch", -1)) + 1


def load_run_encoder(args):
    """Loads `--encoder` for `--model` (an MAE for dreamnet); clear errors."""
    from dreamkeras.encoders import load_autoencoder
    from dreamkeras.encoders import load_encoder
    from dreamkeras.encoders import named_sizes

    loader = load_autoencoder if args.model == "dreamnet" else load_encoder
    try:
        return loader(args.encoder)
    except Exception as error:  # Missing files, no network, bad names.
        local = os.path.isdir(args.encoder)
        raise TrainingSetupError(
            f"Could not load --encoder {args.encoder!r} for --model "
            f"{args.model} ({type(error).__name__}: {error}). "
            + (
                ""
                if local
                else "Without network access, download the preset elsewhere, "
                "save it with save_to_preset and pass --encoder <local folder>. "
            )
            + f"For smoke tests only, a named random-weight size: {named_sizes()}."
        ) from error


def _encoder_input_shape(encoder):
    from dreamkeras.layers import describe_image_encoder
    from dreamkeras.models import MAEAutoencoder

    if isinstance(encoder, MAEAutoencoder):
        return tuple(encoder.image_shape)
    spec = describe_image_encoder(encoder)
    return tuple(spec.image_size) + (spec.num_channels,)


def _image_shape_for_baseline(args):
    from dreamkeras.encoders.configs import MAE_CONFIGS
    from dreamkeras.encoders.configs import VIT_CONFIGS

    configs = {**MAE_CONFIGS, **VIT_CONFIGS}
    if args.encoder in configs:
        return tuple(configs[args.encoder]["image_shape"])
    raise TrainingSetupError(
        f"--model baseline has no encoder; its input size defaults to the "
        f"size of --encoder, which is known without loading only for the "
        f"named sizes. Pass --image-size (e.g. 224 to compare with a "
        f"{args.encoder!r} model)."
    )


def resolve_image_shape(args, encoder=None):
    """The model's input shape: `--image-size`, else the encoder's size.

    Args:
        args: parsed flags (`--image-size`, `--model`, `--encoder`).
        encoder: the loaded (auto)encoder, or None for the baseline.

    Returns:
        (int, int, int).
    """
    if encoder is not None:
        encoder_shape = _encoder_input_shape(encoder)
    else:
        encoder_shape = (
            None if args.image_size else _image_shape_for_baseline(args)
        )
    if args.image_size:
        channels = encoder_shape[2] if encoder_shape else 3
        return (args.image_size, args.image_size, channels)
    return tuple(encoder_shape)


def load_training_data(args, defaults, load_data, image_shape):
    """Loads the dataset of a run (generated for `--fast-dev-run`).

    Args:
        args: parsed flags (`--fast-dev-run`, `--seed`, `--train-subset`,
            `--eval-subset`, `--batch-size`).
        defaults: `DatasetDefaults` of the dataset.
        load_data: callable `(args, image_size) -> ImageDataset`.
        image_shape: (int, int, int). The model's input shape.

    Returns:
        An `ImageDataset`, restricted to the requested subsets.
    """
    if args.fast_dev_run:
        data = synthetic_dataset(
            defaults.name, defaults.num_classes, defaults.native_shape,
            train_examples=32, eval_examples=16, seed=args.seed,
        )
    else:
        data = load_data(args, image_shape[:2])
    data = data.take(args.train_subset, args.eval_subset)
    check_train_size(data, args)
    return data


def make_pipelines(args, data, image_shape):
    """The training and evaluation `tf.data` pipelines of a run.

    Args:
        args: parsed flags (`--batch-size`, `--seed`, `--randaugment`,
            `--randaugment-magnitude`, `--mixup-alpha`, `--steps-per-epoch`,
            `--distribute`).
        data: `ImageDataset`.
        image_shape: (int, int, int). The model's input shape.

    Returns:
        `(train_ds, eval_ds)`.
    """
    pipeline_options = dict(
        num_classes=data.num_classes, image_size=image_shape[:2],
        batch_size=args.batch_size, channels=image_shape[2], cache=data.cache,
        seed=args.seed,
    )
    train_ds = build_pipeline(
        data.train, training=True, randaugment=args.randaugment,
        randaugment_factor=args.randaugment_magnitude,
        mixup_alpha=args.mixup_alpha, repeat=args.steps_per_epoch is not None,
        **pipeline_options,
    )
    eval_ds = build_pipeline(
        data.eval, training=False,
        drop_remainder=bool(getattr(args, "distribute", False)),
        **pipeline_options,
    )
    return train_ds, eval_ds


def compile_model(model, args, num_classes):
    """Compiles a classifier with the run's Adam, loss and metrics.

    Args:
        model: a `keras.Model` with a softmax output.
        args: parsed flags (`--lr`, `--beta-1`, `--beta-2`, `--epsilon`,
            `--weight-decay`).
        num_classes: int. Top-5 accuracy is added above 5 classes.

    Returns:
        `model`, compiled.
    """
    metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if num_classes > 5:
        metrics.append(
            keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy")
        )
    model.compile(
        optimizer=adam_from_args(args),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=metrics,
    )
    return model


def build_model(args, num_classes, image_shape, encoder=None):
    """Builds the classifier the flags describe.

    Args:
        args: parsed flags (`--model`, `--blocks`, `--chain`, `--width`,
            `--stem`, `--projection`, `--mask-ratio`, `--unfreeze`,
            `--stop-gradient`, `--remat`, `--dropout`).
        num_classes: int. Number of classes.
        image_shape: (int, int, int). Model input shape.
        encoder: the (auto)encoder for sleepnet / dreamnet.

    Returns:
        A `dreamkeras.models.DreamNet`, `SleepNet` or `ChainClassifier`.
    """
    return build_vision_classifier(
        args.model, encoder, num_classes, image_shape=image_shape,
        num_blocks=args.blocks, chain=args.chain, width=args.width,
        stem=args.stem, projection=args.projection, mask_ratio=args.mask_ratio,
        trainable_encoder=args.unfreeze,
        stop_gradient=getattr(args, "stop_gradient", False),
        remat=getattr(args, "remat", False),
        dropout=args.dropout,
    )


def _distribution_scope(args):
    """Sets up `--distribute`; returns (scope, number of devices)."""
    if not args.distribute:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        if args.batch_size % len(devices):
            raise TrainingSetupError(
                f"--distribute splits each batch over {len(devices)} devices: "
                f"--batch-size must be a multiple of {len(devices)}, got "
                f"{args.batch_size}."
            )
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices)
        )
        return contextlib.nullcontext(), len(devices)
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        replicas = strategy.num_replicas_in_sync
        if args.batch_size % replicas:
            raise TrainingSetupError(
                f"--distribute splits each batch over {replicas} replicas: "
                f"--batch-size must be a multiple of {replicas}, got "
                f"{args.batch_size}."
            )
        return strategy.scope(), replicas
    raise TrainingSetupError(
        f"--distribute is available on the jax backend "
        f"(keras.distribution.DataParallel) and the tensorflow backend "
        f"(tf.distribute.MirroredStrategy), not on {backend}. Use --backend "
        f"jax, or run without --distribute."
    )


def _reraise_data_errors(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as error:
        data_error = label_error_from(error)
        if data_error is not None:
            raise data_error from None
        raise


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclasses.dataclass
class PreparedRun:
    """A compiled model and its input pipelines, ready for the shared `fit`.

    Built by a task's `prepare` (images: `ImageTask`; texts:
    `dreamkeras.training.text_trainer.TextTask`); `train` then fits,
    evaluates, saves and reports the same way for every kind of data.

    Attributes:
        model: compiled `keras.Model`.
        train_ds: `tf.data.Dataset` of training batches.
        eval_ds: `tf.data.Dataset` of held-out batches.
        data: the dataset (`ImageDataset` or `TextDataset`).
        encoder_name: str or None. The encoder flag, None without encoder.
        input_description: str. What the model reads (for the log line).
        unit: str. What one example is, in the throughput keys
            (`"images"`, `"texts"`).
        report: dict. Task-specific report entries.
        callbacks: list of task-specific `keras.callbacks.Callback`.
        finish: callable or None. `finish(model, report, timings)` adds
            entries computed after saving (FLOPs, dream texts).
        hparams: dict. Extra hyperparameters for TensorBoard.
    """

    model: object
    train_ds: object
    eval_ds: object
    data: object
    encoder_name: str = None
    input_description: str = ""
    unit: str = "images"
    report: dict = dataclasses.field(default_factory=dict)
    callbacks: list = dataclasses.field(default_factory=list)
    finish: object = None
    hparams: dict = dataclasses.field(default_factory=dict)


class ImageTask:
    """The image classification runs of the vision apps."""

    def apply_fast_dev_run(self, args, defaults):
        return _apply_fast_dev_run(args, defaults)

    def check_args(self, args):
        check_args(args)

    def not_a_real_run(self, args):
        return NOT_A_REAL_RUN.format(encoder=args.encoder, steps=args.steps_per_epoch)

    def prepare(self, args, defaults, load_data, scope, paths):
        return _prepare_images(args, defaults, load_data, scope)


IMAGE_TASK = ImageTask()


def check_common_args(args):
    """Checks the flags every app shares (`--epochs`, `--batch-size`...)."""
    checks = [
        (args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}."),
        (args.batch_size >= 2, f"--batch-size must be at least 2, got {args.batch_size}."),
        (args.lr > 0, f"--lr must be positive, got {args.lr}."),
        (
            args.steps_per_epoch is None or args.steps_per_epoch >= 1,
            f"--steps-per-epoch must be positive, got {args.steps_per_epoch}.",
        ),
        (
            args.eval_steps is None or args.eval_steps >= 1,
            f"--eval-steps must be positive, got {args.eval_steps}.",
        ),
        (not (args.resume and args.restart), "--resume and --restart exclude each other."),
        (
            unsupported_policy_reason(args.mixed_precision) is None,
            f"--mixed-precision: {unsupported_policy_reason(args.mixed_precision)}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainingSetupError(message)


def check_losses_finite(history, advice):
    """Raises `TrainingSetupError` if `fit` stopped on a NaN/inf loss.

    `keras.callbacks.TerminateOnNaN` ends training quietly; this turns its
    outcome into an error that names the losses and `advice` (the fix).
    """
    losses = history.history.get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        raise TrainingSetupError(
            f"Training stopped on a NaN/inf loss (losses per epoch: {losses}). "
            f"{advice}"
        )


def train(args, defaults, load_data, callbacks=None, task=None):
    """Runs one training run from parsed flags; returns the report dict.

    Args:
        args: `argparse.Namespace` from `config.build_parser` (or
            `config.build_text_parser` with a text task).
        defaults: `DatasetDefaults` (or `TextDatasetDefaults`) of the dataset.
        load_data: callable `(args, image_size) -> ImageDataset` (texts:
            `(args) -> TextDataset`).
        callbacks: list of extra `keras.callbacks.Callback` for `fit`.
        task: how to build the model and data: `IMAGE_TASK` (default) or
            `dreamkeras.training.text_trainer.TEXT_TASK`.

    Returns:
        The report dict, also written as JSON next to the saved model.
    """
    task = task or IMAGE_TASK
    args = task.apply_fast_dev_run(args, defaults)
    check_common_args(args)
    task.check_args(args)
    paths = resolve_paths(args, defaults)
    if os.path.exists(paths.output) and not args.overwrite:
        raise TrainingSetupError(
            f"The output model {paths.output!r} already exists. Pass "
            f"--overwrite to replace it, or --output to write elsewhere."
        )
    if args.restart and os.path.isdir(paths.backup):
        shutil.rmtree(paths.backup)
    resume_epoch = _backup_epoch(paths.backup)
    if args.resume and resume_epoch is None:
        raise TrainingSetupError(
            f"--resume: no interrupted run to resume in {paths.backup!r}. "
            f"Check --logdir, or run without --resume to start afresh."
        )
    if args.fast_dev_run:
        print(task.not_a_real_run(args))

    keras.utils.set_random_seed(args.seed)
    previous_policy = keras.config.dtype_policy()
    previous_distribution = keras.distribution.distribution()
    if args.mixed_precision != "none":
        keras.config.set_dtype_policy(args.mixed_precision)
    try:
        scope, num_devices = _distribution_scope(args)
        started = time.perf_counter()
        run = task.prepare(args, defaults, load_data, scope, paths)
        # What building the model left (its initialisers' compiled programs,
        # freed heap) goes back to the system before the train step compiles.
        release_host_memory(clear_jax_caches=True)
        return _fit_and_report(
            args, run, callbacks or [], paths, resume_epoch, num_devices,
            started,
        )
    finally:
        keras.config.set_dtype_policy(previous_policy)
        keras.distribution.set_distribution(previous_distribution)


def _prepare_images(args, defaults, load_data, scope):
    encoder = None
    if args.model != "baseline":
        encoder = load_run_encoder(args)
    image_shape = resolve_image_shape(args, encoder)
    data = load_training_data(args, defaults, load_data, image_shape)
    train_ds, eval_ds = make_pipelines(args, data, image_shape)

    with scope:
        model = build_model(args, data.num_classes, image_shape, encoder)
        compile_model(model, args, data.num_classes)

    def finish(model, report, timings):
        tick = time.perf_counter()
        report["flops_per_image"] = count_flops(model)
        timings["count_flops"] = time.perf_counter() - tick
        tick = time.perf_counter()
        # XLA's estimate compiles the model once more: skipped in smoke runs.
        report["xla_flops_per_image"] = (
            None if args.fast_dev_run else xla_flops(model)["forward"]
        )
        timings["xla_flops"] = time.perf_counter() - tick

    return PreparedRun(
        model=model,
        train_ds=train_ds,
        eval_ds=eval_ds,
        data=data,
        encoder_name=args.encoder if encoder is not None else None,
        input_description=f"images {image_shape}",
        unit="images",
        report={
            "synthetic_data": bool(data.synthetic),
            "encoder_random_weights": (
                _is_named_size(args.encoder) if encoder is not None else None
            ),
            "image_shape": list(image_shape),
        },
        finish=finish,
    )


def check_train_size(data, args):
    """Refuses a training split smaller than one batch."""
    if data.train_size is not None and data.train_size < args.batch_size:
        raise TrainingSetupError(
            f"{data.train_size} training examples is less than one batch "
            f"(--batch-size {args.batch_size}); lower --batch-size."
        )


def adam_from_args(args):
    """The Adam optimizer of `--lr`, `--beta-1`, `--beta-2`, `--epsilon`
    and `--weight-decay` (decoupled; absent or 0: plain Adam)."""
    return keras.optimizers.Adam(
        learning_rate=args.lr, beta_1=args.beta_1, beta_2=args.beta_2,
        epsilon=args.epsilon, weight_decay=getattr(args, "weight_decay", 0) or None,
    )


def _fit_and_report(
    args, run, extra_callbacks, paths, resume_epoch, num_devices, started
):
    model, data = run.model, run.data
    hparams = {
        k: v for k, v in vars(args).items() if k not in ("verbose",)
    }
    hparams.update(dataset=data.name, num_classes=data.num_classes, **run.hparams)
    recorder = EpochRecorder()
    train_speed = Throughput(args.batch_size, mode="train")
    hparams_logger = HParamsLogger(paths.logdir, hparams)
    fit_callbacks = [
        keras.callbacks.BackupAndRestore(paths.backup, delete_checkpoint=True),
        tensorboard_callback(paths.logdir),
        hparams_logger,
        keras.callbacks.ModelCheckpoint(
            paths.best, monitor="val_accuracy", mode="max", save_best_only=True
        ),
        keras.callbacks.TerminateOnNaN(),
        recorder,
        train_speed,
    ] + list(run.callbacks) + list(extra_callbacks)

    for folder in (os.path.dirname(paths.output), paths.logdir):
        if folder:
            os.makedirs(folder, exist_ok=True)
    if resume_epoch is not None:
        print(
            f"Resuming the interrupted run in {paths.backup} at epoch "
            f"{resume_epoch + 1}/{args.epochs}."
        )
    print(
        f"Training {type(model).__name__} ({args.model}-{args.blocks}, "
        f"encoder {run.encoder_name or 'none'}) on "
        f"{data.name}: {data.num_classes} classes, {run.input_description}, "
        f"backend {keras.backend.backend()}, {num_devices} device(s), "
        f"logs in {paths.logdir}."
    )
    timings = {"setup": time.perf_counter() - started}
    tick = time.perf_counter()
    history = _reraise_data_errors(
        model.fit,
        run.train_ds,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        validation_data=run.eval_ds,
        validation_steps=args.eval_steps,
        callbacks=fit_callbacks,
        verbose=args.verbose,
        shuffle=False,
    )
    timings["fit"] = time.perf_counter() - tick
    check_losses_finite(
        history, "Lower --lr, or use --mixed-precision none / mixed_bfloat16."
    )

    tick = time.perf_counter()
    eval_speed = Throughput(args.batch_size, mode="test")
    results = _reraise_data_errors(
        model.evaluate, run.eval_ds, steps=args.eval_steps, return_dict=True,
        callbacks=[eval_speed], verbose=args.verbose,
    )
    timings["evaluate"] = time.perf_counter() - tick
    tick = time.perf_counter()
    model.save(paths.output)
    timings["save"] = time.perf_counter() - tick

    report = {
        "fast_dev_run": bool(args.fast_dev_run),
        "not_a_real_run": bool(args.fast_dev_run),
        "dataset": data.name,
        "eval_split": data.eval_split,
        "num_classes": data.num_classes,
        "train_examples": data.train_size,
        "eval_examples": data.eval_size,
        "model": type(model).__name__,
        "encoder": run.encoder_name,
        **run.report,
        "backend": keras.backend.backend(),
        "devices": num_devices,
        "mixed_precision": args.mixed_precision,
        "test_loss": results.get("loss"),
        "test_accuracy": results.get("accuracy"),
        "test_top5_accuracy": results.get("top5_accuracy"),
        "epochs_completed": len(recorder.finished),
        "optimizer_steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "resumed_from_epoch": (
            recorder.started[0] if recorder.started and recorder.started[0] else None
        ),
        "history": history.history,
        "params": parameter_counts(model),
        f"train_{run.unit}_per_second": train_speed.images_per_second,
        f"eval_{run.unit}_per_second": eval_speed.images_per_second,
        "hparams_written_with": hparams_logger.written_with,
        "saved_model": paths.output,
        "best_model": paths.best if os.path.exists(paths.best) else None,
        "logdir": paths.logdir,
        "args": vars(args),
        "keras_version": keras.__version__,
        "python": sys.version.split()[0],
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if run.finish is not None:
        run.finish(model, report, timings)
    if args.fast_dev_run:
        tick = time.perf_counter()
        report["reload_check"] = _reload_check(
            model, paths.output, run.eval_ds, args.eval_steps, results
        )
        timings["reload_check"] = time.perf_counter() - tick
    report["seconds"] = timings
    with open(paths.report, "w") as f:
        json.dump(_jsonable(report), f, indent=2)
    _print_summary(report, paths, run.unit)
    return report


def _reload_check(model, path, eval_ds, steps, results):
    """Reloads the saved model and evaluates it on the same batches."""
    reloaded = keras.saving.load_model(path)
    again = reloaded.evaluate(eval_ds, steps=steps, return_dict=True, verbose=0)
    return {
        "test_loss_after_reload": again["loss"],
        "abs_loss_diff": abs(again["loss"] - results["loss"]),
        "trainable_weights": len(model.trainable_weights),
        "reloaded_trainable_weights": len(reloaded.trainable_weights),
    }


def _print_summary(report, paths, unit="images"):
    params = report["params"]
    lines = [
        f"Test accuracy ({report['eval_split']}): {report['test_accuracy']:.4f}",
        f"Parameters: {params['total']:,} total, {params['trainable']:,} "
        f"trainable, {params['non_trainable']:,} non-trainable"
        + (
            f" ({params['frozen']:,} in the frozen encoder)"
            if params["frozen"]
            else ""
        ),
    ]
    if report.get("flops_per_image"):
        lines.append(
            f"FLOPs per image (analytical): {report['flops_per_image']['total']:,}"
        )
    if report.get(f"train_{unit}_per_second"):
        lines.append(
            f"Throughput: {report[f'train_{unit}_per_second']:.1f} train / "
            f"{report[f'eval_{unit}_per_second'] or 0:.1f} eval "
            f"{unit} per second"
        )
    lines.append(f"Saved {paths.output} and {paths.report}")
    if report["fast_dev_run"]:
        lines.append(
            f"Reload check: |test loss difference| after "
            f"keras.saving.load_model = "
            f"{report['reload_check']['abs_loss_diff']:.2e}"
        )
        lines.append("FAST DEV RUN finished: NOT a real run (random data and encoder).")
    print("\n".join(lines))
