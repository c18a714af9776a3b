"""The vision apps (`apps/cifar100.py`, ...) end to end, and their clear errors.

The default suite runs one fast dev run as a user would (a subprocess from
a fresh folder) and the error paths that stop before any training; the
other end-to-end runs are `large` (`pytest --run_large`).
"""

import os
import re

import keras
import numpy as np
import pytest

import dreamkeras
from apps import cifar100
from apps import dream
from apps import fashion_mnist
from apps import image_folder
from apps import imagenet
from apps import tiny_imagenet
from dreamkeras import data as dk_data
from dreamkeras import training
from dreamkeras.utils.precision import unsupported_policy_reason
from dreamkeras_cli import commands
from tests.app_helpers import BACKEND
from tests.app_helpers import FIRST_LINE
from tests.app_helpers import OTHER_BACKEND
from tests.app_helpers import Interrupt
from tests.app_helpers import header
from tests.app_helpers import paths
from tests.app_helpers import read_events
from tests.app_helpers import report
from tests.app_helpers import run_script
from tests.test_data_pipeline import write_fashion_mnist
from tests.test_data_pipeline import write_image_folder

pytestmark = pytest.mark.app

# A small SleepNet-1 on a random ViT: the cheapest model with a connection.
TINY = [
    "--backend", BACKEND, "--model", "sleepnet", "--encoder", "vit-tiny-32",
    "--blocks", "1", "--width", "8", "--batch-size", "8",
    "--steps-per-epoch", "2", "--eval-steps", "2", "--verbose", "0",
]
FOREIGN = re.compile(r"absl::InitializeLog|cudart_stub|cuInit|cpu_feature_guard|^[IWE]\d{4} ")


def _no_gpu():
    if BACKEND != "jax":
        return False
    import jax

    return jax.devices()[0].platform == "cpu"


def test_fast_dev_run_as_a_user_runs_it(tmp_path):
    """`python apps/cifar100.py --fast-dev-run` from an empty folder (M=1: faster)."""
    result = run_script(
        "apps/cifar100.py",
        ["--backend", BACKEND, "--fast-dev-run", "--blocks", "1", "--verbose", "0"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (result.stdout + result.stderr).splitlines()
    # Our line first, and no start-up log of TensorFlow, XLA, absl or CUDA.
    assert FIRST_LINE.match(lines[0]) and "NOT a real run" in lines[0], lines[:3]
    assert [line for line in lines if FOREIGN.search(line)] == []
    head = header(result.stdout)
    assert head["backend"].startswith(f"{BACKEND} (Keras {keras.__version__}) on ")
    if _no_gpu():
        assert "no GPU found" in head["backend"]
    output = tmp_path / "outputs" / "fast_dev_run_cifar100_dreamnet.keras"
    assert head["output"].startswith(f"model {output} ")
    assert head["logs"].startswith(str(tmp_path / "runs" / "fast_dev_run_cifar100_dreamnet"))
    assert head["resume"] == "a fast dev run starts afresh each time"
    assert head["replaces"].startswith("--encoder hf://facebook/vit-mae-base -> mae-tiny-32")
    assert head["model"].startswith("DreamNet-1,") and "mae-tiny-32: RANDOM weights" in head["model"]
    assert head["data"].startswith(
        "cifar100 (synthetic): 86 training / 10 validation / 16 test images, 100 classes"
    )
    assert head["dtype"].startswith("float32 (auto: ") if _no_gpu() else "dtype" in head
    assert list(head)[:3] == ["backend", "replaces", "output"]

    result = report(tmp_path / "outputs", "fast_dev_run_cifar100_dreamnet")
    assert result["fast_dev_run"] and result["synthetic_data"] and result["encoder_random_weights"]
    assert result["model"] == "DreamNet" and result["num_classes"] == 100
    assert result["epochs_completed"] == 2 and result["optimizer_steps"] == 4
    assert len(result["history"]["loss"]) == 2 and len(result["history"]["val_loss"]) == 2
    params = result["params"]
    assert params["frozen"] == params["encoder"] > 0
    assert params["trainable"] + params["non_trainable"] == params["total"]
    assert result["flops_per_image"]["total"] > 0
    assert result["reload_check"]["abs_loss_diff"] < 1e-5
    assert result["config"]["model"]["encoder"] == "mae-tiny-32"
    assert (tmp_path / "outputs" / "fast_dev_run_cifar100_dreamnet_best.keras").exists()
    # Selection on the validation split; the test split read once, final and best.
    assert result["validation_examples"] == 10 and result["train_examples"] == 86
    assert result["validation_split"].startswith("exactly 10% of the training split")
    assert len(result["history"]["val_accuracy"]) == 2 and result["best_epoch"] in (1, 2)
    assert result["best_model_test_accuracy"] is not None
    assert result["dream_images"] and result["architecture"] == "ours"

    # The report's accuracy is the saved model's on the same held-out images.
    model = keras.saving.load_model(output)
    assert isinstance(model, dreamkeras.DreamNet)
    assert all(not w.trainable for w in model.autoencoder.weights)
    config = commands.run_config("cifar100", ["--fast-dev-run"])
    data = training.load_training_data(config, (32, 32, 3))
    _, eval_ds = training.make_pipelines(config, data, (32, 32, 3))
    again = model.evaluate(eval_ds, steps=2, return_dict=True, verbose=0)
    np.testing.assert_allclose(again["accuracy"], result["test_accuracy"], atol=1e-6)
    np.testing.assert_allclose(again["loss"], result["test_loss"], rtol=1e-5)

    tags = read_events(str(tmp_path / "runs" / "fast_dev_run_cifar100_dreamnet"))
    for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate"):
        assert tag in tags
    # Warm-up + cosine over 2 epochs of 2 steps (the warm-up, 10% of 2 epochs,
    # rounds to no step): after epoch 1, 0.005 * (1 + cos(pi / 2)) / 2.
    np.testing.assert_allclose(tags["epoch_learning_rate"][0], 0.0025, rtol=1e-6)
    # The dream pictures of fixed validation images, every epoch.
    assert len(tags["dreams"]) == 2

    # apps/dream.py draws the saved DreamNet's dreams: the original and the
    # one dream of DreamNet-1 per row, 32-pixel tiles 2 pixels apart.
    from PIL import Image

    write_image_folder(str(tmp_path / "photos"), classes=("x",), per_class=2)
    grid = tmp_path / "dreams.png"
    argv = ["--model", str(output), "--images", str(tmp_path / "photos" / "x"),
            "--output", str(grid), "--num-images", "2"]
    assert dream.main(argv) == 0
    with Image.open(grid) as image:
        assert image.size == (2 * 34 + 2, 2 * 34 + 2)


def test_dream_errors_are_one_line(tmp_path, capsys):
    """Bad inputs of apps/dream.py: one line, status 2, checked before Keras loads."""
    def error(argv):
        assert dream.main(argv + ["--output", str(tmp_path / "out" / "grid.png")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return err

    photos = str(tmp_path)
    assert "no such file" in error(["--model", str(tmp_path / "none.keras"), "--images", photos])
    (tmp_path / "bad.keras").write_text("not a model")
    assert "not a whole .keras file" in error(["--model", str(tmp_path / "bad.keras"), "--images", photos])
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "plain.keras")
    truncated = (tmp_path / "plain.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(truncated[: len(truncated) // 2])
    assert "truncated" in error(["--model", str(tmp_path / "cut.keras"), "--images", photos])
    assert "is a Functional, not a DreamNet" in error(
        ["--model", str(tmp_path / "plain.keras"), "--images", photos]
    )
    # A file that looks like a DreamNet to the checks that run before Keras.
    import zipfile

    with zipfile.ZipFile(tmp_path / "dream.keras", "w") as archive:
        archive.writestr("config.json", '{"registered_name": "dreamkeras>DreamNet"}')
        archive.writestr("model.weights.h5", "")
    model = ["--model", str(tmp_path / "dream.keras")]
    assert "neither a folder" in error(model + ["--images", str(tmp_path / "nope")])
    (tmp_path / "a_file").write_text("")
    assert dream.main(model + ["--images", photos, "--output", str(tmp_path / "a_file" / "g.png")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # Nothing written.


def test_an_existing_output_is_kept(tmp_path, capsys):
    output = tmp_path / "run.keras"
    output.write_bytes(b"precious")
    assert cifar100.main(TINY + paths(tmp_path)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert output.read_bytes() == b"precious"


def test_errors_before_training_are_one_line(tmp_path, capsys):
    def error(app, argv):
        assert app.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return err

    out = paths(tmp_path)
    assert "no interrupted run" in error(cifar100, TINY + out + ["--resume"])
    assert "new process" in error(cifar100, TINY + out + ["--backend", OTHER_BACKEND])
    assert "--data-dir" in error(tiny_imagenet, TINY + out)
    assert "does not exist" in error(
        tiny_imagenet, TINY + out + ["--data-dir", str(tmp_path / "nope")]
    )
    assert "--data-dir" in error(imagenet, TINY + out)
    (tmp_path / "a_file").write_text("")
    assert "is a file" in error(
        cifar100, TINY + ["--output", str(tmp_path / "a_file" / "run.keras"),
                          "--logdir", str(tmp_path / "logs")]
    )
    os.remove(tmp_path / "a_file")
    visible = ["--model", "dreamnet", "--encoder", "mae-tiny-32", "--keep-visible",
               "--mask-ratio", "0.75", "--inference-mask-ratio", "0.75"]
    assert "--no-norm-pix-loss" in error(cifar100, TINY + out + visible)
    if unsupported_policy_reason("mixed_float16"):  # CPU: a clear error, not XLA's.
        assert "mixed_bfloat16" in error(cifar100, TINY + out + ["--mixed-precision", "mixed_float16"])
    assert not os.listdir(tmp_path)  # Nothing written.


def test_corrupt_images_are_named_before_training(tmp_path, capsys):
    """A truncated .jpg and a web page saved as .png among good images: one line, status 2."""
    from PIL import Image

    folder = tmp_path / "images"
    write_image_folder(str(folder), classes=("a", "b", "c"), per_class=4)
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(folder / "a" / "photo.jpg")
    whole = (folder / "a" / "photo.jpg").read_bytes()
    (folder / "a" / "photo.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "b" / "page.png").write_bytes(b"<html>not an image</html>")
    assert dk_data.find_unreadable_images(
        [str(folder / "c" / f"{i}.png") for i in range(4)]
    ) == []
    argv = TINY + ["--model", "baseline", "--image-size", "16", "--data-dir", str(folder)]
    assert image_folder.main(argv + paths(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "2 of 14 image files cannot be decoded" in err
    assert os.path.join("a", "photo.jpg") in err and os.path.join("b", "page.png") in err
    assert "Remove or replace them" in err
    assert sorted(os.listdir(tmp_path)) == ["images"]  # Nothing written.


def test_bad_flags_are_refused_before_anything_runs(tmp_path, capsys):
    """The issue's bad inputs: one line, status 2, before the backend starts."""
    def error(app, argv):
        assert app.main(argv) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
        assert "backend" not in captured.out  # Refused before the backend started.
        return captured.err

    out = paths(tmp_path)
    (tmp_path / "a_file").write_text("")
    blocked = ["--output", str(tmp_path / "a_file" / "sub" / "run.keras")]
    assert "cannot be created because" in error(cifar100, TINY + blocked)
    assert "--eval-subset must be at least 1, got 0" in error(cifar100, TINY + out + ["--eval-subset", "0"])
    assert "--train-subset must be at least 1, got 0" in error(cifar100, TINY + out + ["--train-subset", "0"])
    assert "is a file, not a folder" in error(
        image_folder, TINY + out + ["--data-dir", str(tmp_path / "a_file")]
    )
    assert "needs a local copy: pass --data-dir" in error(image_folder, TINY + out)
    assert "--batch-size must be at least 2, got 0" in error(
        cifar100, ["--fast-dev-run", "--batch-size", "0"] + out
    )
    assert "--encoder '/nonexistent': no such folder" in error(
        cifar100, ["--fast-dev-run", "--encoder", "/nonexistent"] + out
    )
    assert "--encoder-input is an option of our networks" in error(
        cifar100, TINY + out + ["--architecture", "reference", "--encoder-input", "image"]
    )
    assert "options of our DreamNet's dreams" in error(cifar100, TINY + out + ["--keep-visible"])
    dreamnet = TINY + out + ["--model", "dreamnet", "--encoder", "mae-tiny-32"]
    assert "set --mask-ratio and --inference-mask-ratio above 0" in error(
        cifar100, dreamnet + ["--keep-visible", "--inference-mask-ratio", "0.75"]
    )
    assert "--inference-mask-ratio must be in [0, 1), got 1.0" in error(
        cifar100, dreamnet + ["--inference-mask-ratio", "1"]
    )
    assert sorted(os.listdir(tmp_path)) == ["a_file"]  # Nothing written.


@pytest.mark.large
def test_an_encoder_that_cannot_load_names_the_fix(tmp_path, capsys):
    no_encoder = [a for a in TINY if a not in ("vit-tiny-32", "--encoder")]
    assert cifar100.main(no_encoder + paths(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "--encoder" in err and "local folder" in err and "hf://facebook/vit-mae-base" in err


@pytest.mark.large
def test_cifar100_app_on_tfds_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        assert cifar100.main(TINY + ["--epochs", "1"] + paths(tmp_path)) == 0
    result = report(tmp_path)
    assert result["dataset"] == "cifar100" and not result["synthetic_data"]
    assert result["num_classes"] == 100 and result["model"] == "SleepNet"
    assert result["image_shape"] == [32, 32, 3] and result["eval_split"] == "test"
    assert result["epochs_completed"] == 1 and result["optimizer_steps"] == 2


@pytest.mark.large
def test_image_folder_app_with_mixed_precision(tmp_path):
    folder = tmp_path / "images"
    write_image_folder(str(folder), classes=("a", "b", "c"), per_class=8)
    argv = [
        "--backend", BACKEND, "--model", "baseline", "--image-size", "16",
        "--width", "8", "--blocks", "1", "--batch-size", "4", "--epochs", "1",
        "--mixed-precision", "mixed_bfloat16", "--data-dir", str(folder), "--verbose", "0",
    ]
    assert image_folder.main(argv + paths(tmp_path)) == 0
    result = report(tmp_path)
    assert result["dataset"] == "image_folder" and result["num_classes"] == 3
    assert result["image_shape"] == [16, 16, 3] and result["encoder"] is None
    # 24 images, 20% held out: 19 or 20 for training, 4 per batch.
    assert result["optimizer_steps"] in (4, 5)
    model = keras.saving.load_model(tmp_path / "run.keras")
    assert model.get_layer("stem_conv").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "float32"  # Restored.


@pytest.mark.large
def test_resume_after_a_killed_run(tmp_path):
    write_fashion_mnist(str(tmp_path / "fm"), n_train=32, n_test=16)
    # The plain chain: resuming does not depend on the connections.
    argv = TINY + [
        "--model", "baseline", "--image-size", "16", "--epochs", "3",
        "--data-dir", str(tmp_path / "fm"),
    ] + paths(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        fashion_mnist.main(argv, callbacks=[Interrupt(after_epoch=0)])
    backup = tmp_path / "run_logs" / "backup"
    assert (backup / "state.json").exists()
    assert not (tmp_path / "run.keras").exists()

    recorder = training.EpochRecorder()
    assert fashion_mnist.main(argv + ["--resume"], callbacks=[recorder]) == 0
    assert recorder.started == [1, 2]
    result = report(tmp_path)
    assert result["resumed_from_epoch"] == 1 and result["epochs_completed"] == 3
    assert result["epochs_this_process"] == 2 and len(result["history"]["loss"]) == 3
    # The optimizer state was restored too: 3 epochs of 2 steps in all.
    assert result["optimizer_steps"] == 6
    assert not backup.exists()  # Deleted once the run finished.


@pytest.mark.large
def test_labels_out_of_range_in_the_data_files(tmp_path, capsys):
    labels = [0, 1, 2, 12, 3, 4, 5, 6, 7, 8, 9, 0]
    write_fashion_mnist(str(tmp_path / "fm"), train_labels=labels)
    argv = TINY + ["--model", "baseline", "--data-dir", str(tmp_path / "fm")]
    assert fashion_mnist.main(argv + paths(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "out of range" in err and "[0, 10)" in err
    assert not (tmp_path / "run.keras").exists()


@pytest.mark.large
def test_labels_out_of_range_in_a_stream(tmp_path, monkeypatch):
    """Labels only seen while training (a generator) stop with a DataError."""
    import tensorflow as tf

    def load_dataset(data, image_size, seed=1337):
        def examples():
            for label in [0, 1, 7, 2] * 4:
                yield np.zeros((8, 8, 3), "uint8"), label

        signature = (tf.TensorSpec((8, 8, 3), tf.uint8), tf.TensorSpec((), tf.int64))
        ds = tf.data.Dataset.from_generator(examples, output_signature=signature)
        return dk_data.ImageDataset(name="stream", train=ds, eval=ds, num_classes=5)

    monkeypatch.setattr("dreamkeras.training.image_task.load_dataset", load_dataset)
    config = commands.run_config(
        "image_folder",
        TINY + ["--model", "baseline", "--image-size", "8", "--batch-size", "2"] + paths(tmp_path),
    )
    with pytest.raises(dk_data.DataError, match=r"\[0, 5\).*7"):
        training.train(config)


@pytest.mark.large
@pytest.mark.skipif(BACKEND != "jax", reason="subprocesses of their own backend: once")
@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_fast_dev_run_other_backends(tmp_path, backend):
    result = run_script(
        "apps/cifar100.py", ["--backend", backend, "--fast-dev-run", "--verbose", "0"]
        + paths(tmp_path), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert FIRST_LINE.match(result.stdout.splitlines()[0])
    data = report(tmp_path)
    assert data["backend"] == backend and data["reload_check"]["abs_loss_diff"] < 1e-5
    assert data["model"] == "DreamNet" and data["epochs_completed"] == 2


@pytest.mark.large
@pytest.mark.skipif(BACKEND != "jax", reason="a jax subprocess")
def test_distribute_data_parallel_on_two_cpu_devices(tmp_path):
    result = run_script(
        "apps/cifar100.py",
        ["--backend", "jax", "--fast-dev-run", "--blocks", "1", "--distribute",
         "--verbose", "0"] + paths(tmp_path),
        cwd=tmp_path, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 CPU devices" in header(result.stdout)["backend"]
    data = report(tmp_path)
    assert data["devices"] == 2 and data["backend"] == "jax"
    assert data["reload_check"]["abs_loss_diff"] < 1e-5


def test_image_folder_app_trains_dreamnet_with_visible_dreams(tmp_path):
    """--keep-visible on an MAE preset that predicts pixels, saved and reloaded."""
    from tests.helpers import tiny_mae

    preset = str(tmp_path / "pixel_mae")
    tiny_mae(norm_pix_loss=False).save_to_preset(preset)
    folder = tmp_path / "images"
    write_image_folder(str(folder), classes=("a", "b"), per_class=6)
    argv = [
        "--backend", BACKEND, "--model", "dreamnet", "--encoder", preset,
        "--encoder-input", "image", "--keep-visible", "--mask-ratio", "0.75",
        "--inference-mask-ratio", "0.5", "--width", "8", "--blocks", "1",
        "--batch-size", "4", "--epochs", "1", "--data-dir", str(folder), "--verbose", "0",
    ]
    assert image_folder.main(argv + paths(tmp_path)) == 0
    model = keras.saving.load_model(tmp_path / "run.keras")
    connection = model.get_layer("dream_connection_1")
    assert connection.keep_visible and connection.inference_mask_ratio == 0.5
    assert model.keep_visible and model.autoencoder.norm_pix_loss is False
