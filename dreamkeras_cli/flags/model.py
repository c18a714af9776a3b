"""The model flags of the vision, text and MAE pretraining apps."""

from dreamkeras_cli.flags.base import ARCHITECTURES
from dreamkeras_cli.flags.base import CHARCNN_SIZES
from dreamkeras_cli.flags.base import Flag as F
from dreamkeras_cli.flags.base import TEXT_MODELS
from dreamkeras_cli.flags.base import TEXT_CHAINS
from dreamkeras_cli.flags.base import TOKEN_MODES
from dreamkeras_cli.flags.base import VISION_CHAINS
from dreamkeras_cli.flags.base import VISION_MODELS

MODEL_FLAGS = {
    # === Vision and text models ===
    "model": F(
        ("--model",),
        default="dreamnet",
        choices={"vision": VISION_MODELS, "text": TEXT_MODELS},
        help={
            "vision": "dreamnet: frozen autoencoder connections plus the dream "
            "block; sleepnet: frozen encoder connections; baseline: the same "
            "chain without connections; smallcnn: a plain small CNN (2 x 2 "
            "Conv-BN-ReLU with pooling, a dense layer; --width filters first), "
            "the reference a chain should match.",
            "text": "dreamnet: frozen masked-LM connections plus the dream "
            "block; sleepnet: frozen encoder connections; lstm: the same LSTM "
            "chain without connections; textcnn: Kim's TextCNN; charcnn: Zhang "
            "et al.'s CharCNN (--charcnn-size; its convolutions read the "
            "tokenizer's tokens, as --chain charcnn's do). The baselines use only "
            "the encoder preset's tokenizer.",
            "benchmark": "Network to measure (as the apps' --model).",
        },
    ),
    "architecture": F(
        ("--architecture",), default="ours", choices=ARCHITECTURES,
        help="ours: the library's networks (the flags below); reference: the "
        "public reference implementation's networks, for reproduction "
        "(docs/reproduction.md): DreamNet = a 7x7/2 stem and 4+4+2 basic "
        "blocks at 128 channels without downsampling, one shared pooled "
        "connection (mean over the MAE's patch outputs + one dense layer to "
        "the whole map) after each stage, the mean of the dreams through its "
        "own stem and 2 blocks added to the chain; SleepNet = 3 basic blocks "
        "at 64 channels, each with its own pooled connection, run twice (the "
        "second time on the image plus the dreams). Both use the MAE "
        "(--encoder) and mask 75%% of its patches in training; --chain, "
        "--width, --stem and --projection do not apply.",
    ),
    "blocks": F(
        ("--blocks",), default=3, type=int, metavar="M",
        help={
            "vision": "M, the number of chain blocks with a connection (1 to "
            "4): DreamNet-M / SleepNet-M.",
            "text": "M, the number of LSTM blocks (with a connection each for "
            "dreamnet / sleepnet, 1 to 4); LSTM layers of --model lstm.",
        },
    ),
    "chain": F(
        ("--chain",),
        default={"vision": "resnet18", "text": "lstm"},
        choices={"vision": VISION_CHAINS, "text": TEXT_CHAINS},
        help={
            "vision": "Depth and block type of the chain blocks g_m.",
            "text": "dreamnet / sleepnet: the chain g_1 .. g_M (the paper's chain "
            "ablation): lstm (LSTM blocks, --block-depth LSTMs each), textcnn "
            "(Kim's convolutions of widths 3, 4, 5, --width filters each) or "
            "charcnn (Zhang et al.'s convolutions; 1 to 3 blocks, --max-length of "
            "at least 9, 27 for 3 blocks). The baselines are --model lstm / textcnn / "
            "charcnn.",
        },
    ),
    "width": F(
        ("--width",), type=int, default={"vision": 64, "text": 128},
        help={
            "vision": "Filters of the stem and the first chain block "
            "(doubling per block).",
            "text": "Units of the LSTMs.",
        },
    ),
    "stem": F(
        ("--stem",), default="auto", choices=("auto", "imagenet", "cifar"),
        help="imagenet: 7x7/2 conv + max-pool; cifar: 3x3/1 conv; auto: "
        "cifar below 64 pixels, else imagenet.",
    ),
    "encoder": F(
        ("--encoder",),
        default={
            "vision": "hf://facebook/vit-mae-base", "text": "roberta_base_en",
            "mae": "mae-small-32", "benchmark": "mae-small-32",
        },
        help={
            "vision": "Frozen (auto)encoder: a preset (local folder, Kaggle or "
            "hf:// handle) or a named random-weight size such as mae-tiny-32 "
            "or vit-tiny-32 (tests only). sleepnet uses the encoder half of an "
            "MAE.",
            "text": "Text encoder: a KerasHub preset name (roberta_base_en), an "
            "hf:// handle or a local preset folder (see `dreamkeras text-preset` "
            "for a small random one), or a Hugging Face XLNet checkpoint "
            "(hf://xlnet/xlnet-base-cased, or a save_pretrained folder with its "
            "spiece.model). Its tokenizer tokenises the texts; dreamnet loads its "
            "masked LM (RoBERTa's, XLNet's LM head), sleepnet its backbone.",
            "mae": "What to pretrain: a named MAE size (mae-tiny-32, "
            "mae-small-32, mae-b16-224, mae-l16-224: random initial weights, "
            "the usual start), or an autoencoder to continue from (a preset "
            "folder, a Hugging Face ViT-MAE folder or hf:// handle).",
            "benchmark": "Encoder name or preset; named sizes (mae-small-32, "
            "vit-b16-224, mae-b16-224, ...) build random weights, which do not "
            "change speed or size.",
        },
    ),
    "unfreeze": F(
        ("--unfreeze",), kind="switch",
        help="Train the encoder too (the paper's ablation: frozen is better).",
    ),
    "projection": F(
        ("--projection",), default="grid", choices=("grid", "pooled"),
        help="How encoder tokens return to the feature map: grid keeps the "
        "token grid; pooled is the paper/reference mean + dense form.",
    ),
    "mask_ratio": F(
        ("--mask-ratio",), type=float, default={"vision": None, "mae": 0.75, "mlm": 0.15},
        help={
            "vision": "Share of the encoder's patches masked during training "
            "(none at inference). Default: 0, and the reference's 0.75 with "
            "--architecture reference.",
            "mae": "Share of patches masked in training, in (0, 1); the MAE "
            "paper masks 0.75.",
            "mlm": "Share of tokens chosen for prediction, in (0, 1): 80%% of "
            "them become <mask>, 10%% a random token, 10%% stay (RoBERTa's 0.15).",
        },
    ),
    "encoder_input": F(
        ("--encoder-input",), default="features", choices=("features", "image", "image+features"),
        help="What the frozen model sees at each connection: features is the "
        "paper's adapter_in(h); image the input image; image+features the image "
        "plus adapter_in(h), the adapter starting at zero.",
    ),
    "inference_mask_ratio": F(
        ("--inference-mask-ratio",), type=float, default=0.0,
        help="DreamNet: share of the autoencoder's patches hidden at inference "
        "too, in a fixed pattern per connection (deterministic predictions).",
    ),
    "keep_visible": F(
        ("--keep-visible",), kind="switch",
        help="DreamNet: dreams keep the input's visible patches and take the "
        "reconstruction only where patches were hidden (an MAE is trained on "
        "hidden patches only). Needs --mask-ratio and --inference-mask-ratio "
        "above 0 and a pixel-loss MAE (pretrain_mae.py --no-norm-pix-loss).",
    ),
    "stop_gradient": F(
        ("--stop-gradient",), kind="switch",
        help="No backward pass through the frozen encoder: faster steps, but "
        "the adapters before it stop learning.",
    ),
    "remat": F(
        ("--remat",), kind="switch",
        help="Recompute the frozen model's transformer blocks in the backward "
        "pass instead of storing their activations: much less memory, about "
        "one more forward pass of time, the same gradients.",
    ),
    "xla_cpu_kernels": F(
        ("--xla-cpu-kernels",), kind="switch",
        help="Build the model with dreamkeras.xla_cpu's CPU-only kernels (flat "
        "batch norm, separable max pooling, matmul convolutions of tiny maps, "
        "the ViT patch embedding as a matmul, remat XLA:CPU keeps): the same "
        "weights and values, faster on a CPU under XLA, not on a GPU.",
    ),
    "image_size": F(
        ("--image-size",), type=int,
        help={
            "vision": "Input height and width of the model; images are resized "
            "to it. Default: the encoder's input size.",
            "mae": "Input size of a named MAE size (the patch size must divide "
            "it); images are resized to it. Default: the encoder's size.",
        },
    ),
    "dropout": F(
        ("--dropout",), type=float, default={"vision": 0.0, "text": None},
        help={
            "vision": "Dropout rate before the classifier head.",
            "text": "Dropout rate before the classifier head (charcnn: after "
            "each of its two dense layers). Default: 0, and 0.5 for textcnn and "
            "charcnn.",
        },
    ),
    "head": F(
        ("--head",), default="auto", choices=("auto", "pool", "dense"),
        help="Classifier head of the chain models: pool (global average pooling "
        "and the softmax layer, the ResNet head), dense (flatten the last map, "
        "a ReLU layer of 128 units, the softmax layer: keeps where things are; "
        "on 32x32 Fashion-MNIST it lifts the width-16 chain by 7 points in short "
        "runs, docs/results.md), or auto: dense below 64 pixels, else pool.",
    ),
    "block_depth": F(
        ("--block-depth",), default=1, type=int,
        help="LSTMs per block of the LSTM chain (and per layer of --model "
        "lstm); the paper's ablation uses 2.",
    ),
    "embedding": F(
        ("--embedding",), default="encoder", choices=("encoder", "random"),
        help="dreamnet / sleepnet: start the chain's token embedding from the "
        "encoder's (its width is the encoder's hidden size), or random.",
    ),
    "embedding_dim": F(
        ("--embedding-dim",), type=int,
        help="Width of the token embedding. Default: the encoder's hidden size "
        "for every model (so that the baselines match the connected models); "
        "--width for dreamnet / sleepnet with --embedding random.",
    ),
    "charcnn_size": F(
        ("--charcnn-size",), default="small", choices=CHARCNN_SIZES,
        help="--model charcnn: Zhang et al.'s small network (256 features, "
        "1024 dense units) or large one (1024 and 2048).",
    ),
    "token_mode": F(
        ("--token-mode", "--sleep-mode"), default="straight_through",
        choices=TOKEN_MODES, metavar="MODE",
        help="How connections turn the hidden sequence into tokens: "
        "straight_through (argmax forward, softmax gradient: the vocabulary "
        "projection trains) or argmax (the paper's form; the projection cannot "
        "train).",
    ),
    "max_length": F(
        ("--max-length",), default=128, type=int,
        help={
            "default": "Tokens per text, special tokens included: longer texts "
            "are truncated, shorter ones padded. At most the encoder's "
            "max_sequence_length.",
            "mlm": "Tokens per training text, special tokens included (longer "
            "texts are truncated); at most --max-sequence-length.",
        },
    ),
    # === MAE pretraining ===
    "norm_pix_loss": F(
        ("--norm-pix-loss",), kind="toggle", default=True,
        help="Loss against per-patch normalised pixels (the MAE paper's).",
    ),
    "warmup_epochs": F(
        ("--warmup-epochs",), type=float, default={"mae": 1.0, "mlm": 1.0, "default": None},
        help={
            "mae": "Linear learning-rate warmup in epochs (may be a fraction), "
            "then a cosine decay to 0.",
            "mlm": "Linear learning-rate warmup in epochs (may be a fraction), "
            "then a cosine decay to 0.",
            "default": "Linear learning-rate warm-up in epochs (may be a "
            "fraction) before --lr-schedule; 0: none. Default: 10%% of --epochs "
            "(the reference's warm-up).",
        },
    ),
    "flip": F(
        ("--flip",), kind="toggle", default=True,
        help="Random horizontal flips of the training images.",
    ),
    "dataset": F(
        ("--dataset", "--data"),
        default={
            "mae": "fashion_mnist", "search": "fashion_mnist", "search-text": "ag_news",
            "compare": "fashion_mnist",
        },
        help={
            "mae": "fashion_mnist (the original gz files; 28x28 grayscale, "
            "repeated to 3 channels and resized), image_folder (every image "
            "file under --data-dir; train/ and val/ subfolders are the splits, "
            "else 10%% is held out), or any other name: a tfds image dataset "
            "(labels are ignored).",
            "search": "Dataset, one of the vision apps' datasets.",
            "search-text": "Dataset, one of the text apps' datasets (ag_news, imdb, "
            "yelp, text_folder with --data-dir).",
            "compare": "Dataset, one of the training apps' (its app's flags, "
            "--data-dir included, go in --common).",
        },
    ),
}
