"""The text side of the shared training run: models, data and dreams.

`TEXT_TASK` plugs into `dreamkeras.training.trainer.train`, which fits,
evaluates, saves and reports exactly as for the image apps (same callbacks,
resumption, TensorBoard, JSON report).
"""

import os
import shutil
import time

import keras

from dreamkeras.training.callbacks import DreamTextLogger
from dreamkeras.training.callbacks import dream_markdown
from dreamkeras.training.trainer import PreparedRun
from dreamkeras.training.trainer import TrainingSetupError
from dreamkeras.training.trainer import adam_from_args
from dreamkeras.training.trainer import apply_fast_dev_run_settings
from dreamkeras.training.trainer import check_train_size

NOT_A_REAL_RUN = (
    "=" * 72 + "\n"
    "FAST DEV RUN: this is NOT a real run. Generated random texts, a tiny\n"
    "RANDOM-weight RoBERTa preset built on the spot ({encoder}),\n"
    "{steps} steps per epoch. The numbers below only show that the pipeline\n"
    "works end to end.\n" + "=" * 72
)
RANDOM_ENCODER_WARNING = (
    "WARNING: the encoder preset {encoder!r} holds RANDOM weights (written by "
    "dreamkeras.text.testing); it is not a pretrained RoBERTa. The run "
    "measures the architecture, not the benefit of pretraining."
)
DREAM_SAMPLES = 3


def _apply_fast_dev_run(args, defaults):
    if not args.fast_dev_run:
        return args
    # encoder None: a tiny random preset, written in `prepare`.
    return apply_fast_dev_run_settings(
        args, defaults, encoder=None, width=8, embedding_dim=None, max_length=16,
    )


def _check_args(args):
    with_connections = args.model in ("dreamnet", "sleepnet")
    checks = [
        (
            1 <= args.blocks <= (4 if with_connections else 64),
            f"--blocks must be 1 to 4 for --model {args.model}, got {args.blocks}."
            if with_connections
            else f"--blocks must be positive, got {args.blocks}.",
        ),
        (args.width >= 1, f"--width must be positive, got {args.width}."),
        (args.block_depth >= 1, f"--block-depth must be positive, got {args.block_depth}."),
        (
            args.embedding_dim is None or args.embedding_dim >= 1,
            f"--embedding-dim must be positive, got {args.embedding_dim}.",
        ),
        (
            args.max_length >= 3,
            f"--max-length must be at least 3 (two special tokens and a "
            f"word), got {args.max_length}.",
        ),
        (
            0 < args.augment_rate <= 1,
            f"--augment-rate must be in (0, 1], got {args.augment_rate}.",
        ),
        (
            args.dropout is None or 0 <= args.dropout < 1,
            f"--dropout must be in [0, 1), got {args.dropout}.",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainingSetupError(message)
    if args.embedding_dim is not None and args.embedding == "encoder" and with_connections:
        raise TrainingSetupError(
            "--embedding encoder copies the encoder's token embeddings (their "
            "width); --embedding-dim needs --embedding random."
        )


def _fast_dev_encoder(args, logdir):
    """Writes a tiny random RoBERTa preset into the run's logdir; returns it."""
    import warnings

    from dreamkeras.text import testing

    folder = os.path.join(logdir, "fast_dev_run_random_roberta")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    # Saved in float32, like a downloaded preset (a tokenizer built under a
    # mixed global policy would be saved with an invalid dtype).
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer, masked_lm = testing.tiny_roberta(
                testing.DEMO_WORDS, max_sequence_length=args.max_length, seed=args.seed
            )
        testing.save_tiny_preset(
            folder, tokenizer, masked_lm, sequence_length=args.max_length
        )
    finally:
        keras.config.set_dtype_policy(policy)
    return folder


def _preset_error(args, what, error):
    local = os.path.isdir(os.path.expanduser(args.encoder))
    return TrainingSetupError(
        f"Could not load the {what} of --encoder {args.encoder!r} "
        f"({type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}). "
        + (
            ""
            if local
            else "Without network access, download the preset elsewhere, save "
            "it with save_to_preset and pass --encoder <local folder>. "
        )
        + "For smoke tests, --fast-dev-run builds a tiny random RoBERTa preset."
    )


def load_text_encoder(args):
    """Loads the tokenizer and the frozen model `--model` needs.

    Returns:
        `(tokenizer, encoder)`: a KerasHub tokenizer, and a masked LM
        (dreamnet), a backbone (sleepnet) or None (lstm, textcnn).
    """
    import keras_hub

    preset = os.path.expanduser(args.encoder)
    looks_local = preset.startswith((".", "/", "~")) or os.sep in preset.split("://")[-1]
    if "://" not in preset and looks_local and not os.path.isdir(preset):
        raise TrainingSetupError(
            f"--encoder {args.encoder!r}: no such preset folder. Pass a folder "
            f"written by save_to_preset, a KerasHub preset name "
            f"(roberta_base_en) or an hf:// handle."
        )
    from dreamkeras.encoders.hf_xlnet import load_hf_text_encoder

    try:  # Hugging Face XLNet checkpoints, which dreamkeras converts.
        loaded = load_hf_text_encoder(preset, args.model)
    except (OSError, ValueError) as error:
        raise _preset_error(args, "checkpoint", error) from error
    if loaded is not None:
        return loaded
    try:
        tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(preset)
    except Exception as error:
        raise _preset_error(args, "tokenizer", error) from error
    encoder = None
    try:
        if args.model == "dreamnet":
            encoder = keras_hub.models.MaskedLM.from_preset(preset, preprocessor=None)
        elif args.model == "sleepnet":
            encoder = keras_hub.models.Backbone.from_preset(preset)
    except Exception as error:
        what = "masked LM" if args.model == "dreamnet" else "backbone"
        raise _preset_error(args, what, error) from error
    return tokenizer, encoder


def build_text_model(args, num_classes, tokenizer, encoder=None):
    """Builds the text classifier the flags describe.

    Args:
        args: parsed flags of `build_text_parser`.
        num_classes: int.
        tokenizer: the preset's KerasHub tokenizer.
        encoder: masked LM (dreamnet) or backbone (sleepnet).

    Returns:
        A `TextDreamNet`, `TextSleepNet`, `LSTMClassifier` or
        `TextCNNClassifier`.
    """
    from dreamkeras import models

    if args.model in ("dreamnet", "sleepnet"):
        common = dict(
            num_classes=num_classes, num_blocks=args.blocks, width=args.width,
            embedding=args.embedding, embedding_dim=args.embedding_dim,
            block_depth=args.block_depth, token_mode=args.token_mode,
            trainable_encoder=args.unfreeze, dropout=args.dropout or 0.0,
            tokenizer=tokenizer,
        )
        cls = models.TextDreamNet if args.model == "dreamnet" else models.TextSleepNet
        return cls(encoder, **common)
    vocabulary_size = int(tokenizer.vocabulary_size())
    if args.model == "lstm":
        return models.LSTMClassifier(
            vocabulary_size, num_classes, num_layers=args.blocks, width=args.width,
            embedding_dim=args.embedding_dim or args.width,
            block_depth=args.block_depth, dropout=args.dropout or 0.0,
        )
    return models.TextCNNClassifier(
        vocabulary_size, num_classes, embedding_dim=args.embedding_dim or 128,
        dropout=0.5 if args.dropout is None else args.dropout,
    )


def _sample_texts(dataset, count):
    texts = []
    for text, _ in dataset.take(count):
        texts.append(text.numpy().decode("utf-8", errors="replace"))
    return texts


def _prepare_texts(args, defaults, load_data, scope, logdir):
    from dreamkeras.text import make_preprocessor
    from dreamkeras.text import word_vocabulary
    from dreamkeras.text.sources import build_text_pipeline
    from dreamkeras.text.testing import is_random_preset
    from dreamkeras.text.testing import synthetic_text_dataset

    if args.fast_dev_run:
        args.encoder = _fast_dev_encoder(args, logdir)
    random_encoder = is_random_preset(args.encoder)
    if random_encoder and not args.fast_dev_run:
        print(RANDOM_ENCODER_WARNING.format(encoder=args.encoder))
    tokenizer, encoder = load_text_encoder(args)
    backbone = getattr(encoder, "backbone", encoder)
    try:
        preprocessor = make_preprocessor(tokenizer, args.max_length, backbone)
    except ValueError as error:
        raise TrainingSetupError(f"--encoder {args.encoder!r}: {error}") from error

    if args.fast_dev_run:
        data = synthetic_text_dataset(
            defaults.name, defaults.num_classes, 32, 16, seed=args.seed
        )
    else:
        data = load_data(args)
    data = data.take(args.train_subset, args.eval_subset)
    check_train_size(data, args)
    vocabulary = None
    if args.augment:
        texts = [t.numpy() for t, _ in data.train.take(20000)]
        vocabulary = word_vocabulary(texts) or None

    options = dict(
        preprocessor=preprocessor, num_classes=data.num_classes,
        batch_size=args.batch_size, cache=data.cache, seed=args.seed,
    )
    train_ds = build_text_pipeline(
        data.train, training=True, augment=args.augment,
        augment_rate=args.augment_rate, vocabulary=vocabulary,
        repeat=args.steps_per_epoch is not None, **options,
    )
    eval_ds = build_text_pipeline(
        data.eval, training=False, drop_remainder=args.distribute, **options
    )

    with scope:
        try:
            model = build_text_model(args, data.num_classes, tokenizer, encoder)
        except ValueError as error:
            raise TrainingSetupError(str(error)) from error
        model.compile(
            optimizer=adam_from_args(args),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )

    callbacks = []
    samples = []
    if args.model == "dreamnet":
        samples = _sample_texts(data.eval, DREAM_SAMPLES)
        callbacks.append(DreamTextLogger(logdir, samples, preprocessor))

    def finish(model, report, timings):
        from dreamkeras.training.text_flops import text_flops_report

        tick = time.perf_counter()
        report["flops_per_text"] = text_flops_report(model, args.max_length)
        timings["count_flops"] = time.perf_counter() - tick
        if not samples:
            return
        from dreamkeras.text import dream_texts

        tick = time.perf_counter()
        rows = dream_texts(model, samples, preprocessor)
        timings["dreams"] = time.perf_counter() - tick
        report["dreams"] = rows
        print("Dreams (original, then one per dream connection):")
        print(dream_markdown(rows))

    return PreparedRun(
        model=model,
        train_ds=train_ds,
        eval_ds=eval_ds,
        data=data,
        encoder_name=args.encoder,
        input_description=f"{args.max_length} tokens per text",
        unit="texts",
        report={
            "synthetic_data": bool(data.synthetic),
            "encoder_random_weights": bool(random_encoder),
            "uses_encoder_weights": encoder is not None,
            "max_length": args.max_length,
            "augment": bool(args.augment),
            "class_names": data.class_names,
        },
        callbacks=callbacks,
        finish=finish,
    )


class TextTask:
    """The text classification runs of the text apps."""

    def apply_fast_dev_run(self, args, defaults):
        return _apply_fast_dev_run(args, defaults)

    def check_args(self, args):
        _check_args(args)

    def not_a_real_run(self, args):
        return NOT_A_REAL_RUN.format(
            encoder="dreamkeras.text.testing.tiny_roberta", steps=args.steps_per_epoch
        )

    def prepare(self, args, defaults, load_data, scope, paths):
        return _prepare_texts(args, defaults, load_data, scope, paths.logdir)


TEXT_TASK = TextTask()
