"""The typed run configuration, built once from the flags and never changed.

A `RunConfig` holds everything a training run needs, in sections: the data,
the model (`VisionModel`, `TextModel` or `MAEModel`), the optimiser, the run
length (`Schedule`), the files, the hardware and the augmentation. The
builders (`image_run_config`, `text_run_config`, `mae_run_config`) check
every value, apply `--fast-dev-run`'s settings (recording what they
replace) and make the output paths absolute; the dataclasses are frozen, so
nothing downstream can change them (`dataclasses.replace` makes a new one,
as the tuner does for each trial).

Standard library only: flags are checked before any heavy import.
"""

import dataclasses
import os


class TrainingSetupError(ValueError):
    """A run cannot start: bad flags, an existing output, no encoder.

    Its message is one line that names the problem and the fix; the apps
    print it as `error: ...` and exit with status 2.

    Example:

    ```python
    try:
        dreamkeras_cli.builders.image_run_config(args, info)
    except dreamkeras_cli.config.TrainingSetupError as error:
        print(error)
    ```
    """


@dataclasses.dataclass(frozen=True)
class Hardware:
    """Backend and devices: `backend`, `mixed_precision`, `distribute`, `debug`.

    `mesh` is the `(batch, model)` device mesh (None: all devices on
    `batch`); `coordinator_address`, `num_processes` and `process_id` join a
    multi-process run (None: from the environment, else one process). See
    `dreamkeras.training.distribution`.

    Example:

    ```python
    Hardware(backend="jax", mixed_precision="mixed_bfloat16")
    Hardware(backend="jax", distribute=True, mesh=(2, 2))
    ```
    """

    backend: str = None
    mixed_precision: str = "none"
    distribute: bool = False
    debug: bool = False
    mesh: tuple = None
    coordinator_address: str = None
    num_processes: int = None
    process_id: int = None


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """The training recipe: optimiser, learning-rate schedule and loss.

    The classifiers train with Adam (AdamW, biases and norms excluded, when
    `weight_decay > 0`) on a `dreamkeras.training.WarmupSchedule`: a linear
    warm-up of `warmup_epochs` (None: 10% of the epochs), then `lr_schedule`
    (`"constant"`, `"cosine"` or `"step"`: times `lr_step_factor` every
    `lr_step_epochs`), and cross-entropy with `label_smoothing`. MAE
    pretraining uses AdamW with warm-up and cosine decay.

    Example:

    ```python
    Optimizer(lr=1e-3, weight_decay=1e-4, lr_schedule="step", lr_step_epochs=10)
    ```
    """

    lr: float = 0.005
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-5
    weight_decay: float = 0.0
    warmup_epochs: float = None
    lr_schedule: str = "cosine"
    lr_step_epochs: float = 10.0
    lr_step_factor: float = 0.1
    label_smoothing: float = 0.0


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How long and on what a run trains (`--epochs`, `--batch-size`, ...).

    `validation_split` is the share of the training split held out for
    validation (when the dataset has no validation split of its own) and
    `patience` the early-stopping patience on it (None: all epochs).

    Example:

    ```python
    Schedule(epochs=10, batch_size=32, steps_per_epoch=100)
    ```
    """

    epochs: int = 30
    batch_size: int = 64
    seed: int = 1337
    steps_per_epoch: int = None
    eval_steps: int = None
    train_subset: int = None
    eval_subset: int = None
    verbose: int = 1
    validation_split: float = 0.1
    patience: int = None


@dataclasses.dataclass(frozen=True)
class Files:
    """Where a run writes, as absolute paths.

    Attributes:
        output: str. The final model (`.keras`), or for MAE pretraining the
            preset folder.
        logdir: str. TensorBoard logs; the resume backup is `logdir/backup`.
        overwrite, resume, restart: bool. The flags of the same names.
        preset: bool. `output` is a preset folder (MAE pretraining).

    Example:

    ```python
    Files(output="/runs/m.keras", logdir="/runs/m").report  # "/runs/m.json"
    ```
    """

    output: str
    logdir: str
    overwrite: bool = False
    resume: bool = False
    restart: bool = False
    preset: bool = False

    @property
    def report(self):
        """str: the JSON report, next to the output."""
        if self.preset:
            return self.output + ".json"
        return self.output[: -len(".keras")] + ".json"

    @property
    def best(self):
        """str or None: the best epoch's model (classifiers only)."""
        if self.preset:
            return None
        return self.output[: -len(".keras")] + "_best.keras"

    @property
    def backup(self):
        """str: the `BackupAndRestore` folder."""
        return os.path.join(self.logdir, "backup")


@dataclasses.dataclass(frozen=True)
class Data:
    """The data of a run.

    Attributes:
        dataset: str. The app's dataset (or, for MAE pretraining,
            `fashion_mnist`, `image_folder` or a tfds name).
        data_dir: str or None.
        yelp5: str or None. The Yelp-5 folder of the Yelp app.
        num_classes: int or None. Classes of the generated data of a fast
            dev run.
        native_shape: tuple or None. Image shape of the generated data.

    Example:

    ```python
    Data(dataset="image_folder", data_dir="~/photos")
    ```
    """

    dataset: str
    data_dir: str = None
    yelp5: str = None
    num_classes: int = None
    native_shape: tuple = None


@dataclasses.dataclass(frozen=True)
class VisionModel:
    """A SleepNet, DreamNet or chain baseline (the vision apps' model flags).

    Example:

    ```python
    VisionModel(kind="sleepnet", blocks=2, encoder="vit-tiny-32", width=8)
    ```

    `architecture="reference"` builds the reference implementation's
    networks (`dreamkeras.models.ReferenceDreamNet`, `ReferenceSleepNet`),
    whose chain, width, stem and projection are fixed.
    """

    kind: str = "dreamnet"
    architecture: str = "ours"
    blocks: int = 3
    chain: str = "resnet18"
    width: int = 64
    stem: str = "auto"
    encoder: str = "hf://facebook/vit-mae-base"
    unfreeze: bool = False
    projection: str = "grid"
    mask_ratio: float = 0.0
    stop_gradient: bool = False
    remat: bool = False
    xla_cpu_kernels: bool = False
    image_size: int = None
    dropout: float = 0.0
    head: str = "auto"
    encoder_input: str = "features"
    inference_mask_ratio: float = 0.0
    keep_visible: bool = False

    @property
    def uses_encoder_weights(self):
        """bool: the model calls the encoder (not the baselines)."""
        return self.kind not in ("baseline", "smallcnn")

    @property
    def uses_autoencoder(self):
        """bool: the model calls a whole MAE (DreamNet; both reference networks)."""
        return self.kind == "dreamnet" or (
            self.architecture == "reference" and self.uses_encoder_weights
        )


@dataclasses.dataclass(frozen=True)
class TextModel:
    """A text DreamNet, SleepNet, LSTM, TextCNN or CharCNN (the text apps' model flags).

    `chain` is the chain of dreamnet / sleepnet (`"lstm"`, `"textcnn"` or
    `"charcnn"`, `dreamkeras.models.text_chains`); the baselines keep
    `"lstm"`. `charcnn_size` is the `CharCNNClassifier`'s size (`"small"`
    or `"large"`) of `kind="charcnn"`.

    Example:

    ```python
    TextModel(kind="sleepnet", chain="textcnn", encoder="presets/tiny", width=64)
    ```
    """

    kind: str = "dreamnet"
    blocks: int = 3
    chain: str = "lstm"
    width: int = 128
    block_depth: int = 1
    embedding: str = "encoder"
    embedding_dim: int = None
    encoder: str = "roberta_base_en"
    token_mode: str = "straight_through"
    unfreeze: bool = False
    max_length: int = 128
    dropout: float = None
    charcnn_size: str = "small"

    @property
    def uses_encoder_weights(self):
        """bool: the model calls the encoder (the baselines use only its tokenizer)."""
        return self.kind in ("dreamnet", "sleepnet")

    @property
    def uses_charcnn(self):
        """bool: Zhang et al.'s convolutions pool the sequence (`--chain` or `--model` charcnn)."""
        chain = self.chain if self.uses_encoder_weights else self.kind
        return chain == "charcnn"


@dataclasses.dataclass(frozen=True)
class MAEModel:
    """The MAE to pretrain (the pretraining app's model flags).

    Example:

    ```python
    MAEModel(encoder="mae-tiny-32", mask_ratio=0.75)
    ```
    """

    encoder: str = "mae-small-32"
    image_size: int = None
    mask_ratio: float = 0.75
    norm_pix_loss: bool = True
    flip: bool = True


@dataclasses.dataclass(frozen=True)
class MLMModel:
    """The RoBERTa masked LM to pretrain (`dreamkeras pretrain-mlm`'s model flags).

    The byte-level BPE vocabulary keeps the `words` most frequent words of
    the training texts whole; `max_length` is the training sequence length
    and `max_sequence_length` the longest the encoder takes (the text apps'
    largest `--max-length`).

    Example:

    ```python
    MLMModel(hidden_dim=64, num_layers=2, num_heads=2, mask_ratio=0.15)
    ```
    """

    words: int = 2000
    hidden_dim: int = 128
    num_layers: int = 2
    num_heads: int = 2
    max_sequence_length: int = 128
    max_length: int = 128
    mask_ratio: float = 0.15

    @property
    def intermediate_dim(self):
        """int: the feed-forward width (4 times the hidden size, as RoBERTa's)."""
        return 4 * self.hidden_dim


@dataclasses.dataclass(frozen=True)
class ImageAugment:
    """RandAugment and MixUp of the training images.

    Example:

    ```python
    ImageAugment(randaugment=False, mixup_alpha=0.0)
    ```
    """

    randaugment: bool = True
    magnitude: float = 0.5
    mixup_alpha: float = 0.2


@dataclasses.dataclass(frozen=True)
class TextAugment:
    """The paper's word-edit augmentation of the training texts.

    Example:

    ```python
    TextAugment(augment=False)  # the paper augments; this run does not
    ```
    """

    augment: bool = True
    rate: float = 0.1


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs, built once from the flags.

    Attributes:
        task: str. `"image"`, `"text"`, `"mae"` or `"mlm"`.
        data: `Data`.
        model: `VisionModel`, `TextModel`, `MAEModel` or `MLMModel`.
        optimizer: `Optimizer`.
        schedule: `Schedule`.
        files: `Files`.
        hardware: `Hardware`.
        augment: `ImageAugment`, `TextAugment` or None.
        fast_dev_run: bool. A smoke test, not a real run.
        replaced: tuple of `(flag, asked, used)`: what `--fast-dev-run`
            replaced.
        command: str. The command that started the run (for messages).

    Example:

    ```python
    config = dreamkeras_cli.builders.image_run_config(args, info)
    smaller = dataclasses.replace(
        config, model=dataclasses.replace(config.model, blocks=1)
    )
    ```
    """

    task: str
    data: Data
    model: object
    optimizer: Optimizer
    schedule: Schedule
    files: Files
    hardware: Hardware = Hardware()
    augment: object = None
    fast_dev_run: bool = False
    replaced: tuple = ()
    command: str = "dreamkeras"

    def to_dict(self):
        """The configuration as nested plain dicts (for the JSON report)."""
        return dataclasses.asdict(self)

    def flat(self):
        """`{"section.field": value}` of every setting (for TensorBoard HParams)."""
        flat = {"task": self.task, "fast_dev_run": self.fast_dev_run}
        for section in ("data", "model", "optimizer", "schedule", "files", "hardware", "augment"):
            value = getattr(self, section)
            if value is None:
                continue
            for key, item in dataclasses.asdict(value).items():
                flat[f"{section}.{key}"] = item
        return flat
