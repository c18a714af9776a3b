"""The image classification task of the vision apps (SleepNet, DreamNet, chain)."""

import os
import time

import keras

from dreamkeras.data import build_pipeline
from dreamkeras.data import synthetic_dataset
from dreamkeras.models.factory import build_vision_classifier
from dreamkeras.models.reference_networks import build_reference_network
from dreamkeras.models.reference_counts import reference_comparison
from dreamkeras.training import classifier
from dreamkeras.training.compile import compile_classifier
from dreamkeras.training.compile import steps_per_epoch_of
from dreamkeras.training.datasets import load_dataset
from dreamkeras.training.distribution import process_count
from dreamkeras.training.mesh import sample_count
from dreamkeras.training.mesh import whole_device_batches
from dreamkeras.training.distribution import shard_for_process
from dreamkeras.training.precision import precision_line
from dreamkeras.training.splits import with_validation
from dreamkeras.flops.counting import count_flops
from dreamkeras.training.report import line
from dreamkeras.utils.profiling import xla_flops
from dreamkeras.dreams.images import DreamImagesCallback
from dreamkeras_cli.config import TrainingSetupError

# Validation images drawn with their dreams in TensorBoard every epoch.
DREAM_SAMPLES = 4
# Generated training images of a fast dev run: 10% of them (two batches of
# the fast dev run's 8) validate.
FAST_DEV_TRAIN = 96


def is_named_size(name):
    """True for a named random-weight encoder size (`mae-tiny-32`, ...)."""
    from dreamkeras.encoders import named_sizes

    return name in named_sizes()


def load_run_encoder(model):
    """Loads `model.encoder` (an MAE for dreamnet), with a clear error.

    Args:
        model: `dreamkeras_cli.config.VisionModel`.

    Returns:
        The frozen encoder or autoencoder, or None for the baseline.

    Example:

    ```python
    encoder = load_run_encoder(config.model)
    ```
    """
    from dreamkeras.encoders import load_autoencoder
    from dreamkeras.encoders import load_encoder
    from dreamkeras.encoders import named_sizes

    if not model.uses_encoder_weights:
        return None
    loader = load_autoencoder if model.uses_autoencoder else load_encoder
    try:
        encoder = loader(model.encoder)
    except TrainingSetupError:  # A --mesh that does not fit the encoder.
        raise
    except Exception as error:  # Missing files, no network, bad names.
        local = os.path.isdir(model.encoder)
        raise TrainingSetupError(
            f"Could not load --encoder {model.encoder!r} for --model {model.kind} "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). "
            + (
                ""
                if local
                else "Without network access, download the preset elsewhere, save "
                "it with save_to_preset and pass --encoder <local folder>. "
            )
            + f"For smoke tests only, a named random-weight size: {named_sizes()}."
        ) from error
    if model.keep_visible and getattr(encoder, "norm_pix_loss", False):
        raise TrainingSetupError(
            f"--keep-visible pastes the MAE's predictions between input patches, but "
            f"--encoder {model.encoder!r} predicts per-patch normalised pixels "
            f"(norm_pix_loss): use an MAE pretrained with "
            f"`apps/pretrain_mae.py --no-norm-pix-loss`."
        )
    return encoder


def _encoder_shape(encoder):
    from dreamkeras.layers import describe_image_encoder
    from dreamkeras.models import MAEAutoencoder

    if isinstance(encoder, MAEAutoencoder):
        return tuple(encoder.image_shape)
    spec = describe_image_encoder(encoder)
    return tuple(spec.image_size) + (spec.num_channels,)


def resolve_image_shape(model, encoder=None):
    """The model's input shape: `--image-size`, else the encoder's input size.

    Args:
        model: `dreamkeras_cli.config.VisionModel`.
        encoder: the loaded (auto)encoder, or None for the baseline.

    Returns:
        (int, int, int).

    Example:

    ```python
    image_shape = resolve_image_shape(config.model, encoder)
    ```
    """
    from dreamkeras.encoders.configs import MAE_CONFIGS
    from dreamkeras.encoders.configs import VIT_CONFIGS

    if encoder is not None:
        shape = _encoder_shape(encoder)
    elif model.image_size:
        shape = (model.image_size, model.image_size, 3)
    elif model.encoder in {**MAE_CONFIGS, **VIT_CONFIGS}:
        shape = tuple({**MAE_CONFIGS, **VIT_CONFIGS}[model.encoder]["image_shape"])
    else:
        raise TrainingSetupError(
            f"--model baseline has no encoder; its input size defaults to the "
            f"size of --encoder, which is known without loading only for the "
            f"named sizes. Pass --image-size (e.g. 224 to compare with a "
            f"{model.encoder!r} model)."
        )
    if model.image_size:
        return (model.image_size, model.image_size, shape[2])
    return tuple(shape)


def load_training_data(config, image_shape):
    """The run's `ImageDataset` (generated for a fast dev run), subsets applied.

    Its `validation` split is the dataset's own or `--validation-split` of
    the training split (`dreamkeras.training.splits.with_validation`); its
    `eval` split is the test split.

    Example:

    ```python
    data = load_training_data(config, (32, 32, 3))
    ```
    """
    schedule = config.schedule
    if config.fast_dev_run:
        data = synthetic_dataset(
            config.data.dataset, config.data.num_classes, config.data.native_shape,
            train_examples=FAST_DEV_TRAIN, eval_examples=16, seed=schedule.seed,
        )
    else:
        data = load_dataset(config.data, image_shape[:2], seed=schedule.seed)
    data = with_validation(data, schedule.validation_split)
    data = data.take(schedule.train_subset, schedule.eval_subset)
    classifier.check_train_size(data, schedule.batch_size)
    return data


def make_pipelines(config, data, image_shape):
    """The training and held-out `tf.data` pipelines of a run.

    Args:
        config: `dreamkeras_cli.config.RunConfig` (its schedule, augmentation
            and hardware).
        data: `ImageDataset`.
        image_shape: (int, int, int). The model's input shape.

    Returns:
        `(train_ds, eval_ds)`.

    Example:

    ```python
    train_ds, eval_ds = make_pipelines(config, data, (32, 32, 3))
    ```
    """
    schedule, augment = config.schedule, config.augment
    train, options = _process_part(
        config, data, image_shape, data.train, data.train_size, training=True
    )
    train_ds = build_pipeline(
        train, training=True, randaugment=augment.randaugment,
        randaugment_factor=augment.magnitude, mixup_alpha=augment.mixup_alpha,
        repeat=schedule.steps_per_epoch is not None, **options,
    )
    held_out, options = _process_part(config, data, image_shape, data.eval, data.eval_size)
    eval_ds = build_pipeline(
        held_out, training=False, drop_remainder=config.hardware.distribute, **options
    )
    return train_ds, eval_ds


def _process_part(config, data, image_shape, dataset, size, training=False):
    """This process's part of `dataset` and its pipeline options (batch size).

    In a multi-process run each process keeps its block of `--batch-size / n`
    examples of every `--batch-size` of the shuffled stream
    (`dreamkeras.training.distribution.shard_for_process`).
    """
    options = _pipeline_options(config, data, image_shape)
    dataset, options["batch_size"], options["shard"] = shard_for_process(
        dataset, options["batch_size"], size, training=training
    )
    return dataset, options


def _pipeline_options(config, data, image_shape):
    return dict(
        num_classes=data.num_classes, image_size=image_shape[:2],
        batch_size=config.schedule.batch_size, channels=image_shape[2],
        cache=data.cache, seed=config.schedule.seed,
    )


def validation_pipeline(config, data, image_shape):
    """The validation batches of a run (`data.validation`), or None.

    Built like the test pipeline: no shuffling, no augmentation.

    Example:

    ```python
    validation_ds = validation_pipeline(config, data, (32, 32, 3))
    ```
    """
    if data.validation is None:
        return None
    validation, options = _process_part(
        config, data, image_shape, data.validation, data.validation_size
    )
    return build_pipeline(
        validation, training=False, drop_remainder=config.hardware.distribute, **options
    )


def dream_sample_images(config, data, image_shape, count=DREAM_SAMPLES):
    """A fixed batch of `count` images for the dream pictures, never test images.

    The first validation images, preprocessed as the model reads them (the
    same every epoch); without a validation split, the first training
    images, unaugmented.

    Returns:
        A float32 array `(count, height, width, channels)`, or None.
    """
    import numpy as np

    source = data.validation if data.validation is not None else data.train
    options = dict(_pipeline_options(config, data, image_shape), cache=False)
    count = sample_count(count)
    options["batch_size"] = count
    batches = build_pipeline(
        source.take(count), training=False, drop_remainder=False, **options
    )
    images = [np.asarray(x, "float32") for x, _ in batches.as_numpy_iterator()]
    if not images:
        return None
    # Whole batches of the devices (--distribute, --mesh).
    images = whole_device_batches(np.concatenate(images))
    return images if len(images) else None


def build_model(model, num_classes, image_shape, encoder=None):
    """The classifier `model` (a `VisionModel`) describes.

    Returns:
        A `dreamkeras.models.DreamNet`, `SleepNet` or `ChainClassifier`.

    Example:

    ```python
    net = build_model(config.model, 10, (32, 32, 3), encoder)
    ```
    """
    if model.architecture == "reference":
        return build_reference_network(
            model.kind, encoder, num_classes, image_shape=image_shape,
            num_blocks=model.blocks, mask_ratio=model.mask_ratio,
            trainable_encoder=model.unfreeze, stop_gradient=model.stop_gradient,
            remat=model.remat, dropout=model.dropout,
        )
    return build_vision_classifier(
        model.kind, encoder, num_classes, image_shape=image_shape,
        num_blocks=model.blocks, chain=model.chain, width=model.width,
        stem=model.stem, projection=model.projection, mask_ratio=model.mask_ratio,
        trainable_encoder=model.unfreeze, stop_gradient=model.stop_gradient,
        remat=model.remat, dropout=model.dropout,
        xla_cpu_kernels=model.xla_cpu_kernels, head=model.head,
        encoder_input=model.encoder_input,
        inference_mask_ratio=model.inference_mask_ratio,
        keep_visible=model.keep_visible,
    )


def encoder_text(model):
    """How the header names a vision model's encoder."""
    if model.kind == "smallcnn":
        return "no encoder (a plain CNN)"
    if not model.uses_encoder_weights:
        return "no encoder (the chain alone)"
    if is_named_size(model.encoder):
        return f"encoder {model.encoder}: RANDOM weights (a named size, not pretrained)"
    return f"encoder {model.encoder} (pretrained, frozen)" if not model.unfreeze else (
        f"encoder {model.encoder} (pretrained, trained too: --unfreeze)"
    )


def data_line(data, what, detail, classes=True, validation=True):
    """The header's data line: source, split sizes, classes and `detail`.

    Sizes that are estimates (a validation part carved from a training split
    too large to count) are marked with `~`. `validation=False` (MAE
    pretraining, which selects nothing) names the held-out split as such.
    """
    def size(value):
        return f"{value:,}" if value is not None else "?"

    approximate = "~" if (data.validation_split or "").startswith("about") else ""
    parts = [f"{approximate}{size(data.train_size)} training"]
    if validation and data.validation is not None:
        parts.append(f"{approximate}{size(data.validation_size)} validation")
    elif validation:
        parts.append("no validation")
    split = "" if data.synthetic else f" ({data.eval_split} split)"
    parts.append(f"{size(data.eval_size)} {'test' if validation else 'held-out'}{split}")
    counted = f", {data.num_classes} classes" if classes else ""
    return line(
        "data", f"{data.name}: {' / '.join(parts)} {what}{counted}, {detail}",
    )


class ImageClassification:
    """The task of the vision apps: images -> SleepNet / DreamNet / chain.

    Example:

    ```python
    report = dreamkeras.training.train(config, task=ImageClassification())
    ```
    """

    unit = "images"
    divergence_advice = classifier.DIVERGENCE_ADVICE

    def prepare(self, config, scope):
        model_config = config.model
        encoder = load_run_encoder(model_config)
        image_shape = resolve_image_shape(model_config, encoder)
        data = load_training_data(config, image_shape)
        train_ds, test_ds = make_pipelines(config, data, image_shape)
        validation_ds = validation_pipeline(config, data, image_shape)
        with scope:
            model = build_model(model_config, data.num_classes, image_shape, encoder)
            compile_classifier(
                model, config.optimizer, data.num_classes, epochs=config.schedule.epochs,
                steps_per_epoch=steps_per_epoch_of(config.schedule, data.train_size),
            )

        def flops(model, report, timings):
            tick = time.perf_counter()
            report["flops_per_image"] = count_flops(model)
            timings["count_flops"] = time.perf_counter() - tick
            # XLA's estimate compiles the model once more: skipped in smoke runs.
            tick = time.perf_counter()
            report["xla_flops_per_image"] = (
                None if config.fast_dev_run else xla_flops(model)["forward"]
            )
            timings["xla_flops"] = time.perf_counter() - tick
            if model_config.architecture == "reference":
                report["reference_comparison"] = reference_comparison(
                    model, report["flops_per_image"]["total"]
                )

        callbacks = []
        # The dream pictures predict on one process's arrays: one process only.
        if has_dreams(model) and process_count() == 1:
            images = dream_sample_images(config, data, image_shape)
            if images is not None:
                callbacks.append(DreamImagesCallback(images, config.files.logdir))

        return classifier.classifier_run(
            config, self.unit, model, data, train_ds, test_ds,
            validation_ds=validation_ds,
            lines=[
                line("model", f"{model_text(model, model_config)}; {encoder_text(model_config)}"),
                data_line(data, "images", "resized to {}x{}x{}".format(*image_shape)),
                precision_line(config.hardware.mixed_precision),
            ],
            report={
                "encoder": model_config.encoder if encoder is not None else None,
                "uses_encoder_weights": encoder is not None,
                "encoder_random_weights": (
                    is_named_size(model_config.encoder) if encoder is not None else None
                ),
                "image_shape": list(image_shape),
                "architecture": model_config.architecture,
                "dtype_policy": keras.config.dtype_policy().name,
                "loss_scaling": isinstance(
                    model.optimizer, keras.optimizers.LossScaleOptimizer
                ),
                "dream_images": bool(callbacks),
            },
            callbacks=callbacks,
            extra=flops,
        )


def model_text(model, model_config):
    """The header's model line: network, chain and parameter counts."""
    name = f"{type(model).__name__}-{model_config.blocks}"
    if model_config.architecture == "reference":
        return (
            f"{name}, the reference implementation's network (docs/reproduction.md), "
            f"{classifier.parameter_text(model)}"
        )
    if model_config.kind == "smallcnn":
        return f"SmallCNN of width {model_config.width}, {classifier.parameter_text(model)}"
    if model_config.kind == "baseline":
        name = f"{type(model).__name__} ({model_config.blocks} blocks)"
    return (
        f"{name}, {model_config.chain} chain of width {model_config.width}, "
        f"{classifier.parameter_text(model)}"
    )


def has_dreams(model):
    """Whether `model` has dream connections to draw (a DreamNet)."""
    from dreamkeras.dreams.images import dream_outputs

    try:
        return bool(dream_outputs(model))
    except ValueError:
        return False
