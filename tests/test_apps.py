"""End-to-end tests of the training apps (`apps/*.py`)."""

import importlib.metadata
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import dreamkeras
from apps import cifar100
from apps import fashion_mnist
from apps import image_folder
from apps import imagenet
from apps import tiny_imagenet
from dreamkeras import data as dk_data
from dreamkeras import training
from dreamkeras.utils import memory
from dreamkeras.utils.precision import unsupported_policy_reason
from tests.test_data_pipeline import write_fashion_mnist
from tests.test_data_pipeline import write_image_folder
from tests.test_training import read_events

pytestmark = pytest.mark.app

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = keras.backend.backend()
# A small SleepNet-1 on a random ViT: the cheapest model with a connection.
TINY = [
    "--backend", BACKEND, "--model", "sleepnet", "--encoder", "vit-tiny-32",
    "--blocks", "1", "--width", "8", "--batch-size", "8",
    "--steps-per-epoch", "2", "--eval-steps", "2", "--verbose", "0",
]


def paths(tmp_path, name="run"):
    return ["--output", str(tmp_path / f"{name}.keras"), "--logdir", str(tmp_path / f"{name}_logs")]


def report(tmp_path, name="run"):
    with open(tmp_path / f"{name}.json") as f:
        return json.load(f)


class Interrupt(keras.callbacks.Callback):
    """Simulates a killed run: raises at the end of an epoch."""

    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt(f"simulated kill after epoch {epoch}")


def test_fast_dev_run_end_to_end(tmp_path, capsys, monkeypatch):
    released = []
    monkeypatch.setattr(
        training.app, "release_host_memory_after_compiles",
        lambda: released.append(memory.release_host_memory_after_compiles()),
    )
    argv = ["--backend", BACKEND, "--fast-dev-run", "--blocks", "1", "--verbose", "0"]
    assert cifar100.main(argv + paths(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "NOT a real run" in out and "mae-tiny-32" in out
    result = report(tmp_path)
    assert result["fast_dev_run"] and result["synthetic_data"]
    assert result["encoder"] == "mae-tiny-32" and result["encoder_random_weights"]
    assert result["model"] == "DreamNet" and result["num_classes"] == 100
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["epochs_completed"] == 2 and result["optimizer_steps"] == 4
    assert result["params"]["frozen"] > 0
    assert result["params"]["trainable"] + result["params"]["non_trainable"] == result["params"]["total"]
    assert result["flops_per_image"]["total"] > 0
    assert result["reload_check"]["abs_loss_diff"] < 1e-5
    assert os.path.exists(tmp_path / "run_best.keras")
    # Memory freed after each long XLA compilation goes back to the system.
    assert released == [True] if BACKEND == "jax" else released == [False]

    model = keras.saving.load_model(tmp_path / "run.keras")
    assert isinstance(model, dreamkeras.DreamNet)
    assert len(model.trainable_weights) == result["reload_check"]["trainable_weights"]
    assert all(not w.trainable for w in model.autoencoder.weights)

    tags = read_events(str(tmp_path / "run_logs"))
    for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate"):
        assert tag in tags
    np.testing.assert_allclose(
        tf.make_ndarray(tf.make_tensor_proto(tags["epoch_learning_rate"][0])), 0.005
    )
    assert "hparams" in tags or result["hparams_written_with"] == "hparams_plugin"


def test_cifar100_app_on_tfds_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        assert cifar100.main(TINY + ["--epochs", "1"] + paths(tmp_path)) == 0
    result = report(tmp_path)
    assert result["dataset"] == "cifar100" and not result["synthetic_data"]
    assert result["num_classes"] == 100 and result["model"] == "SleepNet"
    assert result["image_shape"] == [32, 32, 3]
    assert result["epochs_completed"] == 1 and result["optimizer_steps"] == 2
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["eval_split"] == "test"


def test_image_folder_app_with_mixed_precision(tmp_path):
    folder = tmp_path / "images"
    write_image_folder(str(folder), classes=("a", "b", "c"), per_class=8)
    argv = [
        "--backend", BACKEND, "--model", "baseline", "--image-size", "16",
        "--width", "8", "--blocks", "1", "--batch-size", "4", "--epochs", "1",
        "--mixed-precision", "mixed_bfloat16", "--data-dir", str(folder),
        "--verbose", "0",
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
    # The app restores the global policy.
    assert keras.config.dtype_policy().name == "float32"


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
    assert (backup / "training_metadata.json").exists()
    assert not (tmp_path / "run.keras").exists()

    recorder = training.EpochRecorder()
    assert fashion_mnist.main(argv + ["--resume"], callbacks=[recorder]) == 0
    assert recorder.started == [1, 2]
    result = report(tmp_path)
    assert result["resumed_from_epoch"] == 1 and result["epochs_completed"] == 2
    # The optimizer state was restored too: 3 epochs of 2 steps in all.
    assert result["optimizer_steps"] == 6
    assert not backup.exists()  # Deleted once the run finished.


def test_resume_without_a_backup_is_an_error(tmp_path, capsys):
    assert cifar100.main(TINY + ["--resume"] + paths(tmp_path)) == 2
    assert "no interrupted run" in capsys.readouterr().err


def test_labels_out_of_range_in_the_data_files(tmp_path, capsys):
    labels = [0, 1, 2, 12, 3, 4, 5, 6, 7, 8, 9, 0]
    write_fashion_mnist(str(tmp_path / "fm"), train_labels=labels)
    argv = TINY + ["--model", "baseline", "--data-dir", str(tmp_path / "fm")]
    assert fashion_mnist.main(argv + paths(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "out of range" in err and "[0, 10)" in err
    assert not (tmp_path / "run.keras").exists()


def test_labels_out_of_range_in_a_stream(tmp_path):
    """Labels only seen while training (a generator) stop with a DataError."""

    def load_data(args, image_size):
        def examples():
            for label in [0, 1, 7, 2] * 4:
                yield np.zeros((8, 8, 3), "uint8"), label

        signature = (
            tf.TensorSpec((8, 8, 3), tf.uint8), tf.TensorSpec((), tf.int64)
        )
        ds = tf.data.Dataset.from_generator(examples, output_signature=signature)
        return dk_data.ImageDataset(name="stream", train=ds, eval=ds, num_classes=5)

    defaults, _ = training.DATASETS["image_folder"]
    args = training.build_parser(defaults).parse_args(
        TINY + ["--model", "baseline", "--image-size", "8", "--batch-size", "2"]
        + paths(tmp_path)
    )
    args.backend = BACKEND
    with pytest.raises(dk_data.DataError, match=r"\[0, 5\).*7"):
        training.train(args, defaults, load_data)


def test_existing_output_is_not_overwritten(tmp_path, capsys):
    output = tmp_path / "run.keras"
    output.write_bytes(b"precious")
    assert cifar100.main(TINY + paths(tmp_path)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert output.read_bytes() == b"precious"


def test_clear_errors_for_bad_inputs(tmp_path, capsys):
    out = paths(tmp_path)
    assert tiny_imagenet.main(TINY + out) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert tiny_imagenet.main(TINY + out + ["--data-dir", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert imagenet.main(TINY + out) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert training.main("mnist9", []) == 2
    assert "Unknown dataset 'mnist9'" in capsys.readouterr().err
    # The default encoder is a preset; without preset loading / network the
    # message names the flag to use instead.
    no_encoder = [a for a in TINY if a != "vit-tiny-32" and a != "--encoder"]
    assert cifar100.main(no_encoder + out) == 2
    err = capsys.readouterr().err
    assert "--encoder" in err and "local folder" in err and "hf://facebook/vit-mae-base" in err
    other = next(b for b in ("jax", "tensorflow", "torch") if b != BACKEND)
    assert cifar100.main(TINY + out + ["--backend", other]) == 2
    assert "new process" in capsys.readouterr().err
    assert cifar100.main(TINY + out + ["--output", str(tmp_path / "x.h5")]) == 2
    assert ".keras" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cifar100.main(["--model", "resnet"])
    if unsupported_policy_reason("mixed_float16"):  # CPU: a clear error, not XLA's.
        assert cifar100.main(TINY + out + ["--mixed-precision", "mixed_float16"]) == 2
        assert "use mixed_bfloat16" in capsys.readouterr().err.lower()


def _run_app(tmp_path, args, env=None):
    environment = dict(os.environ, **(env or {}))
    environment.pop("KERAS_BACKEND", None)  # --backend decides.
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "apps", "cifar100.py")] + args,
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.skipif(
    BACKEND != "jax", reason="a subprocess with its own backend: run once, in the jax pass"
)
@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_fast_dev_run_other_backends(tmp_path, backend):
    result = _run_app(
        tmp_path, ["--backend", backend, "--fast-dev-run", "--verbose", "0"]
        + paths(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NOT a real run" in result.stdout
    data = report(tmp_path)
    assert data["backend"] == backend and data["reload_check"]["abs_loss_diff"] < 1e-5
    assert data["model"] == "DreamNet" and data["epochs_completed"] == 2


@pytest.mark.skipif(
    BACKEND != "jax", reason="a subprocess with its own backend: run once, in the jax pass"
)
def test_distribute_data_parallel_on_two_cpu_devices(tmp_path):
    result = _run_app(
        tmp_path,
        ["--backend", "jax", "--fast-dev-run", "--blocks", "1", "--distribute",
         "--verbose", "0"] + paths(tmp_path),
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = report(tmp_path)
    assert data["devices"] == 2 and data["backend"] == "jax"
    assert data["reload_check"]["abs_loss_diff"] < 1e-5


def test_ynn_fusions_are_turned_off_only_for_a_fresh_jax_run(monkeypatch):
    from apps import _launcher

    flag = _launcher.NO_YNN_FUSIONS
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.setattr(_launcher.importlib.metadata, "version", lambda name: "0.10.2")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    assert _launcher.prefer_xla_cpu_kernels("jax")
    assert os.environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=2 {flag}"
    # `--remat` runs also get the memory-optimised schedule.
    monkeypatch.setenv("XLA_FLAGS", "")
    assert _launcher.prefer_xla_cpu_kernels("jax", memory_first=True)
    assert os.environ["XLA_FLAGS"] == f"{flag} {_launcher.MEMORY_SCHEDULE}"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_DEFAULT")
    assert _launcher.prefer_xla_cpu_kernels("jax", memory_first=True)
    assert "MEMORY_OPTIMIZED" not in os.environ["XLA_FLAGS"]
    # Once only, and never over the user's own choice of fusion types.
    assert not _launcher.prefer_xla_cpu_kernels("jax")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=dot")
    assert not _launcher.prefer_xla_cpu_kernels("jax")
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type=dot"
    monkeypatch.delenv("XLA_FLAGS")
    assert not _launcher.prefer_xla_cpu_kernels("tensorflow")
    # Another jaxlib may not know the flag (XLA aborts on unknown flags).
    monkeypatch.setattr(_launcher.importlib.metadata, "version", lambda name: "0.11.0")
    assert not _launcher.prefer_xla_cpu_kernels("jax")
    assert "XLA_FLAGS" not in os.environ
    # Too late once JAX is imported.
    monkeypatch.setattr(_launcher.importlib.metadata, "version", lambda name: "0.10.2")
    monkeypatch.setitem(sys.modules, "jax", object())
    assert not _launcher.prefer_xla_cpu_kernels("jax")


def test_the_installed_jaxlib_accepts_the_launcher_flags():
    # XLA aborts on a flag it does not know: run a JAX computation in a fresh
    # process started the way the apps start.
    code = (
        "import os, sys; sys.path.insert(0, '.');"
        "from apps._launcher import select_backend;"
        "select_backend(['--backend', 'jax', '--remat']);"
        "import jax.numpy as jnp; print(float(jnp.ones(3).sum()), os.environ.get('XLA_FLAGS'))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "KERAS_BACKEND")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "3.0"
    from apps import _launcher

    if importlib.metadata.version("jaxlib").startswith(_launcher.MEASURED_JAXLIB):
        assert _launcher.MEMORY_SCHEDULE in result.stdout
