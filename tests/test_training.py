"""Tests of the training package: callbacks, the engine's pieces, parameter counts."""

import json

import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras import training
from dreamkeras.training import engine
from dreamkeras.training import report as reporting
from dreamkeras_cli import commands
from tests.app_helpers import read_events


def test_parameter_counts_split_frozen_encoder():
    vit = dreamkeras.encoders.load_encoder("vit-tiny-32")
    model = dreamkeras.SleepNet(
        vit, num_classes=4, num_blocks=1, width=8, stem="cifar", image_shape=(32, 32, 3)
    )
    counts = training.parameter_counts(model)
    assert counts["total"] == model.count_params()
    assert counts["trainable"] + counts["non_trainable"] == counts["total"]
    assert counts["frozen"] == counts["encoder"] == vit.count_params()
    assert counts["trainable"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_throughput_and_epoch_recorder_count_steps():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = np.zeros((40, 4), "float32"), np.zeros((40, 2), "float32")
    speed = training.Throughput(8, mode="train")
    recorder = training.EpochRecorder()
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[speed, recorder], verbose=0)
    assert speed.images == 2 * 4 * 8  # 5 steps per epoch, the first untimed.
    assert speed.images_per_second > 0
    assert recorder.started == [0, 1] and recorder.finished == [0, 1]
    test_speed = training.Throughput(8, mode="test")
    model.evaluate(x, y, batch_size=8, callbacks=[test_speed], verbose=0)
    assert test_speed.images == 3 * 8  # First and last of 5 steps untimed.
    with pytest.raises(ValueError, match="mode"):
        training.Throughput(8, mode="predict")


def test_hparams_logger_writes_a_summary(tmp_path):
    logger = training.HParamsLogger(str(tmp_path), {"lr": 0.005, "model": "dreamnet", "x": None})
    logger.on_train_begin()
    tags = read_events(str(tmp_path))
    if logger.written_with == "text_summary":
        (text,) = tags["hparams"]
        text = text.item().decode() if hasattr(text, "item") else text
        assert "| lr | 0.005 |" in text and "| model | dreamnet |" in text
    else:
        assert logger.written_with == "hparams_plugin" and tags


def test_build_model_follows_the_config():
    config = commands.run_config("cifar100", ["--model", "baseline", "--blocks", "2", "--width", "8"])
    model = training.build_model(config.model, 10, (32, 32, 3))
    assert isinstance(model, dreamkeras.ChainClassifier)
    assert (model.num_blocks, model.stem, model.width) == (2, "cifar", 8)
    config = commands.run_config(
        "cifar100", ["--model", "sleepnet", "--blocks", "1", "--width", "8", "--unfreeze"]
    )
    vit = dreamkeras.encoders.load_encoder("vit-tiny-32")
    model = training.build_model(config.model, 10, (64, 64, 3), vit)
    assert isinstance(model, dreamkeras.SleepNet)
    assert model.stem == "imagenet" and model.trainable_encoder
    assert not model.remat and not model.stop_gradient
    config = commands.run_config(
        "cifar100",
        ["--model", "dreamnet", "--blocks", "1", "--width", "8", "--remat", "--stop-gradient"],
    )
    mae = dreamkeras.encoders.load_autoencoder("mae-tiny-32")
    model = training.build_model(config.model, 10, (32, 32, 3), mae)
    assert isinstance(model, dreamkeras.DreamNet) and model.remat and model.stop_gradient
    assert model.get_layer("dream_connection_1").remat


def test_compile_classifier_follows_the_optimizer_config():
    config = commands.run_config("cifar100", ["--lr", "0.01", "--weight-decay", "0.001", "--epsilon", "1e-7"])
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(10, activation="softmax")])
    training.compile_classifier(model, config.optimizer, num_classes=10)
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.01)
    assert optimizer.weight_decay == pytest.approx(0.001) and optimizer.epsilon == 1e-7
    history = model.fit(np.ones((4, 3)), keras.utils.to_categorical([0, 1, 2, 3], 10), verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "top5_accuracy"]
    training.compile_classifier(model, config.optimizer, num_classes=4, sparse=True)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)


def test_backup_epoch_and_the_resume_line(tmp_path):
    config = commands.run_config("cifar100", ["--logdir", str(tmp_path / "logs"), "--epochs", "5"])
    assert engine.backup_epoch(config.files.backup) is None
    (tmp_path / "logs" / "backup").mkdir(parents=True)
    # A backup of Keras' BackupAndRestore: {"epoch": 2} after 2 finished epochs.
    (tmp_path / "logs" / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": 2}))
    (tmp_path / "logs" / "backup" / "latest.weights.h5").write_bytes(b"")
    assert engine.backup_epoch(config.files.backup) == 2
    lines = reporting.file_lines(config, 2)
    assert lines[-1].split() == ["resume", "resuming", "the", "interrupted", "run", "at", "epoch",
                                 "3/5", "(2", "finished,", "kept)", "from", config.files.backup]
    assert "no epoch repeated" in reporting.file_lines(config, 5)[-1]
    assert "run the same command again" in reporting.file_lines(config, None)[-1]


def test_the_report_is_written_whole(tmp_path):
    path = tmp_path / "report.json"
    reporting.write_json(str(path), {"loss": float("nan"), "steps": np.int64(3), "shape": (2, 3)})
    assert json.loads(path.read_text()) == {"loss": "nan", "steps": 3, "shape": [2, 3]}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # No temporary left.


def test_a_nan_loss_is_an_error_that_names_the_fix():
    from dreamkeras.training import TrainingSetupError
    from dreamkeras.training import check_losses_finite

    def fit(targets):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model.fit(
            np.ones((8, 2), "float32"), targets, epochs=3, batch_size=4,
            verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()],
        )

    history = fit(np.full((8, 1), np.nan, "float32"))
    assert len(history.history["loss"]) == 1  # TerminateOnNaN ended it quietly.
    with pytest.raises(TrainingSetupError, match="NaN/inf loss.*Lower --lr"):
        check_losses_finite(history, "Lower --lr.")
    check_losses_finite(fit(np.ones((8, 1), "float32")), "Lower --lr.")
