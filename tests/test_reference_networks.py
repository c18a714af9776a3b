"""The reference implementation's networks (`--architecture reference`) and their counts."""

import keras
import numpy as np
import pytest

import dreamkeras
from apps import cifar100
from dreamkeras.encoders import load_autoencoder
from dreamkeras.models import reference_counts
from dreamkeras.models import reference_networks as ref
from dreamkeras.utils.profiling import parameter_counts
from dreamkeras.dreams.images import dream_model
from dreamkeras_cli import commands
from tests.app_helpers import BACKEND
from tests.app_helpers import paths
from tests.app_helpers import report

# All parameters of the MAE-base autoencoder: Hugging Face's
# ViTMAEForPreTraining("facebook/vit-mae-base") and ours (`mae-b16-224`).
MAE_BASE = 111_907_840
# Our reference networks at 224x224 with 100 classes, counted on the built models.
OURS_AT_224 = {
    "dreamnet": {"trainable": 312_279_271, "total": 424_193_767},
    "sleepnet": {"trainable": 463_262_701, "total": 575_171_437},
}


def _mae():
    return load_autoencoder("mae-tiny-32")


@pytest.mark.parametrize("kind", ["dreamnet", "sleepnet"])
def test_the_formula_counts_the_built_network(kind, tmp_path):
    """The count formula against a small built network, then a save/load round trip."""
    mae = _mae()
    model = ref.REFERENCE_CLASSES[kind](mae, num_classes=10, num_blocks=3, image_shape=(32, 32, 3))
    counts = parameter_counts(model)
    formula = reference_counts.reference_parameter_counts(
        kind, 10, 3, (32, 32, 3), mae.patch_size, counts["encoder"]
    )
    assert (formula["trainable"], formula["total"]) == (counts["trainable"], counts["total"])
    assert counts["frozen"] == counts["encoder"] > 0
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    assert expected.shape == (2, 10)
    path = tmp_path / "reference.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model) and restored.mask_ratio == 0.75
    assert len(restored.trainable_weights) == len(model.trainable_weights)
    assert all(not w.trainable for w in restored.autoencoder.weights)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-5)


def test_the_reference_dreamnets_shape():
    mae = _mae()
    model = ref.ReferenceDreamNet(mae, num_classes=10, image_shape=(32, 32, 3))
    # One connection (one set of adapter weights) after each of the 3 stages,
    # with the reference's pooled projection to the whole 8x8x128 map.
    connections = [layer for layer in model.layers if isinstance(layer, dreamkeras.DreamConnection)]
    assert len(connections) == 1 and len(connections[0]._inbound_nodes) == 3
    connection = connections[0]
    assert connection.projection == "pooled" and connection.mask_ratio == 0.75
    assert tuple(connection.adapter_out.dense.kernel.shape) == (8 * 8 * 3, 8 * 8 * 128)
    assert model.get_layer("stage_1").output.shape[1:] == (8, 8, 128)
    names = [layer.name for layer in model.layers]
    assert sum(n.startswith("stage_1_block_") and n.endswith("_add") for n in names) == 4
    assert sum(n.startswith("compressor_block_") and n.endswith("_add") for n in names) == 2
    assert "dream_mean" in names and "merge_dreams" in names
    # The three dreams, for the pictures.
    dreams = dream_model(model).predict(np.zeros((1, 32, 32, 3), "float32"), verbose=0)
    assert len(dreams) == 3 and dreams[0].shape == (1, 32, 32, 3)


def test_the_reference_sleepnets_shape():
    model = ref.ReferenceSleepNet(_mae(), num_classes=10, image_shape=(32, 32, 3))
    chain = model.get_layer("chain")
    connections = [layer for layer in chain.layers if isinstance(layer, dreamkeras.DreamConnection)]
    # A connection per block, and the chain run twice (image, then image + dreams).
    assert len(connections) == 3 and len(chain._inbound_nodes) == 2
    assert all(c.adapter_out.output_channels == 64 for c in connections)
    assert "image_and_dreams" in [layer.name for layer in model.layers]


def test_counts_at_224_against_the_reference_and_the_papers():
    """At the real size: the reference's own counts (SleepNet 463M; DreamNet
    733M, 621M trainable) follow from ours plus the layers its modules define
    and never call. Counting only (the formula was checked against a built
    network above; the full build is `large`)."""
    dreamnet = reference_counts.reference_parameter_counts("dreamnet", 100, 3, (224, 224, 3), 16, MAE_BASE)
    assert round(dreamnet["reference_trainable"] / 1e6) == 621
    assert round(dreamnet["reference_total"] / 1e6) == 733
    # The unused Linear(768 -> 128*56*56) and 1x1 conv of the reference's DreamNet.
    assert dreamnet["reference_unused"] == 768 * 128 * 56 * 56 + 128 * 56 * 56 + 128 * 3 + 3
    assert dreamnet["trainable"] == OURS_AT_224["dreamnet"]["trainable"]
    assert dreamnet["total"] == OURS_AT_224["dreamnet"]["total"]
    sleepnet = reference_counts.reference_parameter_counts("sleepnet", 100, 3, (224, 224, 3), 16, MAE_BASE)
    assert round(sleepnet["reference_trainable"] / 1e6) == 463
    assert sleepnet["reference_total"] == sleepnet["reference_trainable"]  # global MAE
    assert sleepnet["trainable"] == OURS_AT_224["sleepnet"]["trainable"]
    # Each pooled projection: Linear(768 -> 64*56*56), 154.3M, one per block.
    assert sleepnet["trainable"] > 3 * (768 * 64 * 56 * 56)
    assert reference_counts.REFERENCE_REPORTED["dreamnet"] == {"total": 733e6, "trainable": 621e6}
    # The papers' rows are there to print next to ours.
    assert reference_counts.PAPER_TABLES["dreaming"]["dreamnet"][3] == (733e6, 42.1e9)
    assert reference_counts.PAPER_TABLES["vision"]["dreamnet"][3] == (209.12e6, 83.5e9)


def test_the_reference_flag():
    config = commands.run_config("cifar100", ["--architecture", "reference"])
    assert config.model.architecture == "reference" and config.model.mask_ratio == 0.75
    assert config.model.uses_autoencoder
    sleepnet = commands.run_config("cifar100", ["--architecture", "reference", "--model", "sleepnet"])
    assert sleepnet.model.uses_autoencoder
    fast = commands.run_config(
        "cifar100", ["--architecture", "reference", "--model", "sleepnet", "--fast-dev-run"]
    )
    assert fast.model.encoder == "mae-tiny-32"
    ours = commands.run_config("cifar100", ["--model", "sleepnet", "--mask-ratio", "0.5"])
    assert not ours.model.uses_autoencoder and ours.model.mask_ratio == 0.5


@pytest.mark.large  # the vision app family's default run is test_apps' fast dev run
def test_the_app_trains_the_reference_dreamnet(tmp_path, capsys):
    argv = ["--backend", BACKEND, "--fast-dev-run", "--architecture", "reference",
            "--blocks", "1", "--verbose", "0"] + paths(tmp_path)
    assert cifar100.main(argv) == 0
    out = capsys.readouterr().out
    assert "the reference implementation's network" in out
    result = report(tmp_path)
    assert result["model"] == "ReferenceDreamNet" and result["architecture"] == "reference"
    comparison = result["reference_comparison"]
    assert comparison["reference"]["formula_matches_ours"]
    assert comparison["ours"]["trainable"] == result["params"]["trainable"]
    assert comparison["ours"]["masked_forward_flops"] < comparison["ours"]["forward_flops"]
    assert result["dream_images"] and result["reload_check"]["abs_loss_diff"] < 1e-5


@pytest.mark.large
@pytest.mark.parametrize("kind", ["dreamnet", "sleepnet"])
def test_the_full_size_reference_networks(kind):
    """Built at 224 on a (random) MAE-base: 424M / 575M weights, a few GB."""
    mae = load_autoencoder("mae-b16-224")
    model = ref.REFERENCE_CLASSES[kind](mae, num_classes=100, image_shape=(224, 224, 3))
    counts = parameter_counts(model)
    assert counts["encoder"] == MAE_BASE
    assert counts["trainable"] == OURS_AT_224[kind]["trainable"]
    assert counts["total"] == OURS_AT_224[kind]["total"]
    comparison = reference_counts.reference_comparison(model)
    assert round(comparison["reference"]["trainable"] / 1e6) == (621 if kind == "dreamnet" else 463)
    lines = "\n".join(reference_counts.comparison_lines(comparison))
    assert "the reference" in lines and "Table 3" in lines
