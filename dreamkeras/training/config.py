"""Command-line flags of the training apps.

`--backend` must be known before Keras is imported (importing `dreamkeras`
imports Keras): `apps/_launcher.py` reads it first and sets `KERAS_BACKEND`.
"""

import argparse
import dataclasses

BACKENDS = ("jax", "tensorflow", "torch")
MODELS = ("dreamnet", "sleepnet", "baseline")
PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")
TEXT_MODELS = ("dreamnet", "sleepnet", "lstm", "textcnn")
TOKEN_MODES = ("straight_through", "argmax")


@dataclasses.dataclass(frozen=True)
class DatasetDefaults:
    """What an app's dataset brings to the command line.

    Attributes:
        name: str. Dataset name (used in default output paths).
        description: str. One line for `--help`.
        num_classes: int. Classes of the real dataset (fast-dev-run data).
        native_shape: (int, int, int). Image shape of the real dataset (the
            shape of the generated images of `--fast-dev-run`).
        data_dir_help: str. What `--data-dir` means for this dataset.
        default_data_dir: str or None.
    """

    name: str
    description: str
    num_classes: int
    native_shape: tuple
    data_dir_help: str
    default_data_dir: str = None


def build_parser(defaults, prog=None):
    """Returns the `argparse.ArgumentParser` of an app.

    Args:
        defaults: `DatasetDefaults` of the app's dataset.
        prog: str or None. Program name shown by `--help`.

    Returns:
        An `argparse.ArgumentParser`.

    Example:

    ```python
    parser = build_parser(DatasetDefaults("toy", "Toy data.", 10, (32, 32, 3), "-"))
    args = parser.parse_args(["--fast-dev-run"])
    ```
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            f"{defaults.description} Trains SleepNet / DreamNet (or the plain "
            f"chain baseline) on a frozen encoder, reports test accuracy, "
            f"parameter counts, FLOPs and throughput in a JSON file next to "
            f"the saved .keras model. Rerunning an interrupted command "
            f"resumes from its last finished epoch."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    group = add_backend_flags(parser)
    _add_distribute_flag(group)
    add_model_flags(parser)
    add_training_flags(parser)
    _add_file_flags(
        parser, defaults,
        fast_dev_run_help="Smoke test, NOT a real run: a few steps on "
        "generated images with a tiny random encoder (mae-tiny-32 / "
        "vit-tiny-32, width 8), then evaluate, save, reload and write "
        "TensorBoard logs.",
    )
    return parser


def add_model_flags(parser):
    """Adds the image model flags (`--model`, `--blocks`, `--chain`, ...).

    Returns:
        The "model" argument group.
    """
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model", choices=MODELS, default="dreamnet",
        help="dreamnet: frozen autoencoder connections plus the dream block; "
        "sleepnet: frozen encoder connections; baseline: the same chain "
        "without connections.",
    )
    group.add_argument(
        "--blocks", type=int, default=3, metavar="M",
        help="M, the number of chain blocks with a connection (1 to 4): "
        "DreamNet-M / SleepNet-M.",
    )
    group.add_argument(
        "--chain", choices=("resnet18", "resnet34", "resnet50"),
        default="resnet18",
        help="Depth and block type of the chain blocks g_m.",
    )
    group.add_argument(
        "--width", type=int, default=64,
        help="Filters of the stem and the first chain block (doubling per "
        "block).",
    )
    group.add_argument(
        "--stem", choices=("auto", "imagenet", "cifar"), default="auto",
        help="imagenet: 7x7/2 conv + max-pool; cifar: 3x3/1 conv. auto: "
        "cifar below 64 pixels, else imagenet.",
    )
    group.add_argument(
        "--encoder", default="hf://facebook/vit-mae-base",
        help="Frozen (auto)encoder: any name dreamkeras.encoders."
        "load_autoencoder / load_encoder accepts: a preset (local folder, "
        "Kaggle or hf:// handle) or a named random-weight size such as "
        "mae-tiny-32 or vit-tiny-32 (tests only). sleepnet uses the encoder "
        "half of an MAE.",
    )
    group.add_argument(
        "--unfreeze", action="store_true",
        help="Train the encoder too (the paper's ablation: frozen is better).",
    )
    group.add_argument(
        "--projection", choices=("grid", "pooled"), default="grid",
        help="How encoder tokens return to the feature map: grid keeps the "
        "token grid; pooled is the paper/reference mean + dense form.",
    )
    group.add_argument(
        "--mask-ratio", type=float, default=0.0,
        help="Share of the encoder's patches masked during training (none "
        "at inference); the reference masks 0.75.",
    )
    group.add_argument(
        "--stop-gradient", action="store_true",
        help="No backward pass through the frozen encoder: faster steps, but "
        "the adapters before it stop learning (a speed/quality trade-off).",
    )
    group.add_argument(
        "--remat", action="store_true",
        help="Recompute the frozen model's transformer blocks in the backward "
        "pass instead of storing their activations: much less memory, about "
        "one more forward pass of time. Same gradients.",
    )
    group.add_argument(
        "--image-size", type=int, default=None,
        help="Input size of the model. Default: the encoder's input size "
        "(images are resized to it).",
    )
    group.add_argument("--dropout", type=float, default=0.0, help="Dropout before the head.")
    return group


def add_training_flags(parser):
    """Adds the optimisation, augmentation and run-length flags of the image apps.

    Returns:
        The "training" argument group.
    """
    group = parser.add_argument_group("training")
    _add_optimizer_flags(group, epochs=30, batch_size=64, lr=0.005)
    group.add_argument(
        "--weight-decay", type=float, default=0.0,
        help="Decoupled weight decay of Adam (Keras' `weight_decay`); 0 is "
        "the paper's plain Adam.",
    )
    group.add_argument(
        "--randaugment", action=argparse.BooleanOptionalAction, default=True,
        help="RandAugment (2 operations) on each training image.",
    )
    group.add_argument(
        "--randaugment-magnitude", type=float, default=0.5,
        help="Strength (factor, 0 to 1) of each RandAugment operation.",
    )
    group.add_argument(
        "--mixup-alpha", type=float, default=0.2,
        help="MixUp strength on each training batch; 0 disables MixUp.",
    )
    _add_run_length_flags(group)
    return group


@dataclasses.dataclass(frozen=True)
class TextDatasetDefaults:
    """What a text app's dataset brings to the command line.

    Attributes:
        name: str. Dataset name (used in default output paths).
        description: str. One line for `--help`.
        num_classes: int. Classes of the real dataset (fast-dev-run data).
        data_dir_help: str. What `--data-dir` means for this dataset.
        default_data_dir: str or None.
        add_flags: callable or None. `add_flags(parser)` adds the dataset's
            own flags (e.g. `--yelp5` of the Yelp app).
    """

    name: str
    description: str
    num_classes: int
    data_dir_help: str
    default_data_dir: str = None
    add_flags: object = None


def build_text_parser(defaults, prog=None):
    """Returns the `argparse.ArgumentParser` of a text app.

    The backend, optimizer, run-length and file flags are those of the image
    apps (`build_parser`); the model flags are the text networks'.

    Args:
        defaults: `TextDatasetDefaults` of the app's dataset.
        prog: str or None. Program name shown by `--help`.

    Returns:
        An `argparse.ArgumentParser`.

    Example:

    ```python
    parser = build_text_parser(TextDatasetDefaults("toy", "Toy texts.", 2, "-"))
    args = parser.parse_args(["--fast-dev-run", "--model", "lstm"])
    ```
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            f"{defaults.description} Trains a text DreamNet / SleepNet on a "
            f"frozen KerasHub encoder (RoBERTa by default), or the LSTM / "
            f"TextCNN baselines, tokenising with the encoder preset's own "
            f"tokenizer; reports test accuracy and parameter counts in a "
            f"JSON file next to the saved .keras model. Rerunning an "
            f"interrupted command resumes from its last finished epoch."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_distribute_flag(add_backend_flags(parser))

    group = parser.add_argument_group("model")
    group.add_argument(
        "--model", choices=TEXT_MODELS, default="dreamnet",
        help="dreamnet: frozen masked-LM connections plus the dream block; "
        "sleepnet: frozen encoder connections; lstm: the same LSTM chain "
        "without connections; textcnn: Kim's TextCNN. The baselines use "
        "only the encoder preset's tokenizer.",
    )
    group.add_argument(
        "--blocks", type=int, default=3, metavar="M",
        help="M, the number of LSTM blocks (with a connection each for "
        "dreamnet / sleepnet, 1 to 4); LSTM layers of --model lstm.",
    )
    group.add_argument("--width", type=int, default=128, help="Units of the LSTMs.")
    group.add_argument(
        "--block-depth", type=int, default=1,
        help="LSTMs per block (the paper's ablation uses 2).",
    )
    group.add_argument(
        "--embedding", choices=("encoder", "random"), default="encoder",
        help="dreamnet / sleepnet: start the chain's token embedding from "
        "the encoder's (width = the encoder's hidden size), or random.",
    )
    group.add_argument(
        "--embedding-dim", type=int, default=None,
        help="Width of a random token embedding (default: --width; TextCNN: "
        "128).",
    )
    group.add_argument(
        "--encoder", default="roberta_base_en",
        help="KerasHub text encoder preset: a preset name (roberta_base_en), "
        "an hf:// handle (hf://FacebookAI/roberta-base) or a local preset "
        "folder (save_to_preset), or a Hugging Face XLNet checkpoint "
        "(hf://xlnet/xlnet-base-cased, or a save_pretrained folder with its "
        "spiece.model). Its tokenizer tokenises the texts; dreamnet loads its "
        "masked LM (RobertaMaskedLM, XLNet's LM head), sleepnet its backbone.",
    )
    group.add_argument(
        "--token-mode", "--sleep-mode", choices=TOKEN_MODES,
        default="straight_through",
        help="How connections turn the hidden sequence into tokens: "
        "straight_through (argmax forward, softmax gradient: the vocabulary "
        "projection trains) or argmax (the paper's form; the projection "
        "cannot train).",
    )
    group.add_argument(
        "--unfreeze", action="store_true",
        help="Train the encoder too (the paper's ablation: frozen is better).",
    )
    group.add_argument(
        "--max-length", type=int, default=128,
        help="Tokens per text, special tokens included: longer texts are "
        "truncated, shorter ones padded. At most the encoder's "
        "max_sequence_length.",
    )
    group.add_argument(
        "--dropout", type=float, default=None,
        help="Dropout before the head (default: 0, TextCNN 0.5).",
    )

    group = parser.add_argument_group("training")
    _add_optimizer_flags(group, epochs=10, batch_size=32, lr=1e-3)
    group.add_argument(
        "--augment", action="store_true",
        help="The paper's text augmentation: an edited copy of every "
        "training text (random word swaps, insertions, deletions and "
        "substitutions of --augment-rate of its words, drawn anew each "
        "epoch) doubles the training set.",
    )
    group.add_argument(
        "--augment-rate", type=float, default=0.1,
        help="Share of the words edited by --augment.",
    )
    _add_run_length_flags(group)
    _add_file_flags(
        parser, defaults,
        fast_dev_run_help="Smoke test, NOT a real run: a few steps on "
        "generated texts with a tiny RANDOM RoBERTa preset built on the "
        "spot (dreamkeras.text.testing), then evaluate, save, reload, "
        "decode dreams and write TensorBoard logs.",
    )
    if defaults.add_flags is not None:
        defaults.add_flags(parser)
    return parser


def add_backend_flags(parser):
    """Adds `--backend` and `--mixed-precision`; returns their group."""
    group = parser.add_argument_group("backend and hardware")
    group.add_argument(
        "--backend", choices=BACKENDS, default=None,
        help="Keras backend. Set before Keras is imported. Default: the "
        "KERAS_BACKEND environment variable, else jax.",
    )
    group.add_argument(
        "--mixed-precision", choices=PRECISIONS, default="none",
        help="Keras dtype policy: mixed_float16 (GPU, with loss scaling) or "
        "mixed_bfloat16 (CPU/TPU). The classifier head and the loss stay "
        "float32.",
    )
    return group


def _add_distribute_flag(group):
    group.add_argument(
        "--distribute", action="store_true",
        help="Data-parallel training over all local devices: "
        "keras.distribution.DataParallel on jax, "
        "tf.distribute.MirroredStrategy on tensorflow (not available on "
        "torch). The batch size must be a multiple of the device count.",
    )


def _add_optimizer_flags(group, epochs, batch_size, lr):
    group.add_argument("--epochs", type=int, default=epochs, help="Training epochs.")
    group.add_argument("--batch-size", type=int, default=batch_size, help="Global batch size.")
    group.add_argument("--lr", type=float, default=lr, help="Adam learning rate.")
    group.add_argument("--beta-1", type=float, default=0.9, help="Adam beta_1.")
    group.add_argument("--beta-2", type=float, default=0.999, help="Adam beta_2.")
    group.add_argument("--epsilon", type=float, default=1e-5, help="Adam epsilon.")


def _add_run_length_flags(group):
    group.add_argument("--seed", type=int, default=1337, help="Random seed.")
    group.add_argument(
        "--steps-per-epoch", type=int, default=None,
        help="Training steps per epoch (the data repeats); default: one pass. "
        "For smoke runs.",
    )
    group.add_argument(
        "--eval-steps", type=int, default=None,
        help="Evaluation batches; default: the whole held-out split.",
    )
    group.add_argument(
        "--train-subset", "--max-train-examples", type=int, default=None,
        metavar="N",
        help="Train on the first N training examples only.",
    )
    group.add_argument(
        "--eval-subset", type=int, default=None, metavar="N",
        help="Evaluate on the first N held-out examples only.",
    )
    group.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1,
        help="Keras progress output: 0 silent, 1 progress bar, 2 one line "
        "per epoch.",
    )


def _add_file_flags(parser, defaults, fast_dev_run_help):
    group = parser.add_argument_group("data and files")
    group.add_argument(
        "--data-dir", default=defaults.default_data_dir,
        help=defaults.data_dir_help,
    )
    add_output_flags(
        group,
        output_help="Saved model (.keras); the report is written next to it "
        "as .json and the best epoch's model as _best.keras. Default: "
        "outputs/<dataset>_<model><M>.keras.",
        logdir_default="runs/<dataset>_<model><M>",
        overwrite_help="Replace an existing output model (refused otherwise).",
        fast_dev_run_help=fast_dev_run_help,
    )


def add_output_flags(group, output_help, logdir_default, overwrite_help, fast_dev_run_help):
    """Adds the run's file and restart flags to an argument group.

    `--output`, `--logdir` (TensorBoard and the `BackupAndRestore` backup),
    `--overwrite`, `--resume`, `--restart` and `--fast-dev-run`: the same
    for the training apps and the pretraining app.

    Args:
        group: an `argparse` argument group.
        output_help: str. What `--output` writes.
        logdir_default: str. The default log folder, for `--help`.
        overwrite_help: str. What `--overwrite` replaces.
        fast_dev_run_help: str. What the smoke test does.
    """
    group.add_argument(
        "--logdir", default=None,
        help="TensorBoard logs and the resume backup (logdir/backup). "
        f"Default: {logdir_default}.",
    )
    group.add_argument("--output", default=None, help=output_help)
    group.add_argument("--overwrite", action="store_true", help=overwrite_help)
    group.add_argument(
        "--resume", action="store_true",
        help="Require resuming: fail if logdir/backup holds no interrupted "
        "run. (Without the flag an interrupted run is resumed anyway.)",
    )
    group.add_argument(
        "--restart", action="store_true",
        help="Delete logdir/backup and start from epoch 0.",
    )
    group.add_argument("--fast-dev-run", action="store_true", help=fast_dev_run_help)
