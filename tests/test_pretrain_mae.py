"""apps/pretrain_mae.py: MAE pretraining end to end, resume, presets, errors.

The default suite runs one fast dev run and the errors that stop before
training; the other end-to-end runs are `large`.
"""

import os

import keras
import numpy as np
import pytest

from apps import pretrain_mae
from dreamkeras import training
from dreamkeras.data import synthetic_dataset
from dreamkeras.encoders import load_autoencoder
from dreamkeras.encoders import load_encoder
from dreamkeras.models import DreamNet
from dreamkeras.models import MAEAutoencoder
from dreamkeras.training.mae_task import image_pipeline
from dreamkeras.training.mae_task import load_images
from dreamkeras.training.mae_task import masked_reconstruction_loss
from dreamkeras_cli import commands
from tests.app_helpers import BACKEND
from tests.app_helpers import FIRST_LINE
from tests.app_helpers import OTHER_BACKEND
from tests.app_helpers import Interrupt
from tests.app_helpers import KeepModel
from tests.app_helpers import header
from tests.test_data_pipeline import write_fashion_mnist

TINY = [
    "--backend", BACKEND, "--encoder", "mae-tiny-32", "--batch-size", "4",
    "--steps-per-epoch", "2", "--verbose", "0", "--seed", "3",
]


def paths(tmp_path, name="mae"):
    return ["--output", str(tmp_path / name), "--logdir", str(tmp_path / f"{name}_logs")]


def read_report(tmp_path, name="mae"):
    import json

    with open(tmp_path / f"{name}.json") as f:
        return json.load(f)


def write_unlabelled_folder(root, n=10, size=20):
    """Flat folder of PNGs (no class folders): bright squares on dark."""
    from PIL import Image

    os.makedirs(root)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = np.full((size, size, 3), 20, np.uint8)
        y, x = rng.integers(0, size // 2, 2)
        pixels[y : y + size // 2, x : x + size // 2] = 230
        Image.fromarray(pixels).save(os.path.join(root, f"{i}.png"))


@pytest.mark.app
def test_fast_dev_run_writes_a_preset_the_classifiers_load(tmp_path, capsys):
    keep = KeepModel()
    assert pretrain_mae.main(["--backend", BACKEND, "--fast-dev-run", "--verbose", "0"]
                             + paths(tmp_path), callbacks=[keep]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert FIRST_LINE.match(lines[0]) and "NOT a real run" in lines[0]
    head = header(out)
    assert head["output"].startswith(f"preset folder {tmp_path / 'mae'} ")
    assert head["model"].startswith("MAEAutoencoder mae-tiny-32, images (32, 32, 3), mask ratio 0.75")
    assert "RANDOM initial weights" in head["model"]
    assert head["data"] == "pretrain_mae (synthetic): 32 training / 16 held-out images, 2 steps per epoch"
    report = read_report(tmp_path)
    assert report["fast_dev_run"] and report["optimizer_steps"] == 4
    loss = report["heldout_masked_loss"]
    assert loss["images"] == 16 and loss["initial"] > 0 and loss["trained"] > 0
    # The report's held-out figure is the saved preset's.
    reloaded = load_autoencoder(str(tmp_path / "mae"))
    config = commands.run_config("pretrain-mae", ["--fast-dev-run"])
    images = synthetic_dataset("pretrain_mae", 1, (28, 28, 1), 32, 16, seed=config.schedule.seed)
    heldout = image_pipeline(images.eval, (32, 32, 3), batch_size=8, training=False)
    again = masked_reconstruction_loss(reloaded, heldout.as_numpy_iterator(), 0.75,
                                       seed=config.schedule.seed)
    np.testing.assert_allclose(again["loss"], loss["trained"], rtol=1e-5)
    assert load_encoder(str(tmp_path / "mae")).count_params() == reloaded.encoder.count_params()


@pytest.mark.app
@pytest.mark.large
def test_pretrain_on_an_image_folder_writes_a_loadable_preset(tmp_path, capsys):
    write_unlabelled_folder(str(tmp_path / "images"))
    keep = KeepModel()
    argv = TINY + [
        "--dataset", "image_folder", "--data-dir", str(tmp_path / "images"),
        "--epochs", "1",
    ] + paths(tmp_path)
    assert pretrain_mae.main(argv, callbacks=[keep]) == 0
    assert "trained" in capsys.readouterr().out
    report = read_report(tmp_path)
    # 10 images, 10% held out by image_dataset_from_directory.
    assert report["train_images"] == 9 and report["heldout_masked_loss"]["images"] == 1
    assert report["optimizer_steps"] == 2 and report["epochs_completed"] == 1
    assert report["image_shape"] == [32, 32, 3] and report["mask_ratio"] == 0.75
    assert os.listdir(tmp_path / "mae_logs" / "train")  # TensorBoard events.

    reloaded = load_autoencoder(str(tmp_path / "mae"))
    assert isinstance(reloaded, MAEAutoencoder)
    assert reloaded.mask_ratio == 0.75 and reloaded.norm_pix_loss
    images = np.random.default_rng(1).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded.reconstruct(images)),
        keras.ops.convert_to_numpy(keep.trained.reconstruct(images)),
        atol=1e-6,
    )
    # The held-out figure of the report is the reloaded model's too.
    config = commands.run_config(
        "pretrain-mae",
        ["--dataset", "image_folder", "--data-dir", str(tmp_path / "images"), "--seed", "3"],
    )
    data = load_images(config.data, (32, 32), seed=3)
    heldout = image_pipeline(data.eval, (32, 32, 3), batch_size=4, training=False)
    again = masked_reconstruction_loss(
        reloaded, heldout.as_numpy_iterator(), 0.75, seed=3
    )
    np.testing.assert_allclose(
        again["loss"], report["heldout_masked_loss"]["trained"], rtol=1e-5
    )

    # SleepNet / DreamNet take it as their frozen encoder.
    assert load_encoder(str(tmp_path / "mae")).count_params() == (
        reloaded.encoder.count_params()
    )
    model = DreamNet(
        reloaded, num_classes=3, num_blocks=1, width=8, image_shape=(32, 32, 3)
    )
    assert tuple(model(images).shape) == (2, 3)


def numpy_patches(images, patch):
    n, h, w, c = images.shape
    x = images.reshape(n, h // patch, patch, w // patch, patch, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(n, (h // patch) * (w // patch), -1)


def test_masked_reconstruction_loss_matches_numpy():
    mae = load_autoencoder("mae-tiny-32", mask_ratio=0.5)
    rng = np.random.default_rng(0)
    batches = [rng.random((3, 32, 32, 3)).astype("float32") for _ in range(2)]
    result = masked_reconstruction_loss(mae, batches, 0.5, seed=7)

    noise_rng = np.random.default_rng(7)
    errors, reference = [], []
    for images in batches:
        noise = noise_rng.random((3, mae.num_patches), dtype=np.float32)
        latent, ids_restore, mask = mae.encode(images, 0.5, noise=noise)
        predicted = keras.ops.convert_to_numpy(mae.decoder(latent, ids_restore))
        mask = keras.ops.convert_to_numpy(mask).astype(bool)
        # Masked: the half of the patches with the highest noise.
        np.testing.assert_array_equal(
            mask, noise >= np.sort(noise, axis=1)[:, [mae.num_patches // 2]]
        )
        target = numpy_patches(images, 8)
        target = (target - target.mean(-1, keepdims=True)) / np.sqrt(
            target.var(-1, keepdims=True) + 1e-6
        )
        errors.append(((predicted - target) ** 2).mean(-1)[mask])
        reference.append((target**2).mean(-1)[mask])
    np.testing.assert_allclose(result["loss"], np.concatenate(errors).mean(), rtol=1e-5)
    np.testing.assert_allclose(
        result["patch_mean_loss"], np.concatenate(reference).mean(), rtol=1e-5
    )
    assert result["images"] == 6 and result["pixel_mse"] is None
    # Same seed, same masks, same figure.
    assert masked_reconstruction_loss(mae, batches, 0.5, seed=7)["loss"] == result["loss"]


@pytest.mark.app
@pytest.mark.large
def test_resume_after_a_killed_run_on_fashion_mnist(tmp_path):
    write_fashion_mnist(str(tmp_path / "fm"), n_train=16, n_test=4)
    argv = TINY + [
        "--data-dir", str(tmp_path / "fm"), "--epochs", "3", "--no-flip",
    ] + paths(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        pretrain_mae.main(argv, callbacks=[Interrupt(after_epoch=1)])
    backup = tmp_path / "mae_logs" / "backup"
    assert (backup / "state.json").exists()
    assert not (tmp_path / "mae").exists()

    recorder = training.EpochRecorder()
    assert pretrain_mae.main(argv + ["--resume"], callbacks=[recorder]) == 0
    assert recorder.started == [2]
    report = read_report(tmp_path)
    assert report["resumed_from_epoch"] == 2 and report["epochs_completed"] == 3
    assert report["epochs_this_process"] == 1 and len(report["history"]["loss"]) == 3
    # The optimizer state came back too: 3 epochs of 2 steps in all.
    assert report["optimizer_steps"] == 6
    # Grayscale 28x28 went in as 32x32x3.
    assert report["image_shape"] == [32, 32, 3] and report["eval_split"] == "test"
    assert not backup.exists()
    assert load_autoencoder(str(tmp_path / "mae")).image_shape == (32, 32, 3)


@pytest.mark.app
def test_existing_output_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "mae").mkdir()
    (tmp_path / "mae" / "keep.txt").write_text("precious")
    argv = TINY + ["--data-dir", str(tmp_path / "mae")] + paths(tmp_path)
    assert pretrain_mae.main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "mae" / "keep.txt").read_text() == "precious"


@pytest.mark.app
def test_clear_errors_for_bad_inputs(tmp_path, capsys):
    out = paths(tmp_path)
    missing = str(tmp_path / "nope")
    assert pretrain_mae.main(TINY + out + ["--data-dir", missing]) == 2
    err = capsys.readouterr().err
    assert "Fashion-MNIST" in err and "does not exist" in err
    assert pretrain_mae.main(TINY + out + ["--dataset", "image_folder"]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert pretrain_mae.main(TINY + out + ["--image-size", "36"]) == 2
    err = capsys.readouterr().err
    assert "8x8 patches" in err and "36x36" in err and "multiple of 8" in err
    assert pretrain_mae.main(TINY + out + ["--encoder", missing]) == 2
    err = capsys.readouterr().err
    assert "--encoder" in err and "nope" in err
    assert pretrain_mae.main(TINY + out + ["--backend", OTHER_BACKEND]) == 2
    err = capsys.readouterr().err
    assert "new process" in err and "apps/pretrain_mae.py" in err
    assert pretrain_mae.main(TINY + out + ["--mask-ratio", "0"]) == 2
    assert "--mask-ratio" in capsys.readouterr().err
    assert pretrain_mae.main(TINY + out + ["--resume"]) == 2
    assert "no interrupted run" in capsys.readouterr().err
    assert not (tmp_path / "mae").exists()
