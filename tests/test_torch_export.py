"""`dreamkeras.torch_export`: frozen models run as exported torch graphs."""

import json

import keras
import numpy as np
import pytest

import dreamkeras
from apps import benchmark
from dreamkeras import torch_export
from tests.helpers import IMAGE_SHAPE
from tests.helpers import assert_bitwise_equal
from tests.helpers import random_images
from tests.helpers import snapshot
from tests.helpers import tiny_mae
from tests.helpers import tiny_roberta
from tests.helpers import tiny_vit
from tests.helpers import to_numpy

pytestmark = [
    pytest.mark.layer,
    pytest.mark.skipif(
        keras.backend.backend() != "torch", reason="torch.export is torch-only"
    ),
]


@pytest.fixture(autouse=True)
def _switch_off_after():
    yield
    torch_export.enable(False)


def exported_graphs(frozen_model):
    return torch_export.graphs_of(frozen_model).graphs


def run_both_ways(connection, inputs, training, seed_generator=None, **kwargs):
    """The connection's outputs without and with the switch, from the same
    seed state; returns (eager, exported)."""
    state = None if seed_generator is None else to_numpy(seed_generator.state)
    eager = connection(inputs, training=training, **kwargs)
    if state is not None:
        seed_generator.state.assign(state)
    with torch_export.graphs():
        exported = connection(inputs, training=training, **kwargs)
    return eager, exported


@pytest.mark.parametrize("training", [False, True])
def test_dream_connection_computes_the_same_values_exported(training):
    mae = tiny_mae(norm_pix_loss=False)
    connection = dreamkeras.DreamConnection(
        mae, mask_ratio=0.75, inference_mask_ratio=0.5, keep_visible=True, seed=2
    )
    features = np.random.default_rng(0).random((3, 8, 8, 4)).astype("float32")
    (eager_features, eager_dream), (features_out, dream) = run_both_ways(
        connection, features, training, mae.seed_generator
    )
    np.testing.assert_allclose(to_numpy(features_out), to_numpy(eager_features), atol=1e-5)
    np.testing.assert_allclose(to_numpy(dream), to_numpy(eager_dream), atol=1e-5)
    assert len(exported_graphs(mae)) == 1


@pytest.mark.parametrize("mask_ratio", [0.0, 0.5])
def test_sleep_connection_computes_the_same_values_exported(mask_ratio):
    vit = tiny_vit()
    connection = dreamkeras.SleepConnection(vit, mask_ratio=mask_ratio, seed=4)
    features = np.random.default_rng(1).random((2, 8, 8, 4)).astype("float32")
    generator = getattr(connection, "seed_generator", None)
    eager, exported = run_both_ways(connection, features, True, generator)
    np.testing.assert_allclose(to_numpy(exported), to_numpy(eager), atol=1e-5)
    assert len(exported_graphs(vit)) == 1


def test_gradients_through_the_graph_match_and_skip_the_frozen_weights():
    import torch

    mae = tiny_mae()
    connection = dreamkeras.DreamConnection(mae, mask_ratio=0.0)
    features = torch.as_tensor(
        np.random.default_rng(2).random((2, 8, 8, 4)).astype("float32")
    )
    connection(features)  # builds the adapters

    def gradients():
        for weight in connection.trainable_weights + mae.weights:
            weight.value.grad = None
        out, dream = connection(features, training=True)
        (out.square().sum() + dream.square().sum()).backward()
        return [to_numpy(w.value.grad) for w in connection.adapter_in.trainable_weights]

    eager = gradients()
    with torch_export.graphs():
        exported = gradients()
    for a, b in zip(eager, exported):
        assert np.abs(a).max() > 0
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert all(w.value.grad is None for w in mae.weights)


def test_one_graph_per_signature_shared_by_the_connections_of_a_model():
    mae = tiny_mae()
    model = dreamkeras.DreamNet(
        mae, num_classes=3, num_blocks=2, width=8, stem="cifar",
        image_shape=IMAGE_SHAPE, mask_ratio=0.5,
    )
    eager = to_numpy(model(random_images(4), training=False))
    with torch_export.graphs():
        first = to_numpy(model(random_images(4), training=False))
        again = to_numpy(model(random_images(4), training=False))
        assert len(exported_graphs(mae)) == 1  # both connections, two calls
        model(random_images(3), training=False)  # a smaller last batch
        assert len(exported_graphs(mae)) == 2
        model(random_images(4), training=True)
        assert len(exported_graphs(mae)) == 3
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, eager, atol=1e-5)


def test_graph_reads_the_frozen_weights_in_place():
    mae = tiny_mae()
    connection = dreamkeras.DreamConnection(mae)
    features = np.random.default_rng(3).random((2, 8, 8, 4)).astype("float32")
    with torch_export.graphs():
        before = to_numpy(connection(features)[1])
        kernel = mae.decoder.head.kernel
        kernel.assign(to_numpy(kernel) * 2.0)
        after = to_numpy(connection(features)[1])
    assert len(exported_graphs(mae)) == 1
    np.testing.assert_allclose(after, to_numpy(connection(features)[1]), atol=1e-5)
    assert not np.allclose(after, before)


def test_unfrozen_or_recomputed_models_run_as_keras_layers():
    mae = tiny_mae()
    features = np.random.default_rng(4).random((2, 8, 8, 4)).astype("float32")
    with torch_export.graphs():
        dreamkeras.DreamConnection(mae, trainable_encoder=True)(features, training=True)
        dreamkeras.DreamConnection(mae, remat=True)(features, training=True)
    assert not exported_graphs(mae)


def test_dreamnet_trains_with_the_switch_and_reloads(tmp_path):
    mae = tiny_mae()
    model = dreamkeras.DreamNet(
        mae, num_classes=3, num_blocks=2, width=8, stem="cifar",
        image_shape=IMAGE_SHAPE, mask_ratio=0.75,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy")
    images = random_images(8)
    labels = np.arange(8) % 3
    frozen_before = snapshot(mae.weights)
    with torch_export.graphs():
        history = model.fit(images, labels, epochs=3, batch_size=4, verbose=0)
        predicted = model.predict(images, verbose=0)
    assert exported_graphs(mae)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert_bitwise_equal(frozen_before, mae.weights)
    path = tmp_path / "dreamnet.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), predicted, atol=1e-5)


def test_benchmark_records_the_switch_and_leaves_it_as_it_was(tmp_path, capsys):
    output = tmp_path / "bench.json"
    benchmark.main(
        [
            "--backend=torch", "--model=dreamnet", "--blocks=2", "--encoder=mae-tiny-32",
            "--width=8", "--stem=cifar", "--mask-ratio=0.5", "--batch-size=2",
            "--steps=2", "--warmup=1", "--torch-export", f"--output={output}",
        ]
    )
    assert ", torch.export frozen models" in capsys.readouterr().out
    saved = json.loads(output.read_text())
    assert saved["torch_export"] and not saved["jit_compile"]
    assert saved["train_images_per_second"] > 0 and saved["inference_images_per_second"] > 0
    assert not torch_export.enabled()


def text_inputs():
    import torch

    hidden = np.random.default_rng(5).random((2, 6, 4)).astype("float32")
    mask = np.ones((2, 6), "int32")
    mask[1, 4:] = 0
    return torch.as_tensor(hidden), mask


@pytest.mark.parametrize("token_mode", ["straight_through", "argmax"])
def test_text_sleep_connection_computes_the_same_values_and_gradients(token_mode):
    backbone = tiny_roberta()
    connection = dreamkeras.layers.TextSleepConnection(backbone, token_mode=token_mode)
    hidden, mask = text_inputs()
    connection(hidden, padding_mask=mask)

    def outputs_and_gradients():
        for weight in connection.trainable_weights + backbone.weights:
            weight.value.grad = None
        out = connection(hidden, padding_mask=mask, training=True)
        out.square().sum().backward()
        grads = [w.value.grad for w in connection.to_vocabulary.trainable_weights]
        return to_numpy(out), [to_numpy(g) for g in grads if g is not None]

    eager, eager_grads = outputs_and_gradients()
    with torch_export.graphs():
        exported, exported_grads = outputs_and_gradients()
    np.testing.assert_allclose(exported, eager, atol=1e-5)
    assert len(exported_grads) == len(eager_grads)
    assert (len(eager_grads) > 0) == (token_mode == "straight_through")
    for a, b in zip(eager_grads, exported_grads):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert all(w.value.grad is None for w in backbone.weights)
    assert len(exported_graphs(backbone)) == 1


def test_text_dream_connection_computes_the_same_dreams():
    masked_lm = tiny_roberta(masked_lm=True)
    connection = dreamkeras.layers.TextDreamConnection(masked_lm)
    hidden, mask = text_inputs()
    eager_features, eager_dream = connection(hidden, padding_mask=mask)
    with torch_export.graphs():
        features, dream = connection(hidden, padding_mask=mask)
    np.testing.assert_allclose(to_numpy(features), to_numpy(eager_features), atol=1e-5)
    np.testing.assert_array_equal(
        to_numpy(dream["token_ids"]), to_numpy(eager_dream["token_ids"])
    )
    assert len(exported_graphs(masked_lm.backbone)) == 1


def test_a_pass_that_cannot_be_exported_runs_as_layers_and_says_so(caplog):
    import torch

    owner = keras.layers.Dense(2)
    owner.build((None, 3))
    x = torch.ones((2, 3))

    def data_dependent(tensor):  # Python branching on a value: not exportable
        return owner(tensor) if float(tensor.sum()) > 0 else tensor

    with torch_export.graphs(), caplog.at_level("WARNING", logger="dreamkeras"):
        first = torch_export.run(owner, data_dependent, (x,))
        second = torch_export.run(owner, data_dependent, (x,))
    np.testing.assert_allclose(to_numpy(first), to_numpy(owner(x)), atol=1e-6)
    np.testing.assert_allclose(to_numpy(second), to_numpy(first))
    warnings = [r for r in caplog.records if "could not export" in r.getMessage()]
    assert len(warnings) == 1  # once per signature
