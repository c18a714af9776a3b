"""Self-supervised MAE pretraining: the run behind `apps/pretrain_mae.py`.

Trains a `dreamkeras.models.MAEAutoencoder` on unlabelled images (masked
patches, normalised-pixel loss as in the MAE paper) and saves it as a preset
folder that `dreamkeras.encoders.load_autoencoder` / `load_encoder` and the
apps' `--encoder` flag load. It shares the apps' pieces: the data sources and
tf.data pipeline of `dreamkeras.data`, `BackupAndRestore` resumption,
TensorBoard logs and the callbacks of `dreamkeras.training`.
"""

import argparse
import datetime
import json
import os
import shutil
import sys
import time

import keras
import numpy as np

from dreamkeras.data import DataError
from dreamkeras.data import build_pipeline
from dreamkeras.data import synthetic_dataset
from dreamkeras.training.callbacks import EpochRecorder
from dreamkeras.training.callbacks import HParamsLogger
from dreamkeras.training.callbacks import Throughput
from dreamkeras.training.config import add_output_flags
from dreamkeras.training.trainer import TrainingSetupError
from dreamkeras.training.trainer import check_losses_finite
from dreamkeras.training.trainer import _backup_epoch
from dreamkeras.training.trainer import _jsonable

BACKENDS = ("jax", "tensorflow", "torch")
FASHION_MNIST = "fashion_mnist"
IMAGE_FOLDER = "image_folder"
FAST_DEV_RUN_BANNER = (
    "=" * 72 + "\n"
    "FAST DEV RUN: this is NOT a real run. Generated random images, the tiny\n"
    "mae-tiny-32 architecture, {steps} steps per epoch. The numbers below\n"
    "only show that the pipeline works end to end.\n" + "=" * 72
)


def build_parser(prog=None):
    """Returns the `argparse.ArgumentParser` of `apps/pretrain_mae.py`.

    Args:
        prog: str or None. Program name shown by `--help`.

    Returns:
        An `argparse.ArgumentParser`.

    Example:

    ```python
    args = build_parser().parse_args(["--fast-dev-run"])
    ```
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Self-supervised MAE pretraining on unlabelled images. Writes a "
            "preset folder (--output) that SleepNet / DreamNet load as their "
            "frozen encoder (--encoder FOLDER in the training apps), and a "
            "JSON report (--output + '.json') with the held-out masked "
            "reconstruction loss of the trained and of the initial model. "
            "Rerunning an interrupted command resumes from its last finished "
            "epoch."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    group = parser.add_argument_group("backend")
    group.add_argument(
        "--backend", choices=BACKENDS, default=None,
        help="Keras backend. Set before Keras is imported. Default: the "
        "KERAS_BACKEND environment variable, else jax.",
    )

    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset", "--data", default=FASHION_MNIST,
        help="fashion_mnist (the original gz files; 28x28 grayscale, "
        "repeated to 3 channels and resized to --image-size), image_folder "
        "(every image file under --data-dir; train/ and val/ subfolders are "
        "the splits, else 10%% is held out), or any other name: a tfds "
        "image dataset (its train and test splits; labels are ignored).",
    )
    group.add_argument(
        "--data-dir", default=None,
        help="fashion_mnist: folder of the four gz files (default "
        "/usr/share/datasets/fashion-mnist, from apt-get install "
        "dataset-fashion-mnist); image_folder: the folder (required); tfds: "
        "the tfds data directory.",
    )
    group.add_argument(
        "--max-train-images", type=int, default=None, metavar="N",
        help="Train on the first N training images only (e.g. for CPU runs).",
    )
    group.add_argument(
        "--max-eval-images", type=int, default=None, metavar="N",
        help="Measure the held-out loss on the first N held-out images only.",
    )

    group = parser.add_argument_group("model")
    group.add_argument(
        "--encoder", default="mae-small-32",
        help="What to pretrain: a named MAE size (mae-tiny-32, mae-small-32, "
        "mae-b16-224, mae-l16-224: random initial weights, the usual start), "
        "or an autoencoder to continue from (a preset folder, a Hugging Face "
        "ViT-MAE folder or hf:// handle).",
    )
    group.add_argument(
        "--image-size", type=int, default=None,
        help="Input size of the MAE (a named size only; the patch size must "
        "divide it). Default: the encoder's size. Images are resized to it.",
    )
    group.add_argument(
        "--mask-ratio", type=float, default=0.75,
        help="Share of patches masked in training (MAE paper: 0.75).",
    )
    group.add_argument(
        "--norm-pix-loss", action=argparse.BooleanOptionalAction, default=True,
        help="Loss against per-patch normalised pixels (MAE paper).",
    )

    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=int, default=10, help="Training epochs.")
    group.add_argument("--batch-size", type=int, default=128, help="Batch size.")
    group.add_argument(
        "--lr", type=float, default=1e-3,
        help="Peak AdamW learning rate, reached after the warmup and then "
        "decayed to 0 with a cosine (the MAE paper's schedule; the paper "
        "uses 1.5e-4 * batch/256 for 800+ epochs, short runs need more).",
    )
    group.add_argument(
        "--warmup-epochs", type=float, default=1.0,
        help="Linear warmup length in epochs (may be a fraction).",
    )
    group.add_argument(
        "--weight-decay", type=float, default=0.05, help="AdamW weight decay."
    )
    group.add_argument(
        "--flip", action=argparse.BooleanOptionalAction, default=True,
        help="Random horizontal flips of the training images.",
    )
    group.add_argument("--seed", type=int, default=1337, help="Random seed.")
    group.add_argument(
        "--steps-per-epoch", type=int, default=None,
        help="Training steps per epoch (the data repeats); default: one pass.",
    )
    group.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1,
        help="Keras progress output: 0 silent, 1 progress bar, 2 one line "
        "per epoch.",
    )

    add_output_flags(
        parser.add_argument_group("files"),
        output_help="Preset folder to write (refused if it exists, unless "
        "--overwrite). The report is written next to it as <output>.json. "
        "Default: outputs/mae_<dataset>.",
        logdir_default="runs/pretrain_mae_<dataset>",
        overwrite_help="Replace an existing output preset folder.",
        fast_dev_run_help="Smoke test, NOT a real run: mae-tiny-32 on "
        "generated images, 2 epochs of 2 steps, then measure, save and reload.",
    )
    return parser


def _apply_fast_dev_run(args):
    if not args.fast_dev_run:
        return args
    args.encoder = "mae-tiny-32"
    args.image_size = None
    args.epochs = min(args.epochs, 2)
    args.steps_per_epoch = 2
    args.batch_size = 8
    args.max_train_images = None
    args.max_eval_images = None
    if args.output is None:
        args.output = os.path.join("outputs", "fast_dev_run_mae")
        args.overwrite = True
    if args.logdir is None:
        args.logdir = os.path.join("runs", "fast_dev_run_pretrain_mae")
        args.restart = True
    return args


def _check_args(args):
    checks = [
        (args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}."),
        (args.batch_size >= 2, f"--batch-size must be at least 2, got {args.batch_size}."),
        (args.lr > 0, f"--lr must be positive, got {args.lr}."),
        (args.warmup_epochs >= 0, f"--warmup-epochs must be >= 0, got {args.warmup_epochs}."),
        (args.weight_decay >= 0, f"--weight-decay must be >= 0, got {args.weight_decay}."),
        (
            0 < args.mask_ratio < 1,
            f"--mask-ratio must be in (0, 1) (the loss is on masked patches), "
            f"got {args.mask_ratio}.",
        ),
        (
            args.steps_per_epoch is None or args.steps_per_epoch >= 1,
            f"--steps-per-epoch must be positive, got {args.steps_per_epoch}.",
        ),
        (
            args.max_train_images is None or args.max_train_images >= 1,
            f"--max-train-images must be positive, got {args.max_train_images}.",
        ),
        (
            args.max_eval_images is None or args.max_eval_images >= 1,
            f"--max-eval-images must be positive, got {args.max_eval_images}.",
        ),
        (not (args.resume and args.restart), "--resume and --restart exclude each other."),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainingSetupError(message)


def _paths(args):
    tag = args.dataset.replace("/", "_").replace(":", "_")
    output = os.path.normpath(args.output or os.path.join("outputs", f"mae_{tag}"))
    logdir = args.logdir or os.path.join("runs", f"pretrain_mae_{tag}")
    return output, output + ".json", logdir, os.path.join(logdir, "backup")


def load_autoencoder_for_pretraining(args):
    """Builds or loads the `MAEAutoencoder` that `args` describe.

    Args:
        args: parsed flags (`--encoder`, `--image-size`, `--mask-ratio`,
            `--norm-pix-loss`, `--seed`).

    Returns:
        A `MAEAutoencoder`.

    Raises:
        TrainingSetupError: unknown encoder, a patch size that does not
            divide the image size, or `--image-size` with a preset.
    """
    from dreamkeras.encoders import load_autoencoder
    from dreamkeras.encoders.configs import MAE_CONFIGS

    overrides = dict(
        mask_ratio=args.mask_ratio, norm_pix_loss=args.norm_pix_loss, seed=args.seed
    )
    if args.encoder in MAE_CONFIGS:
        config = dict(MAE_CONFIGS[args.encoder])
        if args.image_size:
            config["image_shape"] = (args.image_size, args.image_size, 3)
        patch = config["patch_size"]
        size = config["image_shape"][:2]
        if size[0] % patch or size[1] % patch:
            raise TrainingSetupError(
                f"--encoder {args.encoder} has {patch}x{patch} patches, which "
                f"do not divide the image size {size[0]}x{size[1]} "
                f"(--image-size {args.image_size}). Pass an --image-size that "
                f"is a multiple of {patch}."
            )
        from dreamkeras.models import MAEAutoencoder

        print(
            f"Pretraining {args.encoder} from RANDOM initial weights (the "
            f"usual start of MAE pretraining)."
        )
        return MAEAutoencoder(**{**config, **overrides})
    if args.image_size:
        raise TrainingSetupError(
            f"--image-size applies to a named size ({sorted(MAE_CONFIGS)}); "
            f"the autoencoder {args.encoder!r} keeps its own input size (its "
            f"position embeddings are trained for it). Drop --image-size."
        )
    try:
        return load_autoencoder(args.encoder, **overrides)
    except Exception as error:  # Missing files, no network, other models.
        raise TrainingSetupError(
            f"Could not load --encoder {args.encoder!r} to continue "
            f"pretraining ({type(error).__name__}: {error}). Pass a named "
            f"size ({sorted(MAE_CONFIGS)}) to start from random weights, or "
            f"a local preset / ViT-MAE folder."
        ) from error


def load_images(args, image_size):
    """Returns the `ImageDataset` that `--dataset` / `--data-dir` name.

    Labels, when the source has them, are ignored by the pretraining.

    Args:
        args: parsed flags.
        image_size: (int, int). Size the model takes (image folders are
            decoded at this size).

    Returns:
        A `dreamkeras.data.ImageDataset`.
    """
    from dreamkeras import data

    if args.dataset == FASHION_MNIST:
        return data.load_fashion_mnist(args.data_dir)
    if args.dataset == IMAGE_FOLDER:
        if not args.data_dir:
            raise data.DataUnavailableError(
                "--dataset image_folder needs the folder of images: pass "
                "--data-dir DIR."
            )
        return data.load_unlabelled_images(args.data_dir, image_size, seed=args.seed)
    return data.load_tfds(args.dataset, data_dir=args.data_dir)


def image_pipeline(dataset, image_shape, batch_size, training, flip=False, **kwargs):
    """Batches of images only, from `(image, label)` pairs.

    The images go through `dreamkeras.data.build_pipeline` (grayscale to 3
    channels, resize, scale to `[0, 1]`), with no RandAugment or MixUp, and
    an optional random horizontal flip.

    Args:
        dataset: `tf.data.Dataset` of unbatched `(image, label)` pairs.
        image_shape: (int, int, int). The model's input shape.
        batch_size: int.
        training: bool. Shuffle (and flip).
        flip: bool. Random horizontal flips (training only).
        **kwargs: passed to `build_pipeline` (`repeat`, `cache`, `seed`,
            `drop_remainder`).

    Returns:
        A `tf.data.Dataset` of float32 `(batch, h, w, c)` images in `[0, 1]`.
    """
    import tensorflow as tf

    # Labels are not used: one class keeps `build_pipeline`'s check happy.
    dataset = dataset.map(lambda image, label: (image, tf.zeros((), tf.int64)))
    ds = build_pipeline(
        dataset, num_classes=1, image_size=image_shape[:2], batch_size=batch_size,
        training=training, channels=image_shape[2], randaugment=False,
        mixup_alpha=0.0, **kwargs,
    )
    if training and flip:
        seed = kwargs.get("seed")
        return ds.map(
            lambda images, labels: tf.image.random_flip_left_right(images, seed=seed),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.map(lambda images, labels: images)


def masked_reconstruction_loss(mae, batches, mask_ratio, seed=0):
    """Held-out MAE loss on masked patches, with a fixed masking.

    The noise that picks the masked patches is drawn from a numpy generator
    seeded with `seed`, batch after batch, so two models measured with the
    same `seed` on the same batches are compared on the same patches.

    Args:
        mae: a `MAEAutoencoder`.
        batches: iterable of `(batch, h, w, c)` image batches in `[0, 1]`.
        mask_ratio: float. Share of patches masked.
        seed: int. Seed of the masking noise.

    Returns:
        A dict: `"loss"`, the training loss (normalised pixels if the model
        uses `norm_pix_loss`) averaged over masked patches; `"pixel_mse"`,
        the mean squared error in `[0, 1]` pixels on the masked patches when
        the model predicts pixels (`None` with `norm_pix_loss`, whose
        predictions are per-patch normalised); `"patch_mean_loss"`, the loss
        of a reference that predicts each masked patch's own mean pixel
        value (it knows that mean; flat patches cost it nothing);
        `"images"`.

    Example:

    ```python
    result = masked_reconstruction_loss(mae, [images], mask_ratio=0.75)
    ```
    """
    from keras import ops

    from dreamkeras.models.mae.patches import patchify

    rng = np.random.default_rng(seed)
    total, pixel_total, mean_total, weight, images_seen = 0.0, 0.0, 0.0, 0.0, 0
    for images in batches:
        images = ops.convert_to_tensor(np.asarray(images, "float32"))
        batch = int(images.shape[0])
        noise = rng.random((batch, mae.num_patches), dtype=np.float32)
        latent, ids_restore, mask = mae.encode(
            images, mask_ratio, training=False, noise=ops.convert_to_tensor(noise)
        )
        patches = mae.decoder(latent, ids_restore, training=False)
        loss = mae.compute_loss(x=images, y_pred={"patches": patches, "mask": mask})
        masked = float(ops.convert_to_numpy(ops.sum(mask)))
        total += float(ops.convert_to_numpy(loss)) * masked
        target = patchify(images, mae.patch_size)
        per_patch = ops.mean(ops.square(ops.cast(patches, "float32") - target), axis=-1)
        pixel_total += float(ops.convert_to_numpy(ops.sum(per_patch * mask)))
        # Predicting each patch's own mean: its variance, or ~1 when normalised.
        variance = ops.var(target, axis=-1)
        if mae.norm_pix_loss:
            variance = variance / (variance + 1e-6)
        mean_total += float(ops.convert_to_numpy(ops.sum(variance * mask)))
        weight += masked
        images_seen += batch
    if not weight:
        raise DataError("No held-out images to measure the reconstruction loss on.")
    return {
        "loss": total / weight,
        "pixel_mse": None if mae.norm_pix_loss else pixel_total / weight,
        "patch_mean_loss": mean_total / weight,
        "images": images_seen,
    }


def _optimizer(args, steps_per_epoch):
    total = args.epochs * steps_per_epoch
    warmup = min(int(round(args.warmup_epochs * steps_per_epoch)), total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else args.lr,
        decay_steps=max(total - warmup, 1),
        alpha=0.0,
        warmup_target=args.lr if warmup else None,
        warmup_steps=warmup,
    )
    # MAE paper: AdamW, betas (0.9, 0.95), weight decay 0.05.
    return keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=args.weight_decay, beta_1=0.9,
        beta_2=0.95,
    )


def pretrain(args, callbacks=None):
    """Runs one MAE pretraining from parsed flags; returns the report dict.

    Args:
        args: `argparse.Namespace` from `build_parser`.
        callbacks: list of extra `keras.callbacks.Callback` for `fit`.

    Returns:
        The report dict, also written as JSON next to the preset folder.
    """
    args = _apply_fast_dev_run(args)
    _check_args(args)
    output, report_path, logdir, backup = _paths(args)
    if os.path.exists(output) and not args.overwrite:
        raise TrainingSetupError(
            f"The output {output!r} already exists. Pass --overwrite to "
            f"replace it, or --output to write elsewhere."
        )
    if args.restart and os.path.isdir(backup):
        shutil.rmtree(backup)
    resume_epoch = _backup_epoch(backup)
    if args.resume and resume_epoch is None:
        raise TrainingSetupError(
            f"--resume: no interrupted run to resume in {backup!r}. Check "
            f"--logdir, or run without --resume to start afresh."
        )
    if args.fast_dev_run:
        print(FAST_DEV_RUN_BANNER.format(steps=args.steps_per_epoch))
    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()

    mae = load_autoencoder_for_pretraining(args)
    image_shape = tuple(mae.image_shape)
    if args.fast_dev_run:
        data = synthetic_dataset(
            "pretrain_mae", 1, (28, 28, 1), train_examples=32, eval_examples=16,
            seed=args.seed,
        )
    else:
        data = load_images(args, image_shape[:2])
    data = data.take(args.max_train_images, args.max_eval_images)
    steps_per_epoch = args.steps_per_epoch
    if steps_per_epoch is None:
        if data.train_size is None:
            raise TrainingSetupError(
                f"The number of training images of {data.name!r} is unknown; "
                f"pass --steps-per-epoch."
            )
        steps_per_epoch = data.train_size // args.batch_size
    if steps_per_epoch < 1:
        raise TrainingSetupError(
            f"{data.train_size} training images is less than one batch "
            f"(--batch-size {args.batch_size}); lower --batch-size."
        )
    common = dict(batch_size=args.batch_size, cache=data.cache, seed=args.seed)
    train_ds = image_pipeline(
        data.train, image_shape, training=True, flip=args.flip,
        repeat=args.steps_per_epoch is not None, **common,
    )
    eval_ds = image_pipeline(data.eval, image_shape, training=False, **common)

    def measure(model):
        return masked_reconstruction_loss(
            model, eval_ds.as_numpy_iterator(), args.mask_ratio, seed=args.seed
        )

    # The initial model: measured before `fit` (BackupAndRestore restores a
    # resumed run's weights when training begins).
    initial = measure(mae)
    mae.compile(optimizer=_optimizer(args, steps_per_epoch))

    recorder = EpochRecorder()
    speed = Throughput(args.batch_size, mode="train")
    hparams = {k: v for k, v in vars(args).items() if k != "verbose"}
    hparams_logger = HParamsLogger(logdir, hparams)
    fit_callbacks = [
        keras.callbacks.BackupAndRestore(backup, delete_checkpoint=True),
        keras.callbacks.TensorBoard(
            logdir, write_graph=False, profile_batch=0, update_freq="epoch"
        ),
        hparams_logger,
        keras.callbacks.TerminateOnNaN(),
        recorder,
        speed,
    ] + list(callbacks or [])
    os.makedirs(logdir, exist_ok=True)
    if resume_epoch is not None:
        print(
            f"Resuming the interrupted run in {backup} at epoch "
            f"{resume_epoch + 1}/{args.epochs}."
        )
    print(
        f"Pretraining {type(mae).__name__} ({args.encoder}, images "
        f"{image_shape}, mask ratio {args.mask_ratio}, norm_pix_loss "
        f"{args.norm_pix_loss}) on {data.name}: {data.train_size} training "
        f"images, {steps_per_epoch} steps per epoch, backend "
        f"{keras.backend.backend()}, logs in {logdir}."
    )
    timings = {"setup": time.perf_counter() - started}
    tick = time.perf_counter()
    history = mae.fit(
        train_ds, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
        callbacks=fit_callbacks, verbose=args.verbose, shuffle=False,
    )
    timings["fit"] = time.perf_counter() - tick
    check_losses_finite(history, "Lower --lr.")
    tick = time.perf_counter()
    trained = measure(mae)
    timings["evaluate"] = time.perf_counter() - tick
    if os.path.exists(output):  # --overwrite (checked above).
        shutil.rmtree(output) if os.path.isdir(output) else os.remove(output)
    mae.save_to_preset(output)

    report = {
        "fast_dev_run": bool(args.fast_dev_run),
        "not_a_real_run": bool(args.fast_dev_run),
        "dataset": data.name,
        "synthetic_data": bool(data.synthetic),
        "eval_split": data.eval_split,
        "train_images": data.train_size,
        "encoder": args.encoder,
        "image_shape": list(image_shape),
        "patch_size": list(mae.patch_size),
        "mask_ratio": args.mask_ratio,
        "norm_pix_loss": args.norm_pix_loss,
        "backend": keras.backend.backend(),
        "heldout_masked_loss": {
            "trained": trained["loss"],
            "initial": initial["loss"],
            "ratio_trained_to_initial": trained["loss"] / initial["loss"],
            "pixel_mse_trained": trained["pixel_mse"],
            "pixel_mse_initial": initial["pixel_mse"],
            "patch_mean_reference": trained["patch_mean_loss"],
            "images": trained["images"],
            "mask_seed": args.seed,
            "what": "mean squared error on the masked patches of the held-out "
            "images, the same masks for both models; normalised pixels when "
            "norm_pix_loss",
        },
        "epochs_completed": len(recorder.finished),
        "optimizer_steps": int(keras.ops.convert_to_numpy(mae.optimizer.iterations)),
        "resumed_from_epoch": (
            recorder.started[0] if recorder.started and recorder.started[0] else None
        ),
        "history": history.history,
        "params": int(mae.count_params()),
        "encoder_params": int(mae.encoder.count_params()),
        "train_images_per_second": speed.images_per_second,
        "hparams_written_with": hparams_logger.written_with,
        "preset": output,
        "logdir": logdir,
        "args": vars(args),
        "keras_version": keras.__version__,
        "python": sys.version.split()[0],
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    timings["total"] = time.perf_counter() - started
    report["seconds"] = timings
    with open(report_path, "w") as f:
        json.dump(_jsonable(report), f, indent=2)
    loss = report["heldout_masked_loss"]
    print(
        f"Held-out masked reconstruction loss ({data.eval_split}, "
        f"{trained['images']} images, same masks): trained {loss['trained']:.4f}"
        f" vs initial {loss['initial']:.4f} (ratio "
        f"{loss['ratio_trained_to_initial']:.3f}); predicting each patch's "
        f"own mean: {loss['patch_mean_reference']:.4f}.\n"
        f"Saved the preset {output} (load it with --encoder {output}) and "
        f"{report_path}."
    )
    if args.fast_dev_run:
        print("FAST DEV RUN finished: NOT a real run (random data).")
    return report


def run(argv=None, callbacks=None, prog=None):
    """Parses the flags and pretrains; raises on errors. Returns the report.

    Args:
        argv: list of str or None. Command-line flags.
        callbacks: list of extra `keras.callbacks.Callback` for `fit`.
        prog: str or None. Program name for `--help`.

    Returns:
        The report dict.

    Example:

    ```python
    report = dreamkeras.training.pretrain.run(["--fast-dev-run"])
    ```
    """
    from dreamkeras.training.app import adopt_running_backend
    from dreamkeras.training.app import enable_jax_compilation_cache
    from dreamkeras.utils.memory import release_host_memory_after_compiles

    args = build_parser(prog=prog).parse_args(argv)
    adopt_running_backend(args, "python apps/pretrain_mae.py")
    enable_jax_compilation_cache()
    release_host_memory_after_compiles()
    return pretrain(args, callbacks=callbacks)


def main(argv=None, callbacks=None, prog=None):
    """Command-line entry point: like `run`, but prints clear errors.

    Returns:
        int. The exit status: 0 on success, 2 on a user error.

    Example:

    ```python
    sys.exit(dreamkeras.training.pretrain.main(sys.argv[1:]))
    ```
    """
    try:
        run(argv, callbacks=callbacks, prog=prog)
    except (TrainingSetupError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
