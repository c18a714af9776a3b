"""The text classification task of the text apps (text DreamNet, SleepNet, baselines)."""

import os
import time

import keras

from dreamkeras.text import presets
from dreamkeras.training import classifier
from dreamkeras.training.callbacks import DreamTextLogger
from dreamkeras.training.callbacks import dream_markdown
from dreamkeras.training.compile import compile_classifier
from dreamkeras.training.compile import steps_per_epoch_of
from dreamkeras.training.datasets import load_text_dataset
from dreamkeras.training.distribution import barrier
from dreamkeras.training.distribution import is_chief
from dreamkeras.training.distribution import process_count
from dreamkeras.training.mesh import sample_count
from dreamkeras.training.mesh import whole_device_batches
from dreamkeras.training.distribution import shard_for_process
from dreamkeras.training.distribution import undistributed
from dreamkeras.training.image_task import FAST_DEV_TRAIN
from dreamkeras.training.image_task import data_line
from dreamkeras.training.text_encoders import encoder_width
from dreamkeras.training.text_encoders import load_text_preprocessor
from dreamkeras.training.precision import precision_line
from dreamkeras.training.splits import with_validation
from dreamkeras.training.report import line
from dreamkeras_cli.config import TrainingSetupError

DREAM_SAMPLES = 3
RANDOM_ENCODER_WARNING = (
    "RANDOM weights, not pretrained: the run measures the architecture, not the "
    "benefit of pretraining"
)


def load_text_training_data(config):
    """The run's `TextDataset` (generated for a fast dev run), subsets applied.

    Its `validation` split is the dataset's own or `--validation-split` of
    the training split; its `eval` split is the test split.

    Example:

    ```python
    data = load_text_training_data(config)
    ```
    """
    from dreamkeras.text.synthetic import synthetic_text_dataset

    schedule = config.schedule
    if config.fast_dev_run:
        data = synthetic_text_dataset(
            config.data.dataset, config.data.num_classes, FAST_DEV_TRAIN, 16,
            seed=schedule.seed,
        )
    else:
        data = load_text_dataset(config.data, seed=schedule.seed)
    data = with_validation(data, schedule.validation_split)
    data = data.take(schedule.train_subset, schedule.eval_subset)
    classifier.check_train_size(data, schedule.batch_size)
    return data


def text_pipelines(config, data, preprocessor, train=True):
    """The `tf.data` pipelines of a text run: batches of token ids and labels.

    The training texts get the word-edit augmentation when
    `config.augment.augment` (an edited copy of every text, so the epoch
    is twice as long), with a vocabulary of the training texts' words.

    Args:
        config: `dreamkeras_cli.config.RunConfig` of a text app.
        data: `TextDataset`.
        preprocessor: a KerasHub text preprocessor.
        train: bool. False: only the held-out pipelines (`train_ds` is
            None); tracing the tokenizer into a pipeline takes seconds.

    Returns:
        `(train_ds, eval_ds, validation_ds, train_size)`: `validation_ds`
        is None without a validation split; `train_size` counts the
        augmented copies (None when unknown).

    Example:

    ```python
    train_ds, test_ds, val_ds, size = text_pipelines(config, data, preprocessor)
    ```
    """
    from dreamkeras.text import word_vocabulary
    from dreamkeras.text.sources import build_text_pipeline

    schedule, augment = config.schedule, config.augment
    options = dict(preprocessor=preprocessor, num_classes=data.num_classes,
                   cache=data.cache, seed=schedule.seed)
    train_size = data.train_size and data.train_size * (2 if augment.augment else 1)

    def process_part(dataset, size, training=False):
        # A multi-process run: this process's block of every global batch.
        part, batch_size, shard = shard_for_process(
            dataset, schedule.batch_size, size, training=training
        )
        return part, dict(batch_size=batch_size, shard=shard, **options)

    train_ds = vocabulary = None
    if train and augment.augment:
        texts = [t.numpy() for t, _ in data.train.take(20000)]
        vocabulary = word_vocabulary(texts) or None
    if train:
        # Sharded after the augmented copy and the shuffle: the size counts both halves.
        size = train_size
        if not size:
            size = int(data.train.cardinality())
            size = size * (2 if augment.augment else 1) if size >= 0 else size
        part, part_options = process_part(data.train, size, training=True)
        train_ds = build_text_pipeline(
            part, training=True, augment=augment.augment, augment_rate=augment.rate,
            vocabulary=vocabulary, repeat=schedule.steps_per_epoch is not None,
            **part_options,
        )
    held_out = dict(training=False, drop_remainder=config.hardware.distribute)
    part, part_options = process_part(data.eval, data.eval_size)
    eval_ds = build_text_pipeline(part, **held_out, **part_options)
    validation_ds = None
    if data.validation is not None:
        part, part_options = process_part(data.validation, data.validation_size)
        validation_ds = build_text_pipeline(part, **held_out, **part_options)
    return train_ds, eval_ds, validation_ds, train_size


def embedding_width(model, width):
    """The token embedding width a `TextModel` trains with.

    The connected models start from the encoder's embeddings (`width` is
    the encoder's hidden size); the baselines follow them by default, so
    that a comparison changes only the connections.

    Example:

    ```python
    embedding_width(config.model, encoder_width(config.model.encoder))
    ```
    """
    if model.uses_encoder_weights and model.embedding == "encoder":
        return width
    if model.uses_encoder_weights:
        return model.embedding_dim or model.width
    return model.embedding_dim or width or model.width


def build_text_model(model, num_classes, tokenizer, encoder=None, embedding_dim=None):
    """The text classifier a `TextModel` describes.

    Args:
        model: `dreamkeras_cli.config.TextModel`.
        num_classes: int.
        tokenizer: the preset's KerasHub tokenizer (or None with `encoder`).
        encoder: masked LM (dreamnet) or backbone (sleepnet).
        embedding_dim: int or None. The baselines' embedding width.

    Returns:
        A `TextDreamNet`, `TextSleepNet`, `LSTMClassifier`,
        `TextCNNClassifier` or `CharCNNClassifier`. The CharCNN reads the
        tokenizer's token ids through an embedding of `embedding_dim`, with
        the `same`-padded convolutions of `chain="charcnn"` (so it takes the
        lengths the chain takes, at least 27 tokens).

    Example:

    ```python
    net = build_text_model(config.model, 4, tokenizer, masked_lm)
    ```
    """
    from dreamkeras import models

    if model.uses_encoder_weights:
        cls = models.TextDreamNet if model.kind == "dreamnet" else models.TextSleepNet
        return cls(
            encoder, num_classes=num_classes, num_blocks=model.blocks, chain=model.chain,
            width=model.width,
            embedding=model.embedding, embedding_dim=model.embedding_dim,
            block_depth=model.block_depth, token_mode=model.token_mode,
            trainable_encoder=model.unfreeze, dropout=model.dropout or 0.0,
            tokenizer=tokenizer,
        )
    vocabulary_size = int(tokenizer.vocabulary_size())
    embedding_dim = embedding_dim or model.embedding_dim or model.width
    if model.kind == "lstm":
        return models.LSTMClassifier(
            vocabulary_size, num_classes, num_layers=model.blocks, width=model.width,
            embedding_dim=embedding_dim, block_depth=model.block_depth,
            dropout=model.dropout or 0.0,
        )
    # Kim's and Zhang et al.'s dropout by default.
    dropout = 0.5 if model.dropout is None else model.dropout
    if model.kind == "charcnn":
        return models.CharCNNClassifier(
            num_classes, vocabulary_size=vocabulary_size,
            sequence_length=model.max_length, size=model.charcnn_size,
            embedding_dim=embedding_dim, padding="same", dropout=dropout,
        )
    return models.TextCNNClassifier(
        vocabulary_size, num_classes, embedding_dim=embedding_dim, dropout=dropout,
    )


# What the model line calls each chain's blocks.
CHAIN_NAMES = {"lstm": "LSTM", "textcnn": "TextCNN", "charcnn": "CharCNN"}


def _model_shape(config_model):
    """The model line's architecture text: the blocks, or the baseline's paper."""
    if config_model.kind == "textcnn":
        return "Kim's TextCNN"
    if config_model.kind == "charcnn":
        return f"Zhang et al.'s {config_model.charcnn_size} CharCNN"
    chain = CHAIN_NAMES[config_model.chain if config_model.uses_encoder_weights else "lstm"]
    return f"{config_model.blocks} {chain} block(s) of width {config_model.width}"


def _model_line(model, config_model, embedding_dim, random_encoder):
    shape = _model_shape(config_model)
    text = (
        f"{type(model).__name__}, {shape}, embedding width {embedding_dim}, "
        f"{classifier.parameter_text(model)}; "
    )
    if not config_model.uses_encoder_weights:
        return line("model", text + f"tokenizer of {config_model.encoder} (its weights are not used)")
    weights = RANDOM_ENCODER_WARNING if random_encoder else "pretrained, frozen"
    if config_model.unfreeze and not random_encoder:
        weights = "pretrained, trained too: --unfreeze"
    return line("model", text + f"encoder {config_model.encoder}: {weights}")


def _sample_texts(dataset, count):
    return [text.numpy().decode("utf-8", errors="replace") for text, _ in dataset.take(count)]


class TextClassification:
    """The task of the text apps: texts -> text DreamNet / SleepNet / baselines.

    Example:

    ```python
    report = dreamkeras.training.train(config, task=TextClassification())
    ```
    """

    unit = "texts"
    divergence_advice = classifier.DIVERGENCE_ADVICE

    def prepare(self, config, scope):
        from dreamkeras.text.synthetic import DEMO_WORDS

        model_config, schedule = config.model, config.schedule
        if config.fast_dev_run:
            if is_chief():
                if os.path.isdir(model_config.encoder):  # The last smoke test's.
                    import shutil

                    shutil.rmtree(model_config.encoder)
                with undistributed():
                    presets.build_random_preset(
                        model_config.encoder, words=DEMO_WORDS,
                        max_sequence_length=model_config.max_length, seed=schedule.seed,
                    )
            # Several processes: the others load the preset once the chief
            # wrote it, and all go on from the same random state.
            barrier("dreamkeras_fast_dev_preset")
            keras.utils.set_random_seed(schedule.seed)
        tokenizer, encoder, preprocessor = load_text_preprocessor(model_config)
        embedding_dim = embedding_width(model_config, encoder_width(model_config.encoder, encoder))

        data = load_text_training_data(config)
        train_ds, eval_ds, validation_ds, train_size = text_pipelines(config, data, preprocessor)
        with scope:
            try:
                model = build_text_model(
                    model_config, data.num_classes, tokenizer, encoder, embedding_dim
                )
            except ValueError as error:
                raise TrainingSetupError(str(error)) from error
            compile_classifier(
                model, config.optimizer, data.num_classes, sparse=True,
                epochs=schedule.epochs,
                steps_per_epoch=steps_per_epoch_of(schedule, train_size),
            )

        callbacks, samples = [], []
        # The dream texts predict on one process's arrays: one process only.
        if model_config.kind == "dreamnet" and process_count() == 1:
            # Never test texts: validation texts, else training texts.
            source = data.validation if data.validation is not None else data.train
            # Whole batches of the devices (--distribute, --mesh).
            samples = whole_device_batches(_sample_texts(source, sample_count(DREAM_SAMPLES)))
            callbacks.append(DreamTextLogger(config.files.logdir, samples, preprocessor))

        def flops_and_dreams(model, report, timings):
            from dreamkeras.flops.text import text_flops_report

            tick = time.perf_counter()
            report["flops_per_text"] = text_flops_report(model, model_config.max_length)
            timings["count_flops"] = time.perf_counter() - tick
            if not samples:
                return
            from dreamkeras.dreams import dream_texts

            tick = time.perf_counter()
            report["dreams"] = dream_texts(model, samples, preprocessor)
            timings["dreams"] = time.perf_counter() - tick

        def dream_lines(report):
            if not report.get("dreams"):
                return []
            return ["Dreams (original, then one per dream connection):",
                    dream_markdown(report["dreams"])]

        random_encoder = presets.is_random_preset(model_config.encoder)
        return classifier.classifier_run(
            config, self.unit, model, data, train_ds, eval_ds,
            validation_ds=validation_ds,
            lines=[
                _model_line(model, model_config, embedding_dim, random_encoder),
                data_line(data, "texts", f"{model_config.max_length} tokens per text"),
                precision_line(config.hardware.mixed_precision),
            ],
            report={
                "encoder": model_config.encoder,
                "uses_encoder_weights": model_config.uses_encoder_weights,
                "chain": model_config.chain if model_config.uses_encoder_weights else None,
                "encoder_random_weights": bool(random_encoder),
                "embedding_dim": embedding_dim,
                "max_length": model_config.max_length,
                "augment": config.augment.augment,
                "class_names": data.class_names,
            },
            callbacks=callbacks, extra=flops_and_dreams, more_summary=dream_lines,
        )
