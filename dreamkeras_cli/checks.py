"""Checks of flag values: one-line errors that name the flag and the fix.

Standard library only: the apps run them before the backend starts, any
data is read or any model is built.
"""

import os

from dreamkeras_cli.config import TrainingSetupError


def check(checks):
    """Raises `TrainingSetupError` with the message of the first failed `(ok, message)`."""
    for ok, message in checks:
        if not ok:
            raise TrainingSetupError(message)


def check_writable(path, flag):
    """Raises unless `path`'s folder exists or can be created, and is writable.

    Example:

    ```python
    check_writable("/tmp/runs/x/model.keras", "--output")
    ```
    """
    path = os.path.abspath(os.path.expanduser(path))
    wanted = os.path.dirname(path.rstrip(os.sep)) or os.sep
    folder = wanted
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise TrainingSetupError(
            f"{flag} {path!r} cannot be written: the folder {wanted!r} cannot be created "
            f"because {folder!r} is a file. Pass {flag} in a folder you can write."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrainingSetupError(
            f"{flag} {path!r} cannot be written: {folder!r} is not a writable folder. "
            f"Pass {flag} somewhere you can write."
        )


# What the messages call each dataset; those in NEEDS_DATA_DIR have no default
# folder and no download.
DATA_NAMES = {
    "tiny_imagenet": "Tiny ImageNet", "imagenet": "ImageNet", "image_folder": "Image folder",
    "text_folder": "A text folder", "fashion_mnist": "Fashion-MNIST",
}
NEEDS_DATA_DIR = ("tiny_imagenet", "imagenet", "image_folder", "text_folder")


def check_data_dir(dataset, data_dir, default=None, fast=False, flag="--data-dir"):
    """Checks `--data-dir` before anything is loaded: a folder, and given when needed.

    A fast dev run reads no data: it checks only a folder given explicitly.

    Example:

    ```python
    check_data_dir("image_folder", "~/photos")
    ```
    """
    what = DATA_NAMES.get(dataset, f"The dataset {dataset!r}")
    if data_dir is None:
        if dataset in NEEDS_DATA_DIR and not fast:
            raise TrainingSetupError(f"{what} needs a local copy: pass {flag} DIR.")
        return
    if fast and data_dir == default:
        return
    path = os.path.expanduser(data_dir)
    if os.path.isfile(path):
        raise TrainingSetupError(
            f"{what}: {path!r} is a file, not a folder. Pass {flag} with the folder that "
            f"holds the data."
        )
    if not os.path.isdir(path):
        raise TrainingSetupError(
            f"{what}: the data directory {path!r} does not exist. Pass {flag} with an "
            f"existing directory."
        )


def check_data_flags(args, dataset, default=None):
    """The apps' data checks before the backend starts: `--data-dir`, `--yelp5`.

    Building a configuration (`dreamkeras_cli.commands.run_config`) does not
    look at the disk; the apps call this first, so that a missing or wrong
    data folder is one error line before any import, data or model.

    Example:

    ```python
    check_data_flags(args, "image_folder")
    ```
    """
    fast = getattr(args, "fast_dev_run", False)
    check_data_dir(dataset, args.data_dir, default, fast=fast)
    if getattr(args, "yelp5", None):
        check_data_dir("yelp5", args.yelp5, fast=fast, flag="--yelp5")


def check_encoder_path(encoder):
    """Refuses an `--encoder` that names a local path that does not exist.

    Preset names (`mae-tiny-32`, `roberta_base_en`) and handles
    (`hf://...`, `kaggle://...`) pass; a value with a path separator, or
    starting with `.` or `~`, must be an existing folder.
    """
    if not encoder or "://" in encoder:
        return
    if os.sep in encoder or "/" in encoder or encoder.startswith((".", "~")):
        path = os.path.expanduser(encoder)
        if not os.path.exists(path):
            raise TrainingSetupError(
                f"--encoder {encoder!r}: no such folder. Pass a local preset folder, a "
                f"preset name or a handle (hf://ORG/MODEL, kaggle://...)."
            )


def _optional_positive(args, name, flag):
    value = getattr(args, name, None)
    return (
        value is None or value >= 1,
        f"{flag} must be at least 1, got {value} (leave it out for all).",
    )


def check_recipe(args):
    """Checks the schedule, loss and validation flags of the classifiers."""
    check([
        (
            args.warmup_epochs is None or args.warmup_epochs >= 0,
            f"--warmup-epochs must be >= 0, got {args.warmup_epochs}.",
        ),
        (
            args.warmup_epochs is None or args.warmup_epochs < args.epochs,
            f"--warmup-epochs ({args.warmup_epochs}) must be shorter than --epochs "
            f"({args.epochs}).",
        ),
        (args.lr_step_epochs > 0, f"--lr-step-epochs must be positive, got {args.lr_step_epochs}."),
        (
            0 < args.lr_step_factor <= 1,
            f"--lr-step-factor must be in (0, 1], got {args.lr_step_factor}.",
        ),
        (
            0 <= args.label_smoothing < 1,
            f"--label-smoothing must be in [0, 1), got {args.label_smoothing}.",
        ),
        (
            0 <= args.validation_split < 1,
            f"--validation-split must be in [0, 1), got {args.validation_split}.",
        ),
        (
            args.patience is None or args.patience >= 1,
            f"--patience must be at least 1, got {args.patience}.",
        ),
        (
            not (args.patience and args.validation_split == 0),
            "--patience stops on the validation accuracy; it needs --validation-split "
            "above 0.",
        ),
    ])


def check_common(args):
    """Checks the flags every training app shares (`--epochs`, `--batch-size`...)."""
    check([
        (args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}."),
        (args.batch_size >= 2, f"--batch-size must be at least 2, got {args.batch_size}."),
        (args.lr > 0, f"--lr must be positive, got {args.lr}."),
        (args.weight_decay >= 0, f"--weight-decay must be >= 0, got {args.weight_decay}."),
        _optional_positive(args, "steps_per_epoch", "--steps-per-epoch"),
        _optional_positive(args, "eval_steps", "--eval-steps"),
        _optional_positive(args, "train_subset", "--train-subset"),
        _optional_positive(args, "eval_subset", "--eval-subset"),
        (
            not (args.resume and args.restart),
            "--resume and --restart exclude each other; pass one of them.",
        ),
    ])


def check_vision_model(args):
    """Checks the vision model flags (shared by the apps, tuner and benchmark)."""
    check([
        (1 <= args.blocks <= 4, f"--blocks must be 1 to 4, got {args.blocks}."),
        (args.width >= 1, f"--width must be positive, got {args.width}."),
        (
            args.mask_ratio is None or 0 <= args.mask_ratio < 1,
            f"--mask-ratio must be in [0, 1), got {args.mask_ratio}.",
        ),
        (
            not (getattr(args, "architecture", "ours") == "reference"
                 and args.model in ("baseline", "smallcnn")),
            "--architecture reference builds the reference's SleepNet or DreamNet; "
            "use --model sleepnet or dreamnet (the baselines are ours only).",
        ),
        (
            not (getattr(args, "architecture", "ours") == "reference"
                 and args.encoder_input != "features"),
            "--encoder-input is an option of our networks; the reference's feed "
            "adapter_in(h) (drop --encoder-input or --architecture reference).",
        ),
        _dream_options(args),
        (
            args.image_size is None or args.image_size >= 8,
            f"--image-size must be at least 8, got {args.image_size}.",
        ),
        (0 <= args.dropout < 1, f"--dropout must be in [0, 1), got {args.dropout}."),
    ])


def _dream_options(args):
    """`(ok, message)`: --inference-mask-ratio and --keep-visible."""
    inference = getattr(args, "inference_mask_ratio", 0.0)
    keep = getattr(args, "keep_visible", False)
    if not (inference or keep):
        return (True, "")
    if not 0 <= inference < 1:
        return (False, f"--inference-mask-ratio must be in [0, 1), got {inference}.")
    if args.model != "dreamnet" or getattr(args, "architecture", "ours") != "ours":
        return (
            False,
            "--inference-mask-ratio and --keep-visible are options of our DreamNet's "
            "dreams: use --model dreamnet (without --architecture reference).",
        )
    if keep and not (args.mask_ratio and inference):
        return (
            False,
            "--keep-visible copies the input wherever no patch is hidden: set "
            "--mask-ratio and --inference-mask-ratio above 0 (e.g. 0.75 both).",
        )
    return (True, "")


def check_image_augment(args):
    check([
        (args.mixup_alpha >= 0, f"--mixup-alpha must be >= 0, got {args.mixup_alpha}."),
        (
            0 <= args.randaugment_magnitude <= 1,
            f"--randaugment-magnitude must be in [0, 1], got {args.randaugment_magnitude}.",
        ),
    ])


# The shortest input of the CharCNN chain per number of blocks: the stem and
# the first and third stages each pool the sequence by 3 (the `--model
# charcnn` baseline pools as the chain of three blocks does).
CHARCNN_MIN_LENGTH = {1: 9, 2: 9, 3: 27}


def _charcnn_length(what, who, blocks, max_length):
    """`(ok, message)`: `--max-length` against the CharCNN's poolings.

    Args:
        what: str. The flag that chose the CharCNN (`"--chain charcnn"`).
        who: str. What needs the length (`"--blocks 3"`).
        blocks: int. Stages of the chain (3 for the baseline).
        max_length: int or None (None: not checked).
    """
    minimum = CHARCNN_MIN_LENGTH.get(blocks, 27)
    return (
        max_length is None or max_length >= minimum,
        f"{what} pools the sequence by 3 up to three times: {who} needs "
        f"--max-length of at least {minimum}, got {max_length}.",
    )


def check_text_chain(chain, blocks, block_depth, max_length=None, connected=True):
    """Checks `--chain` against `--blocks`, `--block-depth` and `--max-length`.

    Example:

    ```python
    check_text_chain("charcnn", 3, 1, max_length=64)
    ```
    """
    most = 3 if chain == "charcnn" else 4
    length_ok, length_error = _charcnn_length(
        "--chain charcnn", f"--blocks {blocks}", blocks, max_length
    )
    check([
        (
            connected or chain == "lstm",
            f"--chain {chain} is the chain of --model dreamnet / sleepnet; the "
            f"baselines are --model lstm, textcnn and charcnn.",
        ),
        (
            not connected or 1 <= blocks <= most,
            f"--blocks must be 1 to {most} for --chain {chain}, got {blocks}.",
        ),
        (
            chain == "lstm" or block_depth == 1,
            f"--block-depth (LSTMs per block) applies to --chain lstm only, got "
            f"--block-depth {block_depth} with --chain {chain}.",
        ),
        (chain != "charcnn" or length_ok, length_error),
    ])


def check_text(args):
    connected = args.model in ("dreamnet", "sleepnet")
    check([
        (
            1 <= args.blocks <= (4 if connected else 64),
            f"--blocks must be 1 to 4 for --model {args.model}, got {args.blocks}."
            if connected
            else f"--blocks must be positive, got {args.blocks}.",
        ),
        (args.width >= 1, f"--width must be positive, got {args.width}."),
        (args.block_depth >= 1, f"--block-depth must be positive, got {args.block_depth}."),
        _optional_positive(args, "embedding_dim", "--embedding-dim"),
        (
            args.max_length >= 3,
            f"--max-length must be at least 3 (two special tokens and a word), "
            f"got {args.max_length}.",
        ),
        (
            0 < args.augment_rate <= 1,
            f"--augment-rate must be in (0, 1], got {args.augment_rate}.",
        ),
        (
            args.dropout is None or 0 <= args.dropout < 1,
            f"--dropout must be in [0, 1), got {args.dropout}.",
        ),
        (
            not (args.embedding_dim is not None and args.embedding == "encoder" and connected),
            "--embedding encoder copies the encoder's token embeddings (their "
            "width); --embedding-dim needs --embedding random.",
        ),
    ])
    check_text_chain(args.chain, args.blocks, args.block_depth, args.max_length, connected)
    if args.model == "charcnn":
        check([_charcnn_length("--model charcnn", "it", 3, args.max_length)])


def check_corpus(folder, flag="--corpus"):
    """Refuses a corpus that is not a folder holding at least one `.txt` file.

    Example:

    ```python
    check_corpus("~/texts")
    ```
    """
    path = os.path.expanduser(folder)
    if not os.path.isdir(path):
        raise TrainingSetupError(
            f"{flag} {folder!r} is not a folder; pass a folder of .txt files."
        )
    for _, _, names in os.walk(path, followlinks=True):
        if any(name.endswith(".txt") for name in names):
            return
    raise TrainingSetupError(
        f"{flag} {folder!r} holds no .txt file (searched recursively); pass a folder "
        f"of .txt files."
    )
