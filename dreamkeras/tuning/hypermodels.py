"""KerasTuner `HyperModel`s of the vision and text SleepNet / DreamNet.

Both take the run configuration the apps build (`dreamkeras_cli.config.
RunConfig`): a trial is that configuration with the trial's values put in
place (`dreamkeras.tuning.hyperparameters.with_values`), built, compiled and
trained with the training engine's own pieces, so a trial is the same run
as the app with the trial's values as flags.
"""

import json
import math
import os
import time

import keras
import keras_tuner

from dreamkeras.tuning import hyperparameters as hps
from dreamkeras.utils import atomic


class _TrialLoggingHyperModel(keras_tuner.HyperModel):
    """Per-trial TensorBoard logs, HParams and a JSON summary of each fit.

    The tuners of `dreamkeras.tuning` call `begin_trial` before a trial's
    executions; each `fit` then logs to `logdir/<trial_id>/execution<k>`.
    """

    fields = {}

    def __init__(self, config, search_space, values, logdir=None, name=None, tunable=True):
        super().__init__(name=name, tunable=tunable)
        self.config = config
        self.search_space, self.values = hps.check_space(search_space, self.fields, values)
        self.logdir = logdir
        self.trial_id = None
        self.trial_dir = None
        self._execution = 0

    def begin_trial(self, trial_id, trial_dir=None):
        """Called by the tuner before the executions of a trial."""
        self.trial_id = trial_id
        self.trial_dir = trial_dir
        self._execution = 0

    def declare_hyperparameters(self, hp):
        """Declares every hyperparameter (searched, or fixed at the configuration)."""
        current = hps.current_values(self.config, self.fields)
        return {
            name: hps.declare(
                hp, name, name in self.search_space, current[name], self.values.get(name)
            )
            for name in self.fields
        }

    def trial_config(self, hp):
        """The run configuration of a trial: the configuration with its values."""
        return hps.with_values(self.config, self.fields, self.declare_hyperparameters(hp))

    def fixed_hparams(self):
        """Settings that are not hyperparameters, logged with every trial."""
        model = self.config.model
        return {
            "model": model.kind,
            "encoder": model.encoder,
            "width": model.width,
            "batch_size": self.config.schedule.batch_size,
            "seed": self.config.schedule.seed,
        }

    def _fit_with_logs(self, hp, model, images_per_step, *args, **kwargs):
        from dreamkeras.training.callbacks import HParamsLogger
        from dreamkeras.training.callbacks import Throughput
        from dreamkeras.training.callbacks import tensorboard_callback
        from dreamkeras.utils.profiling import parameter_counts

        execution = self._execution
        self._execution += 1
        callbacks = list(kwargs.pop("callbacks", None) or [])
        speed = Throughput(images_per_step or 1, mode="train")
        callbacks.append(speed)
        trial_logdir = None
        if self.logdir:
            trial_logdir = os.path.join(
                self.logdir, str(self.trial_id or "untracked"), f"execution{execution}"
            )
            hparams = {**self.fixed_hparams(), **hp.values, "trial_id": str(self.trial_id)}
            callbacks += [tensorboard_callback(trial_logdir), HParamsLogger(trial_logdir, hparams)]
        started = time.perf_counter()
        history = model.fit(*args, callbacks=callbacks, **kwargs)
        losses = history.history.get("loss", [])
        summary = {
            "trial_id": self.trial_id,
            "execution": execution,
            "hyperparameters": dict(hp.values),
            "epochs_run": len(losses),
            "seconds": time.perf_counter() - started,
            "train_images_per_second": speed.images_per_second if images_per_step else None,
            "params": parameter_counts(model),
            "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
            "logdir": trial_logdir,
        }
        if self.trial_dir:
            os.makedirs(self.trial_dir, exist_ok=True)
            atomic.write_text(
                os.path.join(self.trial_dir, f"execution{execution}.json"),
                json.dumps(summary, indent=2, default=str),
            )
        if any(not math.isfinite(v) for v in losses):
            # KerasTuner records the trial as failed and moves on.
            raise ValueError(f"Trial diverged: losses per epoch {losses}.")
        return history


class VisionHyperModel(_TrialLoggingHyperModel):
    """A KerasTuner `HyperModel` of vision SleepNet / DreamNet.

    Searchable hyperparameters (`VISION_HYPERPARAMETERS`): `blocks` (M, 1
    to 4), `chain` (resnet18/34/50), `projection` (grid/pooled),
    `unfreeze` (train the encoder), `lr` and `weight_decay` (log scale),
    and, read in `fit` where the augmented pipeline is rebuilt,
    `randaugment_magnitude` (0 to 1) and `mixup_alpha` (0 to 0.8). The
    others are `hp.Fixed` at the configuration's values.

    `build` loads the encoder afresh (KerasTuner clears the Keras session
    before every build) with the run's seed, then builds and compiles the
    classifier as the vision apps do.

    Args:
        config: `dreamkeras_cli.config.RunConfig` of a vision app (e.g.
            `dreamkeras_cli.commands.run_config("fashion_mnist", [...])`).
        data: `dreamkeras.data.ImageDataset`. Its `train` split trains and
            its `eval` split validates the trials.
        image_shape: optional (int, int, int). Model input; defaults to the
            encoder's (or `--image-size`).
        search_space: iterable of str. Hyperparameters to search.
        values: optional dict of str to list, restricting searched
            hyperparameters to a list of values (e.g. `{"blocks": [1, 2]}`).
        logdir: optional str. Root of the per-trial TensorBoard logs.
        name, tunable: passed to `keras_tuner.HyperModel`.

    Example:

    ```python
    config = dreamkeras_cli.commands.run_config(
        "fashion_mnist", ["--model", "sleepnet", "--encoder", "vit-tiny-32"]
    )
    hypermodel = dreamkeras.tuning.VisionHyperModel(
        config, data, search_space=("blocks", "unfreeze")
    )
    tuner = dreamkeras.tuning.make_tuner("random", hypermodel, "runs", "fmnist")
    tuner.search(epochs=2)
    ```
    """

    fields = hps.VISION_FIELDS

    def __init__(
        self,
        config,
        data,
        image_shape=None,
        search_space=("blocks", "unfreeze"),
        values=None,
        logdir=None,
        name=None,
        tunable=True,
    ):
        super().__init__(config, search_space, values, logdir, name, tunable)
        if not config.model.uses_encoder_weights:
            connection_only = {"projection", "unfreeze"} & set(self.search_space)
            if connection_only:
                raise ValueError(
                    f"The baseline has no encoder connection; cannot search "
                    f"{sorted(connection_only)}. Use model 'sleepnet' or 'dreamnet', "
                    f"or drop them from the search space."
                )
        self.data = data
        self.image_shape = tuple(image_shape) if image_shape else None

    def fixed_hparams(self):
        return {**super().fixed_hparams(), "dataset": self.data.name}

    def build(self, hp):
        from dreamkeras.training.compile import compile_classifier
        from dreamkeras.training.compile import steps_per_epoch_of
        from dreamkeras.training.image_task import build_model
        from dreamkeras.training.image_task import load_run_encoder
        from dreamkeras.training.image_task import resolve_image_shape

        config = self.trial_config(hp)
        # Same random initialisation for every trial (and the same random
        # weights for a named random-size encoder).
        keras.utils.set_random_seed(config.schedule.seed)
        encoder = load_run_encoder(config.model)
        image_shape = self.image_shape or resolve_image_shape(config.model, encoder)
        model = build_model(config.model, self.data.num_classes, image_shape, encoder)
        return compile_classifier(
            model, config.optimizer, self.data.num_classes, epochs=config.schedule.epochs,
            steps_per_epoch=steps_per_epoch_of(config.schedule, self.data.train_size),
        )

    def fit(self, hp, model, *args, **kwargs):
        """Trains a trial's model on a pipeline built for its augmentation.

        Positional data arguments are not accepted: the data comes from the
        hypermodel. `kwargs` (epochs, callbacks from the tuner, ...) go to
        `model.fit`.
        """
        from dreamkeras.training.image_task import make_pipelines

        if args or "x" in kwargs:
            raise ValueError(
                "VisionHyperModel trains on its own `data`; call "
                "`tuner.search(epochs=...)` without x / validation_data."
            )
        config = self.trial_config(hp)
        schedule = config.schedule
        image_shape = self.image_shape or tuple(model.input_shape[1:])
        train_ds, eval_ds = make_pipelines(config, self.data, image_shape)
        fit_kwargs = dict(
            x=train_ds, validation_data=eval_ds, steps_per_epoch=schedule.steps_per_epoch,
            validation_steps=schedule.eval_steps, shuffle=False, verbose=schedule.verbose,
        )
        fit_kwargs.update(kwargs)
        return self._fit_with_logs(hp, model, schedule.batch_size, **fit_kwargs)


class TextHyperModel(_TrialLoggingHyperModel):
    """A KerasTuner `HyperModel` of text SleepNet / DreamNet.

    Searchable hyperparameters (`TEXT_HYPERPARAMETERS`): `blocks` (M, 1 to
    4), `chain` (`lstm`, `textcnn`, `charcnn`), `block_depth` (LSTMs per
    chain block, 1 or 2), `token_mode` (`straight_through` or the paper's
    `argmax`), `unfreeze`, `lr` and `weight_decay` (log scale). The others
    are fixed at the configuration. `build` loads the encoder (or masked LM)
    and its tokenizer from the configuration's `--encoder` afresh in every
    trial (KerasTuner clears the session before each build), as the text
    apps do.

    With `data` and `preprocessor` the hypermodel trains on its own
    pipelines, built as the text apps build them (word-edit augmentation
    included), and validates on `data.eval`; `tuner.search(epochs=...)`
    then takes no data. Without them the data are passed to `tuner.search`
    as for `model.fit`: batches of `({"token_ids", "padding_mask"},
    integer labels)`.

    Args:
        config: `dreamkeras_cli.config.RunConfig` of a text app whose
            `--model` is sleepnet or dreamnet.
        num_classes: int. Number of classes (default: `data.num_classes`).
        search_space: iterable of str. Hyperparameters to search.
        values: optional dict restricting searched hyperparameters.
        masked_lm_class: optional KerasHub masked-LM class to load the
            preset with (e.g. `keras_hub.models.RobertaMaskedLM`); by
            default the text apps' loader (`load_text_encoder`) picks it.
        logdir: optional str. Root of the per-trial TensorBoard logs.
        data: optional `dreamkeras.text.TextDataset` whose `train` split
            trains and `eval` split validates the trials.
        preprocessor: the KerasHub preprocessor of `data` (with `data`).
        name, tunable: passed to `keras_tuner.HyperModel`.

    Example:

    ```python
    config = dreamkeras_cli.commands.run_config(
        "text_folder", ["--model", "sleepnet", "--encoder", "presets/tiny"]
    )
    hypermodel = dreamkeras.tuning.TextHyperModel(config, 4, search_space=("blocks",))
    tuner = dreamkeras.tuning.make_tuner("random", hypermodel, "runs", "texts")
    tuner.search(train_ds, validation_data=val_ds, epochs=2)
    ```
    """

    fields = hps.TEXT_FIELDS

    def __init__(
        self,
        config,
        num_classes=None,
        search_space=("blocks", "unfreeze"),
        values=None,
        masked_lm_class=None,
        logdir=None,
        data=None,
        preprocessor=None,
        name=None,
        tunable=True,
    ):
        super().__init__(config, search_space, values, logdir, name, tunable)
        if not config.model.uses_encoder_weights:
            raise ValueError(
                f"TextHyperModel searches the connected models: --model sleepnet or "
                f"dreamnet. Received: {config.model.kind!r}."
            )
        if (data is None) != (preprocessor is None):
            raise ValueError("Pass `data` and its `preprocessor` together (or neither).")
        if num_classes is None and data is None:
            raise ValueError("Pass `num_classes` (or `data`).")
        self.num_classes = num_classes or data.num_classes
        self.masked_lm_class = masked_lm_class
        self.data = data
        self.preprocessor = preprocessor
        # Pipelines by the settings they depend on: tracing the tokenizer
        # into tf.data takes seconds, and no text hyperparameter changes them.
        self._pipelines = {}

    def fixed_hparams(self):
        hparams = super().fixed_hparams()
        if self.data is not None:
            hparams["dataset"] = self.data.name
        return hparams

    def _train_size(self, config):
        size = self.data.train_size if self.data is not None else None
        return size and size * (2 if config.augment.augment else 1)

    def build(self, hp):
        from dreamkeras.training.compile import compile_classifier
        from dreamkeras.training.compile import steps_per_epoch_of
        from dreamkeras.training.text_task import build_text_model
        from dreamkeras.training.text_task import embedding_width
        from dreamkeras.training.text_encoders import encoder_width
        from dreamkeras.training.text_encoders import load_text_encoder

        config = self.trial_config(hp)
        keras.utils.set_random_seed(config.schedule.seed)
        if self.masked_lm_class is not None:
            masked_lm = self.masked_lm_class.from_preset(config.model.encoder)
            encoder = masked_lm if config.model.kind == "dreamnet" else masked_lm.backbone
            tokenizer = embedding_dim = None
        else:
            tokenizer, encoder = load_text_encoder(config.model)
            embedding_dim = embedding_width(
                config.model, encoder_width(config.model.encoder, encoder)
            )
        model = build_text_model(
            config.model, self.num_classes, tokenizer, encoder, embedding_dim
        )
        steps = steps_per_epoch_of(config.schedule, self._train_size(config))
        return compile_classifier(
            model, config.optimizer, self.num_classes, sparse=True,
            epochs=config.schedule.epochs if steps else None, steps_per_epoch=steps,
        )

    def fit(self, hp, model, *args, **kwargs):
        """Trains a trial's model; on the hypermodel's own `data` when it has one."""
        from dreamkeras.training.text_task import text_pipelines

        if self.data is None:
            return self._fit_with_logs(
                hp, model, kwargs.get("batch_size") or 0, *args, **kwargs
            )
        if args or "x" in kwargs:
            raise ValueError(
                "This TextHyperModel trains on its own `data`; call "
                "`tuner.search(epochs=...)` without x / validation_data."
            )
        config = self.trial_config(hp)
        schedule = config.schedule
        key = (config.augment, config.schedule, config.hardware.distribute)
        if key not in self._pipelines:
            self._pipelines[key] = text_pipelines(config, self.data, self.preprocessor)[:2]
        train_ds, eval_ds = self._pipelines[key]
        fit_kwargs = dict(
            x=train_ds, validation_data=eval_ds, steps_per_epoch=schedule.steps_per_epoch,
            validation_steps=schedule.eval_steps, shuffle=False, verbose=schedule.verbose,
        )
        fit_kwargs.update(kwargs)
        return self._fit_with_logs(hp, model, schedule.batch_size, **fit_kwargs)
