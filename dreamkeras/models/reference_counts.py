"""Parameter and FLOP counts of the reference networks, next to the papers'.

The figures that `--architecture reference` prints and writes to its report:
the counts of the networks we build (`reference_networks.py`), the
reference implementation's own module counts computed from ours plus the
layers it defines but never calls, and the rows of the papers' tables.
"""

import math

DREAMNET_WIDTH = 128
SLEEPNET_WIDTH = 64
# Basic blocks per stage of the reference DreamNet (its `ResNet18` passes
# [4, 4, 2, 2]: stages 1-3 and, with the third entry, the compressor).
DREAMNET_DEPTHS = (4, 4, 2, 2)
COMPRESSOR_DEPTH = DREAMNET_DEPTHS[2]
REFERENCE_MASK_RATIO = 0.75
MAX_BLOCKS = 4

# Parameter counts of the reference implementation's own PyTorch modules at
# 224x224 with 100 classes (`sum(p.numel() for p in model.parameters())`,
# docs/cpu_performance.md): SleepNet's MAE is a module-level global that
# the model does not register, so all its parameters are trainable ones.
REFERENCE_REPORTED = {
    "sleepnet": {"total": 463e6, "trainable": 463e6},
    "dreamnet": {"total": 733e6, "trainable": 621e6},
}
# The papers' tables (#Params, FLOPs as printed; the FLOP figures match
# multiply-accumulates: ResNet-18 at 224 is listed at 1.8B). "dreaming":
# Table 3 of "Dreaming is All You Need" (SleepNet-M and DreamNet-M on
# MAE-base); "vision": Table 2 of the vision paper, which prints other
# figures for the same models.
PAPER_TABLES = {
    "dreaming": {
        "sleepnet": {2: (272e6, 31.1e9), 3: (272e6, 40.1e9), 4: (273e6, 44.4e9)},
        "dreamnet": {2: (732e6, 30.0e9), 3: (733e6, 42.1e9), 4: (733e6, 50.5e9)},
    },
    "vision": {
        "sleepnet": {2: (10.01e6, 40.5e9), 3: (10.07e6, 60.6e9), 4: (10.14e6, 80.7e9)},
        "dreamnet": {2: (208.31e6, 52.3e9), 3: (209.12e6, 83.5e9), 4: (212.03e6, 118.4e9)},
    },
}
PAPER_NAMES = {
    "dreaming": "paper (Dreaming is All You Need, Table 3)",
    "vision": "paper (vision SleepNet/DreamNet, Table 2)",
}



def _feature_size(image_shape):
    """The stem's output size: a 'same' stride-2 conv and a stride-2 pool."""
    return tuple(math.ceil(math.ceil(d / 2) / 2) for d in image_shape[:2])


def reference_parameter_counts(
    model_type, num_classes, num_blocks, image_shape, patch_size, autoencoder_params,
    image_channels=3,
):
    """Parameter counts of a reference network, computed without building it.

    Args:
        model_type: `"dreamnet"` or `"sleepnet"`.
        num_classes: int.
        num_blocks: int. M.
        image_shape: (int, int, int).
        patch_size: int or (int, int). The MAE's patch size (its decoder
            predicts `patch_height * patch_width * image_channels` values per
            patch, the width of the pooled projection's input).
        autoencoder_params: int. All weights of the MAE.
        image_channels: int. Channels the MAE takes and predicts.

    Returns:
        dict: `trainable`, `non_trainable` (batch-norm statistics and the
        frozen MAE), `total` of the Keras model we build; `reference_unused`,
        the parameters of layers the reference's modules define but never
        call (not built here); `reference_trainable` and `reference_total`,
        the reference's own `model.parameters()` counts (PyTorch counts no
        batch-norm statistics; its SleepNet does not register the MAE).

    Example:

    ```python
    counts = reference_parameter_counts("dreamnet", 100, 3, (224, 224, 3), 16, 111_907_840)
    round(counts["reference_trainable"] / 1e6)  # 621
    ```
    """
    height, width = _feature_size(image_shape)
    cells = height * width
    patch_h, patch_w = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    grid_dim = patch_h * patch_w * image_channels
    channels = DREAMNET_WIDTH if model_type == "dreamnet" else SLEEPNET_WIDTH

    def norm():
        return 2 * channels, 2 * channels  # (gamma + beta, moving mean + var)

    def conv(kernel, inputs, outputs):
        return kernel * kernel * inputs * outputs

    def block():
        return 2 * conv(3, channels, channels), 2 * norm()[0], 2 * norm()[1]

    def connection():
        adapter_in = conv(1, channels, image_channels) + image_channels
        adapter_out = grid_dim * cells * channels + cells * channels
        return adapter_in + adapter_out

    stem = conv(7, image_channels, channels)
    head = channels * num_classes + num_classes
    if model_type == "dreamnet":
        depth = sum(DREAMNET_DEPTHS[:num_blocks]) + COMPRESSOR_DEPTH
        stems = 2
        connections = connection()  # one, shared by every stage
        # The reference's DreamNet also defines a Linear(768 -> 128*56*56)
        # and a 1x1 conv 128 -> 3 of its own that its forward never calls.
        unused = connection()
        reference_frozen = autoencoder_params
    else:
        depth = num_blocks
        stems = 1
        connections = num_blocks * connection()
        # Each reference SleepNet block defines a 1x1 conv (no bias) it never calls.
        unused = num_blocks * conv(1, channels, channels)
        reference_frozen = 0  # a global MAE, not among the module's parameters
    blocks_trainable = depth * block()[0] + depth * block()[1]
    statistics = depth * block()[2] + stems * norm()[1]
    trainable = (
        stems * (stem + norm()[0]) + blocks_trainable + connections + head
    )
    non_trainable = statistics + autoencoder_params
    reference_trainable = trainable + unused
    return {
        "trainable": trainable,
        "non_trainable": non_trainable,
        "total": trainable + non_trainable,
        "frozen": autoencoder_params,
        "reference_unused": unused,
        "reference_trainable": reference_trainable,
        "reference_total": reference_trainable + reference_frozen,
    }


def reference_comparison(model, forward_flops=None):
    """Our counts of a built reference network next to the paper's and the reference's.

    Args:
        model: a `ReferenceDreamNet` or `ReferenceSleepNet`.
        forward_flops: optional int. Our analytical forward FLOPs per image
            without masking (2 per multiply-add), if already counted.

    Returns:
        dict with `ours` (parameters; forward FLOPs and multiply-adds per
        image without masking, as we predict, and with the mask ratio, as
        the reference predicts), `reference` (its modules' counts computed
        from ours plus the layers it defines but never calls, and the
        counts reported in docs/cpu_performance.md) and `paper` (both
        tables' rows for this M, or None).
    """
    from dreamkeras.flops.counting import count_flops
    from dreamkeras.utils.profiling import parameter_counts

    if forward_flops is None:
        forward_flops = count_flops(model)["total"]
    # A training-mode pass masks the MAE's patches, as the reference's
    # forward does in training and at inference.
    masked_flops = count_flops(model, training=True)["total"]

    from dreamkeras.models.reference_networks import ReferenceDreamNet

    kind = "dreamnet" if isinstance(model, ReferenceDreamNet) else "sleepnet"
    counts = parameter_counts(model)
    computed = reference_parameter_counts(
        kind, model.num_classes, model.num_blocks, model.image_shape,
        model.autoencoder.patch_size, counts["encoder"],
        image_channels=model.autoencoder.image_shape[-1],
    )
    paper = {
        table: rows[kind].get(model.num_blocks) for table, rows in PAPER_TABLES.items()
    }
    return {
        "model": f"{kind}-{model.num_blocks}",
        "image_shape": list(model.image_shape),
        "ours": {
            "total": counts["total"],
            "trainable": counts["trainable"],
            "frozen_autoencoder": counts["encoder"],
            "forward_flops": int(forward_flops),
            "forward_macs": int(forward_flops) // 2,
            "mask_ratio": model.mask_ratio,
            "masked_forward_flops": int(masked_flops),
            "masked_forward_macs": int(masked_flops) // 2,
        },
        "reference": {
            "trainable": computed["reference_trainable"],
            "total": computed["reference_total"],
            "unused": computed["reference_unused"],
            "reported": REFERENCE_REPORTED[kind],
            "formula_matches_ours": computed["trainable"] == counts["trainable"],
        },
        "paper": {
            table: None if row is None else {"params": row[0], "flops": row[1]}
            for table, row in paper.items()
        },
    }


def comparison_lines(comparison):
    """The printed table of `reference_comparison`."""
    ours, reference = comparison["ours"], comparison["reference"]

    def millions(value):
        return f"{value / 1e6:,.1f}M" if value >= 1e5 else f"{int(value):,}"

    lines = [
        f"Counts of the reference {comparison['model']} at "
        f"{comparison['image_shape'][0]}x{comparison['image_shape'][1]}:",
        f"  ours (built)      {millions(ours['total'])} parameters, "
        f"{millions(ours['trainable'])} trainable; forward per image "
        f"{ours['forward_macs'] / 1e9:.1f}G multiply-adds = "
        f"{ours['forward_flops'] / 1e9:.1f} GFLOPs without masking (ours at "
        f"inference), {ours['masked_forward_macs'] / 1e9:.1f}G = "
        f"{ours['masked_forward_flops'] / 1e9:.1f} GFLOPs with "
        f"{ours['mask_ratio']:.0%} of the patches masked (the reference, always)",
        f"  the reference     {millions(reference['total'])} parameters, "
        f"{millions(reference['trainable'])} trainable (ours plus "
        f"{millions(reference['unused'])} in layers it defines but never calls)",
        f"  the reference, as reported at 224x224 with 100 classes: "
        f"{millions(reference['reported']['total'])} parameters, "
        f"{millions(reference['reported']['trainable'])} trainable",
    ]
    for table, row in comparison["paper"].items():
        if row is None:
            lines.append(f"  {PAPER_NAMES[table]}: no row for this M")
        else:
            lines.append(
                f"  {PAPER_NAMES[table]}, at 224x224: {millions(row['params'])} "
                f"parameters, {row['flops'] / 1e9:.1f}B FLOPs"
            )
    return lines
