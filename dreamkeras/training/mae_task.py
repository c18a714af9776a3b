"""Self-supervised MAE pretraining: the task behind `apps/pretrain_mae.py`.

Trains a `dreamkeras.models.MAEAutoencoder` on unlabelled images (masked
patches, normalised-pixel loss as in the MAE paper) and saves it as a preset
folder that `dreamkeras.encoders.load_autoencoder` / `load_encoder` and the
apps' `--encoder` flag load. The engine (`dreamkeras.training.engine`) runs
it like the classifiers: resume, TensorBoard, report.
"""

import os

import keras
import numpy as np

from dreamkeras.data import DataError
from dreamkeras.data import build_pipeline
from dreamkeras.data import synthetic_dataset
from dreamkeras.training.distribution import shard_for_process
from dreamkeras.training.engine import PreparedRun
from dreamkeras.training.image_task import data_line
from dreamkeras.training.report import line
from dreamkeras_cli.config import TrainingSetupError

FASHION_MNIST = "fashion_mnist"
IMAGE_FOLDER = "image_folder"


def load_autoencoder_for_pretraining(model, seed=1337):
    """Builds or loads the `MAEAutoencoder` a run's `MAEModel` describes.

    Args:
        model: `dreamkeras_cli.config.MAEModel`.
        seed: int. Seed of the masking.

    Returns:
        `(mae, random_start)`: the `MAEAutoencoder`, and whether it starts
        from random weights (a named size).

    Raises:
        TrainingSetupError: unknown encoder, a patch size that does not
            divide the image size, or `--image-size` with a preset.

    Example:

    ```python
    mae, random_start = load_autoencoder_for_pretraining(config.model)
    ```
    """
    from dreamkeras.encoders import load_autoencoder
    from dreamkeras.encoders.configs import MAE_CONFIGS
    from dreamkeras.models import MAEAutoencoder

    overrides = dict(mask_ratio=model.mask_ratio, norm_pix_loss=model.norm_pix_loss, seed=seed)
    if model.encoder in MAE_CONFIGS:
        config = dict(MAE_CONFIGS[model.encoder])
        if model.image_size:
            config["image_shape"] = (model.image_size, model.image_size, 3)
        patch = config["patch_size"]
        size = config["image_shape"][:2]
        if size[0] % patch or size[1] % patch:
            raise TrainingSetupError(
                f"--encoder {model.encoder} has {patch}x{patch} patches, which do not "
                f"divide the image size {size[0]}x{size[1]} (--image-size "
                f"{model.image_size}). Pass an --image-size that is a multiple of {patch}."
            )
        return MAEAutoencoder(**{**config, **overrides}), True
    if model.image_size:
        raise TrainingSetupError(
            f"--image-size applies to a named size ({sorted(MAE_CONFIGS)}); the "
            f"autoencoder {model.encoder!r} keeps its own input size (its position "
            f"embeddings are trained for it). Drop --image-size."
        )
    try:
        return load_autoencoder(model.encoder, **overrides), False
    except TrainingSetupError:  # A --mesh that does not fit the encoder.
        raise
    except Exception as error:  # Missing files, no network, other models.
        raise TrainingSetupError(
            f"Could not load --encoder {model.encoder!r} to continue pretraining "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). "
            f"Pass a named size ({sorted(MAE_CONFIGS)}) to start from random "
            f"weights, or a local preset / ViT-MAE folder."
        ) from error


def load_images(data, image_size, seed=1337):
    """The `ImageDataset` a pretraining run's `Data` names (labels ignored).

    Args:
        data: `dreamkeras_cli.config.Data`: `fashion_mnist`, `image_folder`
            or a tfds name.
        image_size: (int, int). Size the model takes.
        seed: int. Seed of a held-out split drawn from one folder.

    Returns:
        A `dreamkeras.data.ImageDataset`.

    Example:

    ```python
    images = load_images(config.data, (32, 32))
    ```
    """
    from dreamkeras import data as dk_data

    if data.dataset == FASHION_MNIST:
        return dk_data.load_fashion_mnist(data.data_dir)
    if data.dataset == IMAGE_FOLDER:
        if not data.data_dir:
            raise dk_data.DataUnavailableError(
                "--dataset image_folder needs the folder of images: pass --data-dir DIR."
            )
        return dk_data.load_unlabelled_images(data.data_dir, image_size, seed=seed)
    return dk_data.load_tfds(data.dataset, data_dir=data.data_dir)


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

    Example:

    ```python
    ds = image_pipeline(data.eval, (32, 32, 3), batch_size=8, training=False)
    ```
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
        A dict: `"loss"`, the training loss averaged over masked patches;
        `"pixel_mse"`, the squared error in `[0, 1]` pixels on the masked
        patches when the model predicts pixels (`None` with
        `norm_pix_loss`); `"patch_mean_loss"`, the loss of predicting each
        masked patch's own mean pixel value; `"images"`.

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


def adamw_with_warmup(optimizer, epochs, steps_per_epoch):
    """The MAE paper's AdamW (betas 0.9, 0.95): linear warmup, cosine decay to 0.

    Example:

    ```python
    mae.compile(optimizer=adamw_with_warmup(config.optimizer, 10, 100))
    ```
    """
    total = epochs * steps_per_epoch
    warmup = min(int(round(optimizer.warmup_epochs * steps_per_epoch)), total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else optimizer.lr,
        decay_steps=max(total - warmup, 1),
        alpha=0.0,
        warmup_target=optimizer.lr if warmup else None,
        warmup_steps=warmup,
    )
    return keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=optimizer.weight_decay, beta_1=0.9, beta_2=0.95,
    )


def save_preset(mae, path):
    """Writes the preset folder `path`, which must not exist yet.

    The engine passes a temporary folder next to `--output` and swaps it in
    whole once written (`dreamkeras.utils.atomic.replacing`), so an older
    preset stays until the new one is complete.
    """
    if os.path.lexists(path):
        raise FileExistsError(f"{path!r} exists; the preset goes to a new folder.")
    mae.save_to_preset(path)


class MAEPretraining:
    """The task of `apps/pretrain_mae.py`: unlabelled images -> an MAE preset.

    Example:

    ```python
    report = dreamkeras.training.train(config, task=MAEPretraining())
    ```
    """

    unit = "images"
    divergence_advice = "Lower --lr."

    def prepare(self, config, scope):
        model, schedule = config.model, config.schedule
        mae, random_start = load_autoencoder_for_pretraining(model, seed=schedule.seed)
        image_shape = tuple(mae.image_shape)
        if config.fast_dev_run:
            data = synthetic_dataset(
                "pretrain_mae", 1, config.data.native_shape, train_examples=32,
                eval_examples=16, seed=schedule.seed,
            )
        else:
            data = load_images(config.data, image_shape[:2], seed=schedule.seed)
        data = data.take(schedule.train_subset, schedule.eval_subset)
        steps = schedule.steps_per_epoch
        if steps is None:
            if data.train_size is None:
                raise TrainingSetupError(
                    f"The number of training images of {data.name!r} is unknown; "
                    f"pass --steps-per-epoch."
                )
            steps = data.train_size // schedule.batch_size
        if steps < 1:
            raise TrainingSetupError(
                f"{data.train_size} training images is less than one batch "
                f"(--batch-size {schedule.batch_size}); lower --batch-size."
            )
        common = dict(cache=data.cache, seed=schedule.seed)
        # Several processes: each trains on its share of every global batch.
        train, batch_size, shard = shard_for_process(
            data.train, schedule.batch_size, data.train_size, training=True
        )
        train_ds = image_pipeline(
            train, image_shape, training=True, flip=model.flip, batch_size=batch_size,
            shard=shard, repeat=schedule.steps_per_epoch is not None, **common,
        )
        common["batch_size"] = schedule.batch_size
        eval_ds = image_pipeline(data.eval, image_shape, training=False, **common)

        def measure(mae):
            return masked_reconstruction_loss(
                mae, eval_ds.as_numpy_iterator(), model.mask_ratio, seed=schedule.seed
            )

        # The initial model, measured before `fit` (BackupAndRestore restores a
        # resumed run's weights when training begins).
        initial = measure(mae)
        mae.compile(optimizer=adamw_with_warmup(config.optimizer, schedule.epochs, steps))

        def evaluate(mae):
            trained = measure(mae)
            return {
                "heldout_masked_loss": {
                    "trained": trained["loss"],
                    "initial": initial["loss"],
                    "ratio_trained_to_initial": trained["loss"] / initial["loss"],
                    "pixel_mse_trained": trained["pixel_mse"],
                    "pixel_mse_initial": initial["pixel_mse"],
                    "patch_mean_reference": trained["patch_mean_loss"],
                    "images": trained["images"],
                    "mask_seed": schedule.seed,
                    "what": "mean squared error on the masked patches of the "
                    "held-out images, the same masks for both models; normalised "
                    "pixels when norm_pix_loss",
                }
            }

        def finish(mae, report, timings):
            report["params"] = int(mae.count_params())
            report["encoder_params"] = int(mae.encoder.count_params())

        def summary(report):
            loss = report["heldout_masked_loss"]
            return [
                f"Held-out masked reconstruction loss ({report['eval_split']}, "
                f"{loss['images']} images, same masks): trained {loss['trained']:.4f} vs "
                f"initial {loss['initial']:.4f} (ratio "
                f"{loss['ratio_trained_to_initial']:.3f}); predicting each patch's own "
                f"mean: {loss['patch_mean_reference']:.4f}.",
                f"Saved the preset {config.files.output} (load it with --encoder "
                f"{config.files.output}) and {config.files.report}.",
            ]

        start = "RANDOM initial weights (the usual start of MAE pretraining)"
        if not random_start:
            start = f"the weights of {model.encoder} (continued pretraining)"
        return PreparedRun(
            model=mae,
            train_ds=train_ds,
            data=data,
            steps_per_epoch=steps,
            lines=[
                line(
                    "model",
                    f"MAEAutoencoder {model.encoder}, images {image_shape}, mask ratio "
                    f"{model.mask_ratio}, norm_pix_loss {model.norm_pix_loss}, from {start}",
                ),
                data_line(
                    data, "images", f"{steps} steps per epoch", classes=False,
                    validation=False,
                ),
            ],
            evaluate=evaluate,
            save=save_preset,
            report={
                "encoder": model.encoder,
                "train_images": data.train_size,
                "image_shape": list(image_shape),
                "patch_size": list(mae.patch_size),
                "mask_ratio": model.mask_ratio,
                "norm_pix_loss": model.norm_pix_loss,
            },
            finish=finish,
            summary=summary,
        )
