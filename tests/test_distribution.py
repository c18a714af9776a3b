"""Scaling out: meshes on virtual CPU devices, two local processes, the flags.

The layouts run in a child process with 4 virtual CPU devices
(`--xla_force_host_platform_device_count`): JAX fixes its devices when it
starts, and this process already has one.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from dreamkeras.training import distribution as dist
from dreamkeras.training import mesh as mesh_lib
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.flags import build_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAX_ONLY = pytest.mark.skipif(keras.backend.backend() != "jax", reason="keras.distribution: jax")


def _child(script, args, env=None, timeout=900):
    environment = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", **(env or {}))
    environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", script), *args],
        env=environment, capture_output=True, text=True, timeout=timeout,
    )


def _virtual_devices(tmp_path, meshes):
    out = tmp_path / "layouts.json"
    result = _child(
        "distribution_child.py", [str(out), *meshes],
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def _check_runs(result, meshes):
    assert result["devices"] == 4
    reference = result["runs"]["none"]
    for mesh in meshes:
        run = result["runs"][mesh]
        np.testing.assert_allclose(run["losses"], reference["losses"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run["logits"], reference["logits"], rtol=1e-4, atol=1e-5)
        assert run["trainable"] == reference["trainable"]
        model_axis = mesh_lib.parse_mesh(mesh)[1]
        if model_axis == 1:
            assert run["sharded"] == {}
            continue
        sharded = run["sharded"]
        # 2 blocks x (q, k, v kernels and biases, attention output, 2 MLP kernels, 1 bias).
        assert len(sharded) == 20, sharded
        query = "vit_encoder/transformer_block_1/mha/query/kernel"
        assert sharded[query] == "P(None, 'model', None)"
        assert sharded["vit_encoder/transformer_block_2/mlp/dense_2/kernel"] == "P('model', None)"


@JAX_ONLY
def test_data_and_model_parallel_match_one_device(tmp_path):
    meshes = ["none", "2x2"]
    result = _virtual_devices(tmp_path, meshes)
    _check_runs(result, meshes[1:])
    encoders = result["encoders"]
    assert len(encoders["roberta"]) == 10, encoders["roberta"]
    assert encoders["roberta"][
        "transformer_layer_0/feedforward_intermediate_dense/kernel"
    ] == "P(None, 'model')"
    # The MAE's encoder (a ViT) and its decoder (TransformerEncoder blocks).
    assert any(path.startswith("decoder/") for path in encoders["mae"])
    assert any(path.startswith("vit_encoder/") for path in encoders["mae"])
    assert encoders["roberta_max_difference"] < 1e-4
    # A mesh that does not fit the heads: one TrainingSetupError line.
    error = result["bad_mesh_error"]
    assert error.startswith("TrainingSetupError: --mesh 2x2 splits the 3 attention heads"), error
    assert "\n" not in error


@pytest.mark.large
@JAX_ONLY
def test_all_meshes_match_one_device(tmp_path):
    meshes = ["none", "4x1", "2x2", "1x4"]
    _check_runs(_virtual_devices(tmp_path, meshes), meshes[1:])


def test_encoder_layout_map_patterns():
    mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), ["cpu:0"])
    layout_map = mesh_lib.encoder_layout_map(mesh)
    cases = {
        "vit_encoder/transformer_block_3/mha/key/kernel": (None, "model", None),
        "transformer_layer_0/self_attention_layer/attention_output/kernel": ("model", None, None),
        "vit_encoder/transformer_block_1/mlp/dense_1/bias": ("model",),
        "decoder/block_1/feedforward_output_dense/kernel": ("model", None),
    }
    for path, axes in cases.items():
        assert layout_map[path].axes == axes, path
    for path in ("vit_encoder/ln/gamma", "dense/kernel", "transformer_layer_0/"
                 "self_attention_layer/attention_output/bias"):
        assert layout_map[path] is None, path


def test_mesh_flag_and_settings(monkeypatch):
    parser = build_parser("vision")
    assert parser.parse_args(["--mesh", "2x2"]).mesh == (2, 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--mesh", "2by2"])
    with pytest.raises(ValueError, match="BATCHxMODEL"):
        mesh_lib.parse_mesh("0x4")
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert dist.multi_host_settings() is None
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    with pytest.raises(TrainingSetupError, match="--coordinator-address"):
        dist.multi_host_settings()
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "localhost:1234")
    monkeypatch.setenv("JAX_PROCESS_ID", "1")
    assert dist.multi_host_settings() == dict(
        coordinator_address="localhost:1234", num_processes=2, process_id=1
    )
    with pytest.raises(TrainingSetupError, match="--process-id"):
        dist.multi_host_settings(process_id=2)


def test_mesh_must_fit_the_devices():
    count = len(keras.distribution.list_devices())
    with pytest.raises(TrainingSetupError, match="--mesh 3x5 needs 15 devices"):
        mesh_lib.make_distribution((3, 5))
    with pytest.raises(TrainingSetupError, match="heads"):
        mesh_lib.check_divisible((1, 4), num_heads=6)
    if keras.backend.backend() == "jax":
        assert isinstance(mesh_lib.make_distribution((count, 1)), keras.distribution.DataParallel)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the torch refusal")
def test_torch_refuses_with_the_supported_way():
    from dreamkeras.training.runtime import run_scope
    from dreamkeras_cli.config import Hardware

    with pytest.raises(TrainingSetupError, match="torchrun"):
        with run_scope(Hardware(distribute=True, mesh=(1, 1)), 8):
            pass


def test_one_process_dataset_is_unchanged():
    import tensorflow as tf

    dataset = tf.data.Dataset.range(10)
    assert dist.shard_for_process(dataset, 4) == (dataset, 4, None)


def test_process_shards_of_two_processes(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(dist, "process_count", lambda: 2)
    monkeypatch.setattr(dist, "process_index", lambda: 1)
    # 10 training examples in global batches of 4: 2 whole batches.
    assert dist.process_shard(4, 10, training=True) == (2, 1, 2)
    assert dist.process_shard(4, 10) == (2, 1, None)
    assert dist.process_shard(4, -2, training=True) == (2, 1, None)
    with pytest.raises(TrainingSetupError, match="multiple of 2"):
        dist.process_shard(3, 10, training=True)
    # A held-out part keeps whole global batches: 8 of 10 examples.
    part, batch_size, shard = dist.shard_for_process(tf.data.Dataset.range(10), 4)
    assert (int(part.cardinality()), batch_size, shard) == (8, 2, (2, 1, None))
    part, batch_size, shard = dist.shard_for_process(
        tf.data.Dataset.range(10), 4, training=True
    )
    assert (int(part.cardinality()), batch_size, shard) == (10, 2, (2, 1, 2))


APP_FLAGS = ("--backend", "jax", "--fast-dev-run", "--no-randaugment", "--mixup-alpha", "0")


def _app_environment(extra=None):
    environment = dict(os.environ, JAX_PLATFORMS="cpu", **(extra or {}))
    environment.pop("KERAS_BACKEND", None)
    environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
    return environment


def _app_command(folder, *extra, app="cifar100.py", flags=APP_FLAGS, output="m.keras"):
    return [
        sys.executable, os.path.join(REPO, "apps", app), *flags,
        "--output", str(folder / output), "--logdir", str(folder / "log"), *extra,
    ]


def _two_process_app(folder, port, env=None, **app):
    """Runs an app (the cifar100 fast dev run) as two local processes (JAX CPU collectives)."""
    command = _app_command(
        folder, "--coordinator-address", f"localhost:{port}", "--num-processes", "2", **app
    )
    processes = [
        subprocess.Popen(
            command + ["--process-id", str(index)], env=_app_environment(env), cwd=folder,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for index in range(2)
    ]
    outputs = [process.communicate(timeout=1200)[0] for process in processes]
    return [process.returncode for process in processes], outputs


def _event_files(logdir):
    return sorted(
        os.path.relpath(os.path.join(root, name), logdir)
        for root, _, names in os.walk(logdir) for name in names if "tfevents" in name
    )


@pytest.mark.large
@JAX_ONLY
def test_two_local_processes_train_and_write_once(tmp_path):
    single, double = tmp_path / "single", tmp_path / "double"
    for folder in (single, double):
        folder.mkdir()
    # The same run in one process, same global batch.
    code, output = _app_once(single)
    assert code == 0, output[-3000:]
    reference = json.loads((single / "m.json").read_text())

    codes, outputs = _two_process_app(double, 12391)
    assert codes == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    report = json.loads((double / "m.json").read_text())
    assert report["processes"] == 2 and report["devices"] == 2
    assert report["epochs_completed"] == 2
    # (a) The global batch is split, not changed: the same losses as one process.
    # (The validation losses differ: 10 validation examples, of which a
    # multi-process run drops the 2 that do not fill a global batch.)
    np.testing.assert_allclose(
        report["history"]["loss"], reference["history"]["loss"], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(report["test_loss"], reference["test_loss"], rtol=1e-4)
    assert report["reload_check"]["abs_loss_diff"] < 1e-4
    # (b) One set of outputs, written by the chief; no leftovers of the others' saves.
    assert sorted(os.listdir(double)) == sorted(os.listdir(single)), os.listdir(double)
    events = _event_files(double / "log")
    assert [os.path.dirname(path) for path in events] == ["hparams", "train", "validation"]
    assert not os.path.exists(double / "log" / "backup")  # removed by the chief
    assert "Saved" in outputs[0] and "Saved" not in outputs[1]
    assert "Process 1 of 2: the chief (process 0) wrote" in outputs[1]


def _app_once(folder, env=None, **app):
    result = subprocess.run(
        _app_command(folder, **app), env=_app_environment(env), cwd=folder,
        capture_output=True, text=True, timeout=1200,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.large
@JAX_ONLY
def test_two_local_processes_resume_after_a_kill(tmp_path):
    """Both processes killed after epoch 1's backup; rerun, they finish as one process does.

    A resumed run restarts the input pipeline (tf.data is not checkpointed),
    so its epoch 2 differs from an uninterrupted run's, in one process as in
    two: the reference is a single-process run killed at the same point.
    """
    single, killed = tmp_path / "single", tmp_path / "killed"
    single.mkdir()
    killed.mkdir()
    kill = {"DREAMKERAS_TEST_KILL_AT": "epoch_end:1"}
    code, output = _app_once(single, kill)
    assert code == -9, output[-3000:]
    code, output = _app_once(single)
    assert code == 0, output[-3000:]
    reference = json.loads((single / "m.json").read_text())

    codes, outputs = _two_process_app(killed, 12393, env=kill)
    assert codes == [-9, -9], outputs[0][-3000:] + outputs[1][-3000:]
    assert json.loads((killed / "log" / "backup" / "state.json").read_text())["epochs_done"] == 1
    codes, outputs = _two_process_app(killed, 12395)
    assert codes == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    resumed = json.loads((killed / "m.json").read_text())
    assert resumed["resumed_from_epoch"] == 1 and resumed["epochs_completed"] == 2
    assert resumed["epochs_this_process"] == 1
    np.testing.assert_allclose(
        resumed["history"]["loss"], reference["history"]["loss"], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(resumed["test_loss"], reference["test_loss"], rtol=1e-4)
    assert not os.path.exists(killed / "log" / "backup")


def _weights(path):
    import h5py

    values = {}
    with h5py.File(path) as file:
        file.visititems(
            lambda name, item: values.__setitem__(name, item[()])
            if isinstance(item, h5py.Dataset) else None
        )
    return values


def _single_and_two_processes(tmp_path, port, **app):
    """Runs an app once in one process and once as two; returns their folders and outputs."""
    single, double = tmp_path / "single", tmp_path / "double"
    for folder in (single, double):
        folder.mkdir()
    code, output = _app_once(single, **app)
    assert code == 0, output[-3000:]
    codes, outputs = _two_process_app(double, port, **app)
    assert codes == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "Saved" in outputs[0] and "Saved" not in outputs[1]
    assert "Process 1 of 2: the chief (process 0) wrote" in outputs[1]
    # One set of outputs, the chief's: the same files as one process writes.
    assert sorted(os.listdir(double)) == sorted(os.listdir(single)), os.listdir(double)
    return single, double


@pytest.mark.large
@JAX_ONLY
def test_two_local_processes_pretrain_an_mae_as_one_process(tmp_path):
    """Blocks of every global batch: the same masks, losses and preset as one process."""
    flags = ("--backend", "jax", "--fast-dev-run", "--no-flip")
    single, double = _single_and_two_processes(
        tmp_path, 12397, app="pretrain_mae.py", flags=flags, output="mae"
    )
    reference = json.loads((single / "mae.json").read_text())
    report = json.loads((double / "mae.json").read_text())
    assert report["processes"] == 2 and report["epochs_completed"] == 2
    np.testing.assert_allclose(
        report["history"]["loss"], reference["history"]["loss"], rtol=1e-5
    )
    for key in ("trained", "initial"):
        np.testing.assert_allclose(
            report["heldout_masked_loss"][key], reference["heldout_masked_loss"][key],
            rtol=1e-5,
        )
    assert sorted(os.listdir(double / "mae")) == sorted(os.listdir(single / "mae"))
    expected = _weights(single / "mae" / "model.weights.h5")
    weights = _weights(double / "mae" / "model.weights.h5")
    assert sorted(weights) == sorted(expected)
    for name, value in expected.items():
        # Collectives sum in another order: near-zero gradients differ in rounding.
        np.testing.assert_allclose(weights[name], value, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.large
@JAX_ONLY
def test_two_local_processes_pretrain_a_masked_lm(tmp_path):
    """MLM pretraining on two processes: one preset, a report of the held-out accuracy.

    The processes mask their own texts (tf.data random ops), so the losses
    are not one process's; the texts of every global batch are (a unit test
    above).
    """
    flags = ("--backend", "jax", "--fast-dev-run")
    single, double = _single_and_two_processes(
        tmp_path, 12385, app="pretrain_mlm.py", flags=flags, output="mlm"
    )
    reference = json.loads((single / "mlm.json").read_text())
    report = json.loads((double / "mlm.json").read_text())
    assert report["processes"] == 2 and report["epochs_completed"] == 2
    assert report["train_examples"] == reference["train_examples"]
    assert np.isfinite(report["history"]["loss"]).all()
    np.testing.assert_allclose(report["history"]["loss"], reference["history"]["loss"], rtol=0.05)
    assert report["heldout_masked_accuracy"]["tokens"] > 0
    assert sorted(os.listdir(double / "mlm")) == sorted(os.listdir(single / "mlm"))


@pytest.mark.large
@JAX_ONLY
def test_two_local_processes_train_a_text_dreamnet_as_one_process(tmp_path):
    """The text app on two processes: the single-process losses; one random preset."""
    flags = ("--backend", "jax", "--fast-dev-run", "--no-augment")
    single, double = _single_and_two_processes(tmp_path, 12387, app="ag_news.py", flags=flags)
    reference = json.loads((single / "m.json").read_text())
    report = json.loads((double / "m.json").read_text())
    assert report["processes"] == 2 and report["epochs_completed"] == 2
    np.testing.assert_allclose(
        report["history"]["loss"], reference["history"]["loss"], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(report["test_loss"], reference["test_loss"], rtol=1e-4)
    assert report["reload_check"]["abs_loss_diff"] < 1e-4


def test_process_parts_make_the_single_process_batches():
    """Two processes' batches of 4 side by side are one process's batches of 8, in order."""
    import tensorflow as tf

    from dreamkeras.data import build_pipeline

    images = np.arange(40 * 2 * 2 * 3, dtype="float32").reshape(40, 2, 2, 3) % 255
    labels = np.arange(40) % 5
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    options = dict(num_classes=5, image_size=(2, 2), training=True, randaugment=False,
                   mixup_alpha=0, seed=3, repeat=True)

    def batches(batch_size, shard=None, size=40):
        pipeline = build_pipeline(
            dataset.take(size), batch_size=batch_size, shard=shard, **options
        )
        return [x for x, _ in pipeline.take(10).as_numpy_iterator()]

    def order(x):
        return sorted(map(tuple, x.reshape(len(x), -1)))

    for repeat, size in ((True, 40), (False, 39)):
        options["repeat"] = repeat
        single = batches(8, size=size)
        parts = [batches(4, (2, index, size // 8), size=size) for index in range(2)]
        # Without repeat: 39 // 8 = 4 steps on both processes (one has 20 examples).
        assert len(single) == len(parts[0]) == len(parts[1]) == (10 if repeat else 4)
        for whole, first, second in zip(single, *parts):
            # Example for example, as jax.make_array_from_process_local_data
            # lays the processes' batches side by side (an MAE's random masks
            # depend on the position in the batch).
            np.testing.assert_array_equal(whole, np.concatenate([first, second]))
        assert order(single[0]) != order(single[1])


def test_masked_lm_process_parts_are_the_single_process_texts():
    """MLM pretraining: two processes' blocks of 4 texts side by side are one process's 8."""
    from dreamkeras.training.mlm_task import masked_batches

    texts = [f"text {n}" for n in range(40)]

    def preprocessor(batch):
        # Stands in for the masking: the texts, with per-text weights.
        return batch, batch, tf_ones_like(batch)

    def batches(batch_size, shard=None, repeat=False):
        pipeline = masked_batches(
            texts[:39], preprocessor, batch_size, seed=3, training=True, repeat=repeat,
            shard=shard,
        )
        return [x for x, _, _ in pipeline.take(10).as_numpy_iterator()]

    for repeat, steps in ((True, 10), (False, 4)):
        single = batches(8, repeat=repeat)
        parts = [batches(8, (2, index, 39 // 8), repeat) for index in range(2)]
        assert len(single) == len(parts[0]) == len(parts[1]) == steps
        for whole, first, second in zip(single, *parts):
            assert len(first) == len(second) == 4
            np.testing.assert_array_equal(whole, np.concatenate([first, second]))


def tf_ones_like(batch):
    import tensorflow as tf

    return tf.ones_like(batch, dtype=tf.float32)


def test_text_process_parts_make_the_single_process_batches(monkeypatch):
    """The text apps' pipelines: two processes' batches of 4 side by side are one process's 8."""
    import types

    import tensorflow as tf

    from dreamkeras.training.text_task import text_pipelines

    def preprocessor(texts, labels):
        # Token ids: the words of "<n> <n+1>" as numbers.
        words = tf.strings.split(texts).to_tensor("0", shape=[None, 2])
        return {"token_ids": tf.strings.to_number(words, tf.int32)}, labels

    def dataset(size, start=0):
        numbers = np.arange(start, start + size)
        texts = [f"{n} {n + 1}" for n in numbers]
        return tf.data.Dataset.from_tensor_slices((texts, numbers % 3))

    def pipelines(repeat, train_size, processes=1, index=0):
        monkeypatch.setattr(dist, "process_count", lambda: processes)
        monkeypatch.setattr(dist, "process_index", lambda: index)
        config = types.SimpleNamespace(
            schedule=types.SimpleNamespace(batch_size=8, seed=3,
                                           steps_per_epoch=10 if repeat else None),
            augment=types.SimpleNamespace(augment=False, rate=0.1),
            hardware=types.SimpleNamespace(distribute=True),
        )
        data = types.SimpleNamespace(
            train=dataset(train_size), train_size=train_size, eval=dataset(21, 1000),
            eval_size=21, validation=dataset(17, 2000), validation_size=17,
            num_classes=3, cache=True,
        )
        return text_pipelines(config, data, preprocessor)[:3]

    def batches(pipeline, count=10):
        return [(x["token_ids"], y) for x, y in pipeline.take(count).as_numpy_iterator()]

    def order(tokens, labels):
        return sorted(zip(map(tuple, tokens), labels))

    for repeat, size in ((True, 40), (False, 39)):
        single = [batches(p) for p in pipelines(repeat, size)]
        parts = [[batches(p) for p in pipelines(repeat, size, 2, i)] for i in range(2)]
        # Training: 10 steps, or 39 // 8 = 4 steps on both processes (one has 20
        # texts); held out: 21 -> 2 batches of 8, 17 -> 2 (drop_remainder).
        for which, steps in enumerate((10 if repeat else 4, 2, 2)):
            whole, first, second = single[which], parts[0][which], parts[1][which]
            assert len(whole) == len(first) == len(second) == steps
            for (x, y), (x0, y0), (x1, y1) in zip(whole, first, second):
                assert x.shape == (8, 2) and x0.shape == x1.shape == (4, 2)
                np.testing.assert_array_equal(x, np.concatenate([x0, x1]))
                np.testing.assert_array_equal(y, np.concatenate([y0, y1]))
                # The labels travel with their texts.
                np.testing.assert_array_equal((x0[:, 0]) % 3, y0)
        if repeat:
            # Not only the same sets: the training batches differ between steps.
            assert order(*single[0][0]) != order(*single[0][1])


def test_dream_samples_fill_whole_batches_of_the_devices(monkeypatch):
    """3 dream texts on 2 devices would not split: 4, or 2 when only 3 exist."""
    assert mesh_lib.batch_shards() == 1 and mesh_lib.sample_count(3) == 3
    monkeypatch.setattr(mesh_lib, "batch_shards", lambda: 2)
    assert mesh_lib.sample_count(3) == 4
    assert mesh_lib.sample_count(4) == 4
    assert mesh_lib.whole_device_batches(["a", "b", "c"]) == ["a", "b"]
    assert len(mesh_lib.whole_device_batches(np.zeros((1, 2)))) == 0
