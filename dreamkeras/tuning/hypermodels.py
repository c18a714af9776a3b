"""KerasTuner `HyperModel`s of the vision and text SleepNet / DreamNet.

The vision hypermodel builds, compiles and trains through the apps'
training module (`dreamkeras.training`: `load_run_encoder`, `build_model`,
`compile_model`, `make_pipelines`), so a trial is the same run as
`python apps/<dataset>.py` with the trial's values as flags. Augmentation
hyperparameters are read in `fit`, which rebuilds the tf.data pipeline
(`dreamkeras.data.build_pipeline`) for every trial.
"""

import argparse
import json
import math
import os
import time

import keras
import keras_tuner

VISION_HYPERPARAMETERS = (
    "blocks",
    "chain",
    "projection",
    "unfreeze",
    "lr",
    "weight_decay",
    "randaugment_magnitude",
    "mixup_alpha",
)
TEXT_HYPERPARAMETERS = (
    "blocks",
    "block_depth",
    "token_mode",
    "unfreeze",
    "lr",
    "weight_decay",
)


def _in_range(value, low, high, default):
    return value if value is not None and low <= value <= high else default


def _declare(hp, name, searched, settings, values=None):
    """Declares hyperparameter `name`: searched (a range) or `hp.Fixed`.

    Args:
        hp: `keras_tuner.HyperParameters`.
        name: str. A name of `VISION_HYPERPARAMETERS` / `TEXT_HYPERPARAMETERS`.
        searched: bool. Search it, else fix it at `settings[name]`.
        settings: dict. The fixed values (and the defaults of the searched).
        values: optional list. Restricts a searched hyperparameter to these.

    Returns:
        The hyperparameter's value in this trial.
    """
    current = settings.get(name)
    if not searched:
        return hp.Fixed(name, current)
    if values:
        default = current if current in values else values[0]
        return hp.Choice(name, list(values), default=default)
    if name == "blocks":
        return hp.Int("blocks", 1, 4, default=_in_range(current, 1, 4, 3))
    if name == "block_depth":
        return hp.Int("block_depth", 1, 2, default=_in_range(current, 1, 2, 1))
    if name == "chain":
        return hp.Choice(
            "chain", ["resnet18", "resnet34", "resnet50"], default=current or "resnet18"
        )
    if name == "projection":
        return hp.Choice("projection", ["grid", "pooled"], default=current or "grid")
    if name == "token_mode":
        return hp.Choice(
            "token_mode", ["straight_through", "argmax"],
            default=current or "straight_through",
        )
    if name == "unfreeze":
        return hp.Boolean("unfreeze", default=bool(current))
    if name == "lr":
        return hp.Float(
            "lr", 1e-4, 1e-2, sampling="log", default=_in_range(current, 1e-4, 1e-2, 1e-3)
        )
    if name == "weight_decay":
        return hp.Float(
            "weight_decay", 1e-6, 1e-2, sampling="log",
            default=_in_range(current, 1e-6, 1e-2, 1e-4),
        )
    if name == "randaugment_magnitude":
        return hp.Float(
            "randaugment_magnitude", 0.0, 1.0, step=0.1,
            default=_in_range(current, 0.0, 1.0, 0.5),
        )
    if name == "mixup_alpha":
        return hp.Float(
            "mixup_alpha", 0.0, 0.8, step=0.1, default=_in_range(current, 0.0, 0.8, 0.2)
        )
    raise ValueError(f"Unknown hyperparameter {name!r}.")


def _check_space(search_space, known, values):
    search_space = tuple(search_space)
    unknown = [name for name in search_space if name not in known]
    if unknown:
        raise ValueError(
            f"Unknown hyperparameter(s) {unknown} in `search_space`. "
            f"Searchable: {list(known)}."
        )
    values = {k: list(v) for k, v in (values or {}).items()}
    stray = [name for name in values if name not in search_space]
    if stray:
        raise ValueError(
            f"`values` restricts {stray}, which are not searched. Add them to "
            f"`search_space` (searched: {list(search_space)})."
        )
    return search_space, values


class _TrialLoggingHyperModel(keras_tuner.HyperModel):
    """Per-trial TensorBoard logs, HParams and a JSON summary of each fit.

    `DreamkerasTuner`s call `begin_trial` before a trial's executions; each
    `fit` then logs to `logdir/<trial_id>/execution<k>`.
    """

    def __init__(self, logdir=None, name=None, tunable=True):
        super().__init__(name=name, tunable=tunable)
        self.logdir = logdir
        self.trial_id = None
        self.trial_dir = None
        self._execution = 0

    def begin_trial(self, trial_id, trial_dir=None):
        """Called by the tuner before the executions of a trial."""
        self.trial_id = trial_id
        self.trial_dir = trial_dir
        self._execution = 0

    def fixed_hparams(self):
        """Settings that are not hyperparameters, logged with every trial."""
        return {}

    def _fit_with_logs(self, hp, model, images_per_step, fit, *args, **kwargs):
        from dreamkeras.training import HParamsLogger
        from dreamkeras.training import Throughput
        from dreamkeras.training import parameter_counts
        from dreamkeras.training.callbacks import tensorboard_callback

        execution = self._execution
        self._execution += 1
        callbacks = list(kwargs.pop("callbacks", None) or [])
        speed = Throughput(images_per_step, mode="train")
        callbacks.append(speed)
        trial_logdir = None
        if self.logdir:
            trial_logdir = os.path.join(
                self.logdir, str(self.trial_id or "untracked"), f"execution{execution}"
            )
            hparams = dict(self.fixed_hparams())
            hparams.update(hp.values)
            hparams["trial_id"] = str(self.trial_id)
            callbacks += [tensorboard_callback(trial_logdir), HParamsLogger(trial_logdir, hparams)]
        started = time.perf_counter()
        history = fit(*args, callbacks=callbacks, **kwargs)
        summary = {
            "trial_id": self.trial_id,
            "execution": execution,
            "hyperparameters": dict(hp.values),
            "epochs_run": len(history.history.get("loss", [])),
            "seconds": time.perf_counter() - started,
            "train_images_per_second": (
                speed.images_per_second if images_per_step else None
            ),
            "params": parameter_counts(model),
            "history": {
                k: [float(v) for v in vals] for k, vals in history.history.items()
            },
            "logdir": trial_logdir,
        }
        if self.trial_dir:
            os.makedirs(self.trial_dir, exist_ok=True)
            path = os.path.join(self.trial_dir, f"execution{execution}.json")
            with open(path, "w") as f:
                json.dump(summary, f, indent=2, default=str)
        return history


class VisionHyperModel(_TrialLoggingHyperModel):
    """A KerasTuner `HyperModel` of vision SleepNet / DreamNet.

    Searchable hyperparameters (names as in `VISION_HYPERPARAMETERS`):
    `blocks` (M, 1 to 4), `chain` (resnet18/34/50), `projection`
    (grid/pooled), `unfreeze` (train the encoder), `lr` (log scale,
    1e-4 to 1e-2), `weight_decay` (log scale, 1e-6 to 1e-2), and, read in
    `fit` where the augmented pipeline is rebuilt, `randaugment_magnitude`
    (0 to 1) and `mixup_alpha` (0 to 0.8). The others are `hp.Fixed` at the
    value of the training flags in `settings`, so every trial records its
    complete configuration.

    The fixed parts (dataset, encoder, model kind, width, batch size, ...)
    are the apps' training flags. `build` loads the encoder afresh (KerasTuner
    clears the Keras session before every build) with the run's seed, and
    builds and compiles the classifier with `dreamkeras.training`.

    Args:
        settings: `argparse.Namespace` of the training flags
            (`dreamkeras.training.build_parser`), or a dict of flag values
            overriding its defaults (see `vision_settings`).
        data: `dreamkeras.data.ImageDataset`. Its `train` split trains and
            its `eval` split validates the trials.
        image_shape: optional (int, int, int). Model input; defaults to the
            encoder's (or `--image-size`).
        search_space: iterable of str. Hyperparameters to search.
        values: optional dict of str to list, restricting searched
            hyperparameters to a list of values (e.g. `{"blocks": [1, 2, 3]}`).
        logdir: optional str. Root of the per-trial TensorBoard logs.
        name, tunable: passed to `keras_tuner.HyperModel`.

    Example:

    ```python
    settings = dreamkeras.tuning.vision_settings(
        "fashion_mnist", model="dreamnet", encoder="mae-tiny-32", width=8
    )
    hypermodel = dreamkeras.tuning.VisionHyperModel(
        settings, data, search_space=("blocks", "unfreeze")
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=4, directory="tuning_runs"
    )
    tuner.search(epochs=2)
    ```
    """

    def __init__(
        self,
        settings,
        data,
        image_shape=None,
        search_space=("blocks", "unfreeze"),
        values=None,
        logdir=None,
        name=None,
        tunable=True,
    ):
        super().__init__(logdir=logdir, name=name, tunable=tunable)
        if isinstance(settings, dict):
            settings = vision_settings(**settings)
        self.settings = settings
        self.search_space, self.values = _check_space(
            search_space, VISION_HYPERPARAMETERS, values
        )
        if settings.model == "baseline":
            connection_only = {"projection", "unfreeze"} & set(self.search_space)
            if connection_only:
                raise ValueError(
                    f"The baseline has no encoder connection; cannot search "
                    f"{sorted(connection_only)}. Use model 'sleepnet' or "
                    f"'dreamnet', or drop them from the search space."
                )
        self.data = data
        self.image_shape = tuple(image_shape) if image_shape else None

    def _settings_dict(self):
        return vars(self.settings)

    def _value(self, hp, name):
        return _declare(
            hp, name, name in self.search_space, self._settings_dict(),
            self.values.get(name),
        )

    def declare_hyperparameters(self, hp):
        for name in VISION_HYPERPARAMETERS:
            self._value(hp, name)

    def trial_settings(self, hp):
        """The training flags of a trial: `settings` with the trial's values."""
        values = {name: self._value(hp, name) for name in VISION_HYPERPARAMETERS}
        return argparse.Namespace(**{**self._settings_dict(), **values})

    def fixed_hparams(self):
        settings = self.settings
        return {
            "dataset": self.data.name,
            "model": settings.model,
            "encoder": settings.encoder,
            "width": settings.width,
            "batch_size": settings.batch_size,
            "seed": settings.seed,
        }

    def build(self, hp):
        from dreamkeras.training import build_model
        from dreamkeras.training import compile_model
        from dreamkeras.training import load_run_encoder
        from dreamkeras.training import resolve_image_shape

        args = self.trial_settings(hp)
        # Same random initialisation for every trial (and the same random
        # weights for a named random-size encoder).
        keras.utils.set_random_seed(args.seed)
        encoder = None if args.model == "baseline" else load_run_encoder(args)
        image_shape = self.image_shape or resolve_image_shape(args, encoder)
        model = build_model(args, self.data.num_classes, image_shape, encoder)
        return compile_model(model, args, self.data.num_classes)

    def fit(self, hp, model, *args, **kwargs):
        """Trains a trial's model on a pipeline built for its augmentation.

        Positional data arguments are not accepted: the data comes from the
        hypermodel. `kwargs` (epochs, callbacks from the tuner, ...) go to
        `model.fit`.
        """
        from dreamkeras.training import make_pipelines

        if args or "x" in kwargs:
            raise ValueError(
                "VisionHyperModel trains on its own `data`; call "
                "`tuner.search(epochs=...)` without x / validation_data."
            )
        settings = self.trial_settings(hp)
        image_shape = self.image_shape or tuple(model.input_shape[1:])
        train_ds, eval_ds = make_pipelines(settings, self.data, image_shape)
        kwargs.setdefault("verbose", settings.verbose)
        fit_kwargs = dict(
            x=train_ds,
            validation_data=eval_ds,
            steps_per_epoch=settings.steps_per_epoch,
            validation_steps=settings.eval_steps,
            shuffle=False,
        )
        fit_kwargs.update(kwargs)
        history = self._fit_with_logs(
            hp, model, settings.batch_size, model.fit, **fit_kwargs
        )
        losses = history.history.get("loss", [])
        if any(not math.isfinite(v) for v in losses):
            # KerasTuner records the trial as failed and moves on.
            raise ValueError(f"Trial diverged: losses per epoch {losses}.")
        return history


def vision_settings(dataset="fashion_mnist", **overrides):
    """The training flags' defaults for `dataset`, with overrides.

    Args:
        dataset: str. A key of `dreamkeras.training.DATASETS`.
        **overrides: flag values by attribute name (`encoder="mae-tiny-32"`,
            `width=8`, `blocks=2`, ...).

    Returns:
        An `argparse.Namespace` for `VisionHyperModel`.

    Example:

    ```python
    settings = dreamkeras.tuning.vision_settings("fashion_mnist", width=8)
    ```
    """
    from dreamkeras.training import DATASETS
    from dreamkeras.training import build_parser

    if dataset not in DATASETS:
        raise ValueError(
            f"Unknown dataset {dataset!r}. Known datasets: {sorted(DATASETS)}."
        )
    settings = build_parser(DATASETS[dataset][0]).parse_args([])
    unknown = [k for k in overrides if not hasattr(settings, k)]
    if unknown:
        raise ValueError(
            f"Unknown setting(s) {unknown}. Settings are the training flags' "
            f"names, e.g. {sorted(vars(settings))[:8]}..."
        )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


class TextHyperModel(_TrialLoggingHyperModel):
    """A KerasTuner `HyperModel` of text SleepNet / DreamNet.

    Searchable hyperparameters (`TEXT_HYPERPARAMETERS`): `blocks` (M, 1 to
    4), `block_depth` (LSTMs per chain block, 1 or 2), `token_mode`
    (`straight_through` or the paper's `argmax`), `unfreeze`, `lr` and
    `weight_decay` (log scale). The others are fixed at `settings`. `build`
    loads the masked LM from its preset afresh in every trial (KerasTuner
    clears the session before each build). The data are passed to
    `tuner.search` as for `model.fit`: batches of
    `({"token_ids", "padding_mask"}, integer labels)`.

    Args:
        encoder: str. A KerasHub masked-LM preset (a local folder written by
            `save_to_preset`, or a preset name / handle), loaded with
            `keras_hub.models.RobertaMaskedLM.from_preset` (or
            `masked_lm_class`).
        num_classes: int. Number of classes.
        model: `"sleepnet"` (`TextSleepNet` on the backbone) or `"dreamnet"`
            (`TextDreamNet` on the masked LM).
        settings: optional dict of fixed values: `blocks`, `block_depth`,
            `token_mode`, `unfreeze`, `lr`, `weight_decay`, `width`,
            `embedding` (`"encoder"` or `"random"`), `seed`.
        search_space: iterable of str. Hyperparameters to search.
        values: optional dict restricting searched hyperparameters.
        masked_lm_class: the KerasHub masked-LM class of the preset.
        logdir: optional str. Root of the per-trial TensorBoard logs.
        name, tunable: passed to `keras_tuner.HyperModel`.

    Example:

    ```python
    hypermodel = dreamkeras.tuning.TextHyperModel(
        "presets/roberta_tiny", num_classes=4, search_space=("blocks", "lr")
    )
    tuner = keras_tuner.RandomSearch(hypermodel, "val_accuracy", max_trials=3)
    tuner.search(train_ds, validation_data=val_ds, epochs=2)
    ```
    """

    DEFAULTS = {
        "blocks": 3,
        "block_depth": 1,
        "token_mode": "straight_through",
        "unfreeze": False,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "width": 128,
        "embedding": "encoder",
        "seed": 1337,
    }

    def __init__(
        self,
        encoder,
        num_classes,
        model="sleepnet",
        settings=None,
        search_space=("blocks", "unfreeze"),
        values=None,
        masked_lm_class=None,
        logdir=None,
        name=None,
        tunable=True,
    ):
        super().__init__(logdir=logdir, name=name, tunable=tunable)
        if model not in ("sleepnet", "dreamnet"):
            raise ValueError(
                f"`model` must be 'sleepnet' or 'dreamnet'. Received: model={model!r}."
            )
        unknown = [k for k in (settings or {}) if k not in self.DEFAULTS]
        if unknown:
            raise ValueError(
                f"Unknown setting(s) {unknown}. Known: {sorted(self.DEFAULTS)}."
            )
        self.encoder = encoder
        self.num_classes = num_classes
        self.model = model
        self.settings = {**self.DEFAULTS, **(settings or {})}
        self.search_space, self.values = _check_space(
            search_space, TEXT_HYPERPARAMETERS, values
        )
        self.masked_lm_class = masked_lm_class

    def _value(self, hp, name):
        return _declare(
            hp, name, name in self.search_space, self.settings, self.values.get(name)
        )

    def declare_hyperparameters(self, hp):
        for name in TEXT_HYPERPARAMETERS:
            self._value(hp, name)

    def fixed_hparams(self):
        return {
            "model": self.model,
            "encoder": self.encoder,
            "width": self.settings["width"],
            "embedding": self.settings["embedding"],
        }

    def build(self, hp):
        import keras_hub

        from dreamkeras.training import build_text_model
        from dreamkeras.training.trainer import adam_from_args

        values = {name: self._value(hp, name) for name in TEXT_HYPERPARAMETERS}
        keras.utils.set_random_seed(self.settings["seed"])
        masked_lm_class = self.masked_lm_class or keras_hub.models.RobertaMaskedLM
        masked_lm = masked_lm_class.from_preset(self.encoder)
        # The text apps' own model and optimizer construction, with the
        # trial's values as flags.
        args = argparse.Namespace(
            model=self.model, blocks=values["blocks"], width=self.settings["width"],
            embedding=self.settings["embedding"], embedding_dim=None,
            block_depth=values["block_depth"], token_mode=values["token_mode"],
            unfreeze=values["unfreeze"], dropout=0.0, lr=values["lr"],
            beta_1=0.9, beta_2=0.999, epsilon=1e-5,
            weight_decay=values["weight_decay"],
        )
        encoder = masked_lm if self.model == "dreamnet" else masked_lm.backbone
        model = build_text_model(args, self.num_classes, tokenizer=None, encoder=encoder)
        model.compile(
            optimizer=adam_from_args(args),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        batch_size = kwargs.get("batch_size") or 0
        return self._fit_with_logs(hp, model, batch_size, model.fit, *args, **kwargs)
