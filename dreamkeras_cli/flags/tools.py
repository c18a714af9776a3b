"""The flags of the tuner, the benchmark, the dream grid and the text preset builder."""

from dreamkeras_cli.flags.base import TUNERS
from dreamkeras_cli.flags.base import Flag as F
from dreamkeras_cli.flags.base import positive_int

TOOL_FLAGS = {
    # === Hyperparameter search ===
    "tuner": F(("--tuner",), default="random", choices=TUNERS, help="Search algorithm."),
    "search_space": F(
        ("--search-space",), default="blocks,unfreeze",
        help={
            "search": "Comma-separated hyperparameters to search, from blocks, "
            "chain, projection, unfreeze, lr, weight_decay, randaugment_magnitude, "
            "mixup_alpha; 'all' for all. The others stay at their flags' values.",
            "search-text": "Comma-separated hyperparameters to search, from "
            "blocks, chain (lstm, textcnn, charcnn), block_depth, token_mode, "
            "unfreeze, lr, weight_decay; 'all' for all. The others stay at their "
            "flags' values.",
        },
    ),
    "values": F(
        ("--values",), kind="append", metavar="NAME=V1,V2,...",
        help="Restrict a searched hyperparameter to a list of values, e.g. "
        "--values blocks=1,2,3 (repeatable).",
    ),
    "max_trials": F(
        ("--max-trials",), default=10, type=int,
        help="Trials in all, counting those of an earlier run of the same "
        "project (random, bayesian).",
    ),
    "executions_per_trial": F(
        ("--executions-per-trial",), default=1, type=int,
        help="Trainings per trial (the objective is their mean).",
    ),
    "directory": F(
        ("--directory",), default="tuning_runs", help="Folder of the tuner projects."
    ),
    "project_name": F(
        ("--project-name",),
        help="Project folder inside --directory. Default: <dataset>_<model>.",
    ),
    "num_best": F(("--num-best",), default=10, type=int, help="Rows of the best-trials table."),
    "tuner_seed": F(("--tuner-seed",), default=1, type=int, help="Seed of the search algorithm."),
    "report_only": F(
        ("--report-only",), kind="switch",
        help={
            "default": "Run no trial: write the table and the best model of the "
            "project's completed trials (e.g. of a search stopped early).",
            "compare": "Train nothing: write the table of the finished runs.",
        },
    ),
    # === Comparison of variants (dreamkeras compare) ===
    "variant": F(
        ("--variant",), kind="append", metavar="NAME=FLAGS",
        help="A variant to train: a name, '=', and the training app's flags "
        "that make it, e.g. --variant 'sleepnet=--model sleepnet --encoder "
        "presets/mae' (repeat for each; at least one). The first is the "
        "reference of the paired differences.",
    ),
    "seeds": F(
        ("--seeds",), kind="list", type=int, metavar="SEED", default=[1, 2, 3],
        help="Seeds; every variant trains once per seed.",
    ),
    "common": F(
        ("--common",), metavar="FLAGS",
        help="Training app flags of every variant (a variant's own flags win), "
        "e.g. --common '--epochs 2 --train-subset 5000'.",
    ),
    "reference": F(
        ("--reference",), metavar="NAME",
        help="Variant the paired differences are taken against. Default: the "
        "first --variant.",
    ),
    "compare_metric": F(
        ("--metric",), dest="metric", default="selected_test_accuracy",
        choices=("selected_test_accuracy", "best_val_accuracy", "test_accuracy"),
        help="Figure of the table: the test accuracy of the model selected on "
        "validation (its best epoch), the best validation accuracy, or the "
        "final model's test accuracy.",
    ),
    # === Benchmark ===
    "num_classes": F(
        ("--num-classes",), default=100, type=int, help="Classes of the head."
    ),
    "loop": F(
        ("--loop",), default="fit", choices=("fit", "on-batch"),
        help="Time steps through model.fit/predict (state kept in the backend "
        "between steps, as in training) or train_on_batch/predict_on_batch calls.",
    ),
    "steps_per_execution": F(
        ("--steps-per-execution",), default=1, type=int,
        help="Steps per compiled call (model.compile); with --loop fit only.",
    ),
    "steps": F(
        ("--steps",), default=5, type=int,
        help={
            "default": "Timed steps.",
            "check-gpu": "Timed training steps per precision (after one that compiles).",
        },
    ),
    "warmup": F(("--warmup",), default=2, type=int, help="Untimed steps before the timed ones."),
    "skip_inference": F(
        ("--skip-inference",), kind="switch", help="Time training only, not inference."
    ),
    "compare_xla_cpu_kernels": F(
        ("--compare-xla-cpu-kernels",), kind="switch",
        help="Measure the model twice in one run, built from standard Keras "
        "layers and with --xla-cpu-kernels, and print both side by side.",
    ),
    "torch_compile": F(
        ("--torch-compile",), kind="switch",
        help="torch backend: compile the train and predict steps with "
        "torch.compile (Keras jit_compile=True; jax and tensorflow always "
        "compile with XLA). Faster steps after a first call of minutes.",
    ),
    "torch_export": F(
        ("--torch-export",), kind="switch",
        help="torch backend: run each frozen model as one torch.export graph "
        "(dreamkeras.torch_export; DREAMKERAS_TORCH_EXPORT=1 does the same "
        "in every app) instead of as Keras layers.",
    ),
    "keep_freed_memory": F(
        ("--keep-freed-memory",), kind="switch",
        help="Do not hand memory freed after building the model and after each "
        "long XLA compilation back to the system (glibc malloc_trim), which "
        "the training apps and, without this flag, the benchmark do.",
    ),
    # === GPU check (apps/check_gpu.py) ===
    "backends": F(
        ("--backends",), metavar="LIST",
        help="Comma-separated backends to check, from jax, tensorflow, torch. "
        "Default: every one installed.",
    ),
    "precisions": F(
        ("--precisions",), default="float32,mixed_bfloat16,mixed_float16",
        metavar="LIST",
        help="Comma-separated precisions to train in (float16 is skipped on CPUs).",
    ),
    # === Dream grid (apps/dream.py) ===
    "saved_model": F(
        ("--model",), dest="model", metavar="FILE.keras",
        help="A saved DreamNet (.keras) whose dreams to draw (required).",
    ),
    "images": F(
        ("--images",), metavar="PATH",
        help="A folder of image files (resized to the model's input) or a .npy "
        "array (N, height, width, channels) already preprocessed (required).",
    ),
    "grid_output": F(
        ("--output",), dest="output", default="dreams.png", help="PNG file to write."
    ),
    "num_images": F(
        ("--num-images",), default=4, type=positive_int,
        help="Rows of the grid: the first images, in name order.",
    ),
    "rescale": F(
        ("--rescale",), type=float,
        default=1 / 255,
        help="Factor applied to the pixels (0-255) of image files; 1/255 gives "
        "the [0, 1] pixels the apps train on.",
    ),
    # === Random text presets ===
    "corpus": F(
        ("--corpus",), metavar="DIR",
        help={
            "mlm": "Folder of .txt files (searched recursively) to pretrain on, one "
            "text per paragraph (required). The vocabulary keeps the most frequent "
            "words of its training texts whole, with their case.",
            "default": "Folder of .txt files (searched recursively) whose most "
            "frequent words the preset's vocabulary keeps whole, with their case "
            "(required).",
        },
    ),
    "preset_output": F(
        ("--output",), dest="output", metavar="DIR",
        help="Preset folder to write; it must not exist unless --overwrite "
        "(required).",
    ),
    "words": F(
        ("--words", "--preset-words"), default={"default": 2000, "fortunes": 300},
        type=positive_int,
        help="Most frequent words of the corpus kept as whole tokens; other "
        "words are spelled from smaller pieces.",
    ),
    "hidden_dim": F(
        ("--hidden-dim",), default={"default": 32, "mlm": 128}, type=positive_int,
        help={
            "default": "Hidden size of the random RoBERTa (its embedding width).",
            "mlm": "Hidden size of the RoBERTa to pretrain (its embedding width; "
            "the feed-forward width is 4 times it).",
        },
    ),
    "num_layers": F(
        ("--num-layers",), default=2, type=positive_int,
        help={
            "default": "Transformer layers of the random RoBERTa.",
            "mlm": "Transformer layers of the RoBERTa to pretrain.",
        },
    ),
    "num_heads": F(
        ("--num-heads",), default=2, type=positive_int,
        help="Attention heads (they must divide --hidden-dim).",
    ),
    "max_sequence_length": F(
        ("--max-sequence-length",), default={"default": 128, "fortunes": 64},
        type=positive_int,
        help="Longest token sequence the preset's encoder takes (the largest "
        "--max-length it allows).",
    ),
    # === Fortunes corpus (apps/tools/fortunes_to_folder.py) ===
    "fortunes_out": F(
        ("--out",), metavar="DIR",
        help="Folder to write, with train/ and test/ folders of one subfolder of "
        ".txt files per category; it must not exist (required).",
    ),
    "categories": F(
        ("--categories",), default=["computers", "politics", "science", "work"],
        metavar="NAME", type=str, kind="list",
        help="Fortune category files, one class each.",
    ),
    "fortunes_source": F(
        ("--source",), default="/usr/share/games/fortunes", metavar="DIR",
        help="Folder of the category files (apt-get install fortunes).",
    ),
    "max_per_class": F(
        ("--max-per-class",), default=600, type=positive_int,
        help="Entries kept per category (shuffled with --seed, then cut).",
    ),
    "test_share": F(
        ("--test-share",), default=0.2, type=float,
        help="Share of each category's entries written to test/.",
    ),
    "random_preset": F(
        ("--random-preset",), metavar="DIR",
        help="Also write a small RANDOM-weight RoBERTa preset here whose "
        "vocabulary keeps the corpus' most frequent words whole (as "
        "`dreamkeras text-preset --corpus OUT/train`).",
    ),
}
