"""The backend, training, run-length and file flags the training apps share."""

from dreamkeras_cli.flags.base import BACKENDS
from dreamkeras_cli.flags.base import PRECISIONS
from dreamkeras_cli.flags.base import Flag as F
from dreamkeras_cli.flags.base import mesh_shape
from dreamkeras_cli.flags.base import precision

RUN_FLAGS = {
    # === Backend and hardware ===
    "backend": F(
        ("--backend",), choices=BACKENDS,
        help="Keras backend, set before Keras is imported. Without the flag: "
        "the KERAS_BACKEND environment variable, else jax.",
    ),
    "mixed_precision": F(
        ("--mixed-precision", "--precision"), default="auto", type=precision,
        choices=PRECISIONS, metavar="POLICY",
        help="Keras dtype policy: auto (mixed_bfloat16 on GPUs that compute in "
        "bfloat16, compute capability 8.0 and up, and on TPUs; mixed_float16 "
        "with loss scaling on older GPUs; float32 on CPUs), none (float32), "
        "mixed_float16 (GPU, with loss scaling) or mixed_bfloat16; the "
        "classifier head and the loss stay float32.",
    ),
    "distribute": F(
        ("--distribute",), kind="switch",
        help="Data-parallel training over all local devices: "
        "keras.distribution.DataParallel on jax, tf.distribute.MirroredStrategy "
        "on tensorflow (not on torch). The batch size must be a multiple of the "
        "device count.",
    ),
    "mesh": F(
        ("--mesh",), type=mesh_shape, metavar="BATCHxMODEL",
        help="jax: the device mesh, e.g. 4x1 (data parallel over 4 devices) or "
        "2x2 (2 data-parallel groups, each sharding the frozen encoder's attention "
        "and MLP kernels over 2 devices: keras.distribution.ModelParallel). "
        "BATCH x MODEL must be the number of devices of all processes; implies "
        "--distribute. Default with --distribute: all devices x 1.",
    ),
    "coordinator_address": F(
        ("--coordinator-address",), metavar="HOST:PORT",
        help="jax, several processes (hosts): address of process 0 "
        "(keras.distribution.initialize). Default: $JAX_COORDINATOR_ADDRESS. "
        "See docs/distributed.md.",
    ),
    "num_processes": F(
        ("--num-processes",), type=int,
        help="jax: number of processes of a multi-process run; implies "
        "--distribute. Default: $JAX_NUM_PROCESSES, else 1.",
    ),
    "process_id": F(
        ("--process-id",), type=int,
        help="jax: this process's index (0 writes the model, report, logs and "
        "backup). Default: $JAX_PROCESS_ID.",
    ),
    "debug": F(
        ("--debug",), kind="switch",
        help="Show the start-up logs of TensorFlow, XLA, absl and CUDA that "
        "are hidden otherwise (warnings and errors always show).",
    ),
    # === Optimiser and run length ===
    "epochs": F(
        ("--epochs",), type=int,
        default={"vision": 30, "text": 30, "mae": 10, "mlm": 10, "search": 2},
        help={
            "default": "Training epochs.",
            "search": "Training epochs of each trial (Hyperband's most).",
        },
    ),
    "batch_size": F(
        ("--batch-size",), type=int,
        default={"vision": 64, "text": 32, "mae": 128, "benchmark": 8, "check-gpu": 16},
        help="Global batch size (all devices together).",
    ),
    "lr": F(
        ("--lr",), type=float,
        default={"vision": 0.005, "text": 0.005, "mae": 1e-3, "mlm": 1e-3},
        help={
            "default": "Adam learning rate.",
            "mae": "Peak AdamW learning rate, reached after the warmup (the "
            "MAE paper uses 1.5e-4 * batch/256 for 800+ epochs; short runs "
            "need more).",
            "mlm": "Peak AdamW learning rate, reached after the warm-up, then a "
            "cosine decay to 0 (small models on small corpora take 1e-3).",
        },
    ),
    "beta_1": F(
        ("--beta-1",), type=float, default=0.9,
        help="Adam's beta_1, the decay of its mean gradient estimate.",
    ),
    "beta_2": F(
        ("--beta-2",), type=float, default=0.999,
        help="Adam's beta_2, the decay of its squared gradient estimate.",
    ),
    "epsilon": F(
        ("--epsilon",), type=float, default=1e-5,
        help="Adam's epsilon, added to the denominator for stability.",
    ),
    "weight_decay": F(
        ("--weight-decay",), type=float, default={"default": 0.0, "mae": 0.05, "mlm": 0.01},
        help={
            "default": "Decoupled weight decay of Adam (Keras' weight_decay); "
            "0 is the paper's plain Adam.",
            "mae": "AdamW weight decay (the MAE paper's 0.05).",
            "mlm": "AdamW weight decay (RoBERTa's 0.01).",
        },
    ),
    "lr_schedule": F(
        ("--lr-schedule",), default="cosine", choices=("constant", "cosine", "step"),
        help="Learning-rate decay after the --warmup-epochs linear warm-up: "
        "constant, cosine (to 0 at the last step) or step (times "
        "--lr-step-factor every --lr-step-epochs). The paper states no "
        "schedule; the reference warms up over 10%% of the epochs, then keeps "
        "the rate constant (--lr-schedule constant).",
    ),
    "lr_step_epochs": F(
        ("--lr-step-epochs",), type=float, default=10.0,
        help="--lr-schedule step: epochs between two decays (counted from the "
        "first step, warm-up included).",
    ),
    "lr_step_factor": F(
        ("--lr-step-factor",), type=float, default=0.1,
        help="--lr-schedule step: factor of each decay.",
    ),
    "label_smoothing": F(
        ("--label-smoothing",), type=float, default=0.0,
        help="Label smoothing of the cross-entropy (0: the paper's plain "
        "cross-entropy; 0.1 is common).",
    ),
    "validation_split": F(
        ("--validation-split",), type=float, default=0.1,
        help={
            "default": "Share of the training split held out for validation "
            "(best-epoch model, --patience, the per-epoch val_ logs), chosen by "
            "a fixed hash of each example's content; the test split is read "
            "only once, at the end. A dataset with its own validation split "
            "(a folder with train/, val/ and test/) uses that instead. 0: no "
            "validation.",
            "mlm": "Share of the texts held out, chosen by a hash of their "
            "content, to measure the masked-token accuracy of the initial and "
            "the trained model.",
            "search": "Share of the training split held out to validate the "
            "trials (the same examples as the apps'); the test split only "
            "evaluates the best model.",
        },
    ),
    "patience": F(
        ("--patience",), type=int, default={"default": None, "search": 2},
        help={
            "default": "Early stopping: end the run after this many epochs "
            "without a val_accuracy gain. Default: train all --epochs.",
            "search": "EarlyStopping patience of each trial (epochs without a "
            "val_accuracy gain).",
        },
    ),
    "randaugment": F(
        ("--randaugment",), kind="toggle", default=True,
        help="RandAugment (2 operations) on each training image.",
    ),
    "randaugment_magnitude": F(
        ("--randaugment-magnitude",), type=float, default=0.5,
        help="Strength (0 to 1) of each RandAugment operation.",
    ),
    "mixup_alpha": F(
        ("--mixup-alpha",), type=float, default=0.2,
        help="MixUp strength on each training batch; 0 turns MixUp off.",
    ),
    "augment": F(
        ("--augment",), kind="toggle", default=True,
        help="The paper's text augmentation, applied to every model: an edited "
        "copy of every training text (random word swaps, insertions, deletions "
        "and substitutions of --augment-rate of its words, new each epoch) "
        "doubles the training set; --no-augment trains on the texts as they are.",
    ),
    "augment_rate": F(
        ("--augment-rate",), type=float, default=0.1,
        help="Share of the words edited by --augment.",
    ),
    "seed": F(
        ("--seed",), type=int, default=1337,
        help={
            "default": "Random seed of the run.",
            "text-preset": "Seed of the preset's random weights.",
            "fortunes": "Seed of the shuffle and of the preset's random weights.",
        },
    ),
    "steps_per_epoch": F(
        ("--steps-per-epoch",), type=int,
        help="Training steps per epoch (the data repeats). Default: one pass "
        "over the training data.",
    ),
    "eval_steps": F(
        ("--eval-steps",), type=int,
        help="Evaluation batches. Default: the whole held-out split.",
    ),
    "train_subset": F(
        ("--train-subset", "--max-train-examples", "--max-train-images"),
        type=int, metavar="N",
        help="Train on the first N training examples only.",
    ),
    "eval_subset": F(
        ("--eval-subset", "--max-eval-images"), type=int, metavar="N",
        help="Evaluate on the first N held-out examples only.",
    ),
    "verbose": F(
        ("--verbose",), type=int, choices=(0, 1, 2),
        default={"default": 1, "search": 2},
        help="Keras progress output: 0 silent, 1 progress bar, 2 one line per "
        "epoch.",
    ),
    # === Files ===
    "data_dir": F(
        ("--data-dir",),
        help={
            "mae": "fashion_mnist: folder of the four gz files (default "
            "/usr/share/datasets/fashion-mnist); image_folder: the folder "
            "(required); tfds: the tfds data directory.",
            "search": "Data folder of --dataset, as its app takes it; without "
            "the flag, the app's own folder.",
            "default": "Where the data is (see the dataset).",
        },
    ),
    "output": F(
        ("--output",),
        help={
            "vision": "Saved model (.keras); the report is written next to it as "
            ".json and the best epoch's model as _best.keras. Default: "
            "outputs/<dataset>_<model><M>.keras.",
            "mae": "Preset folder to write; the report goes next to it as "
            "<output>.json. Default: outputs/mae_<dataset>.",
            "mlm": "Preset folder to write (the text apps' --encoder); the "
            "report goes next to it as <output>.json. Default: "
            "outputs/mlm_<corpus folder name>.",
            "benchmark": "JSON file for the figures. Default: none (printed only).",
            "check-gpu": "JSON file for the reports. Default: none (printed only).",
            "compare": "Folder of the comparison: every run's model, report and "
            "logs, and the table (results.md, results.json, results.png). "
            "Default: comparisons/<dataset>.",
        },
    ),
    "logdir": F(
        ("--logdir",),
        help={
            "vision": "TensorBoard logs and the resume backup (logdir/backup). "
            "Default: runs/<dataset>_<model><M>.",
            "mae": "TensorBoard logs and the resume backup (logdir/backup). "
            "Default: runs/pretrain_mae_<dataset>.",
            "mlm": "TensorBoard logs and the resume backup (logdir/backup). "
            "Default: runs/pretrain_mlm_<corpus folder name>.",
        },
    ),
    "overwrite": F(
        ("--overwrite",), kind="switch",
        help={
            "vision": "Replace an existing output model (refused otherwise).",
            "mae": "Replace an existing output preset folder.",
            "mlm": "Replace an existing output preset folder (the older one "
            "stays until the new one is written).",
            "search": "Delete an existing project and start afresh (otherwise "
            "the search resumes).",
            "text-preset": "Replace an existing output folder.",
            "compare": "Delete an existing comparison folder and start afresh "
            "(otherwise the comparison resumes, skipping finished runs).",
        },
    ),
    "resume": F(
        ("--resume",), kind="switch",
        help="Require resuming: fail if logdir/backup holds no interrupted "
        "run. Without the flag an interrupted run is resumed anyway.",
    ),
    "restart": F(
        ("--restart",), kind="switch",
        help="Delete logdir/backup and start from epoch 1.",
    ),
    "fast_dev_run": F(
        ("--fast-dev-run",), kind="switch",
        help={
            "vision": "Smoke test, NOT a real run: 2 epochs of 2 steps on "
            "generated images with a tiny random encoder (mae-tiny-32 / "
            "vit-tiny-32, width 8), then evaluate, save, reload and write "
            "TensorBoard logs.",
            "text": "Smoke test, NOT a real run: 2 epochs of 2 steps on "
            "generated texts with a tiny RANDOM RoBERTa preset built on the "
            "spot, then evaluate, save, reload, decode dreams and write "
            "TensorBoard logs.",
            "mae": "Smoke test, NOT a real run: mae-tiny-32 on generated images, "
            "2 epochs of 2 steps, then measure, save and reload.",
            "mlm": "Smoke test, NOT a real run: a tiny RoBERTa on generated "
            "texts, 2 epochs of 2 steps, then measure and save the preset.",
        },
    ),
    "yelp5": F(
        ("--yelp5",), metavar="DIR",
        help="Yelp-5 (review stars, 5 classes) instead of the 2-class tfds "
        "yelp_polarity_reviews: a folder with train.csv and test.csv in the "
        "yelp_review_full_csv format (rows `stars,text`, stars 1-5), or a text "
        "folder with one subfolder per star rating.",
    ),
}
