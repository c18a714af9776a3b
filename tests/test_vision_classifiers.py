import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras.utils.precision import unsupported_policy_reason
from tests.helpers import IMAGE_SHAPE
from tests.helpers import assert_bitwise_equal
from tests.helpers import assert_some_changed
from tests.helpers import random_images
from tests.helpers import random_labels
from tests.helpers import run_serialization_test
from tests.helpers import snapshot
from tests.helpers import tiny_classifier
from tests.helpers import tiny_mae
from tests.helpers import tiny_vit
from tests.helpers import to_numpy

KINDS = ["sleepnet", "dreamnet", "baseline"]


def frozen_model_of(model):
    if isinstance(model, dreamkeras.SleepNet):
        return model.encoder
    if isinstance(model, dreamkeras.DreamNet):
        return model.autoencoder
    return None


def compile_model(model, lr=1e-2):
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_blocks", [1, 4])
def test_output_is_a_float32_distribution(kind, num_blocks):
    model = tiny_classifier(kind, num_blocks=num_blocks)
    probs = model.predict(random_images(3), verbose=0)
    assert probs.shape == (3, 4)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    connections = [l for l in model.layers if "connection" in l.name]
    assert len(connections) == (0 if kind == "baseline" else num_blocks)


def test_chain_depths_and_bottleneck():
    # resnet34 stage 1 has 3 blocks, resnet50 uses 4x wider bottleneck outputs.
    model = tiny_classifier("baseline", num_blocks=2, chain="resnet34")
    assert len(model.get_layer("stage_1").layers) == 3
    assert len(model.get_layer("stage_2").layers) == 4
    model = tiny_classifier("sleepnet", num_blocks=2, chain="resnet50")
    assert model.get_layer("stage_2").output.shape[-1] == 8 * 2 * 4
    assert model.get_layer("sleep_connection_2").output.shape[-1] == 64


def test_imagenet_stem_and_larger_input():
    model = tiny_classifier(
        "dreamnet", num_blocks=2, stem="imagenet", image_shape=(64, 64, 3)
    )
    # 64 -> stem /4 -> 16, stage 2 -> 8.
    assert tuple(model.get_layer("stage_2").output.shape[1:3]) == (8, 8)
    assert model.predict(random_images(2, (64, 64, 3)), verbose=0).shape == (2, 4)


def test_grayscale_input_is_adapted_to_the_encoder():
    model = tiny_classifier("sleepnet", image_shape=(32, 32, 1))
    assert model.predict(random_images(2, (32, 32, 1)), verbose=0).shape == (2, 4)


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_one_shared_frozen_encoder(kind):
    model = tiny_classifier(kind, num_blocks=3)
    frozen = frozen_model_of(model)
    connections = [l for l in model.layers if "connection" in l.name]
    attribute = "encoder" if kind == "sleepnet" else "autoencoder"
    assert all(getattr(c, attribute) is frozen for c in connections)
    frozen_ids = {id(v) for v in frozen.weights}
    in_model = [id(v) for v in model.weights if id(v) in frozen_ids]
    assert sorted(in_model) == sorted(frozen_ids)
    assert not frozen_ids & {id(v) for v in model.trainable_weights}


@pytest.mark.parametrize("kind", KINDS)
def test_fit_trains_the_chain_and_adapters_only(kind):
    model = compile_model(tiny_classifier(kind))
    frozen = frozen_model_of(model)
    frozen_before = snapshot(frozen.weights) if frozen else []
    trainable_before = snapshot(model.trainable_weights)
    num_trainable = len(model.trainable_weights)
    model.fit(random_images(8), random_labels(8), epochs=1, batch_size=4, verbose=0)
    if frozen:
        assert_bitwise_equal(frozen_before, frozen.weights)
        adapter = model.get_layer(f"{kind[:-3]}_connection_1").adapter_in
        assert all(
            id(v) in {id(w) for w in model.trainable_weights} for v in adapter.weights
        )
    assert len(model.trainable_weights) == num_trainable
    assert_some_changed(trainable_before, model.trainable_weights)


def test_adapters_and_dream_block_receive_gradients():
    model = compile_model(tiny_classifier("dreamnet"))
    layers = [
        model.get_layer("dream_connection_1").adapter_in,
        model.get_layer("dream_connection_2").adapter_out,
        model.get_layer("dream_block_1"),
        model.get_layer("stage_1"),
    ]
    before = [snapshot(l.trainable_weights) for l in layers]
    model.fit(random_images(8), random_labels(8), epochs=1, batch_size=4, verbose=0)
    for layer, weights in zip(layers, before):
        assert_some_changed(weights, layer.trainable_weights)


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_stop_gradient_stops_every_path_through_the_frozen_model(kind):
    # DreamNet's dreams feed the parallel block: they must not carry
    # gradients back through the autoencoder to adapter_in either.
    model = compile_model(tiny_classifier(kind, stop_gradient=True))
    prefix = "sleep" if kind == "sleepnet" else "dream"
    connection = model.get_layer(f"{prefix}_connection_2")
    adapter_in = snapshot(connection.adapter_in.weights)
    adapter_out = snapshot(connection.adapter_out.trainable_weights)
    model.fit(random_images(8), random_labels(8), epochs=2, batch_size=4, verbose=0)
    assert_bitwise_equal(adapter_in, connection.adapter_in.weights)
    assert_some_changed(adapter_out, connection.adapter_out.trainable_weights)


def test_unfrozen_encoder_trains():
    model = compile_model(tiny_classifier("sleepnet", trainable_encoder=True))
    before = snapshot(model.encoder.weights)
    model.fit(random_images(8), random_labels(8), epochs=1, batch_size=4, verbose=0)
    assert_some_changed(before, model.encoder.weights)


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_masking_trains_and_predicts_deterministically(kind):
    model = compile_model(tiny_classifier(kind, mask_ratio=0.75))
    images = random_images(8)
    history = model.fit(images, random_labels(8), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    np.testing.assert_array_equal(
        model.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def test_pooled_projection_builds_and_trains():
    model = compile_model(tiny_classifier("sleepnet", projection="pooled"))
    history = model.fit(random_images(8), random_labels(8), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    model = tiny_classifier(kind, num_blocks=2, dropout=0.1)
    revived = run_serialization_test(model)
    assert len(revived.trainable_weights) == len(model.trainable_weights)
    assert revived.count_params() == model.count_params()


def test_learns_a_separable_task():
    # Class = which image half is brighter: a chain with a frozen encoder
    # must fit it well above chance.
    rng = np.random.default_rng(0)
    images = rng.random((64,) + IMAGE_SHAPE).astype("float32") * 0.2
    labels = rng.integers(0, 2, 64)
    images[labels == 0, :16] += 0.8
    images[labels == 1, 16:] += 0.8
    model = compile_model(tiny_classifier("sleepnet", num_classes=2), lr=3e-3)
    history = model.fit(images, labels, epochs=5, batch_size=16, verbose=0)
    # Training-mode accuracy: 20 steps are too few for BatchNorm's moving
    # statistics (momentum 0.99) to make inference-mode figures meaningful.
    assert history.history["accuracy"][-1] > 0.9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_blocks=0), "num_blocks"),
        (dict(num_blocks=5), "num_blocks"),
        (dict(num_classes=1), "num_classes"),
        (dict(chain="resnet101"), "chain"),
        (dict(stem="vit"), "stem"),
        (dict(image_shape=(32, 32)), "image_shape"),
        (dict(image_shape=(None, None, 3)), "image_shape"),
        # 8x8 images through the 4x imagenet stem leave 1x1 maps by stage 3.
        (dict(image_shape=(8, 8, 3), stem="imagenet", num_blocks=3), "feature map"),
    ],
)
def test_bad_arguments_fail_at_build_time(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_classifier("sleepnet", **kwargs)


def test_dreamnet_needs_an_autoencoder():
    with pytest.raises(ValueError, match="MAEAutoencoder"):
        dreamkeras.DreamNet(tiny_vit(), num_classes=3, image_shape=IMAGE_SHAPE)


def test_sleepnet_accepts_the_mae_encoder_half():
    mae = tiny_mae()
    model = dreamkeras.SleepNet(
        mae.encoder, num_classes=3, num_blocks=1, width=8, stem="cifar",
        image_shape=IMAGE_SHAPE,
    )
    assert model.predict(random_images(2), verbose=0).shape == (2, 3)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet"])
def test_mixed_precision_training(policy, kind):
    keras.mixed_precision.set_global_policy(policy)
    model = compile_model(tiny_classifier(kind))
    compute = policy.split("_")[1]
    connection = model.get_layer(f"{kind[:-3]}_connection_1")
    assert connection.compute_dtype == compute
    assert frozen_model_of(model).compute_dtype == compute
    assert all(v.dtype == "float32" for v in model.weights if "seed" not in v.path)
    assert model.output.dtype == "float32"
    if unsupported_policy_reason(policy):
        pytest.skip(unsupported_policy_reason(policy))
    frozen_before = snapshot(frozen_model_of(model).weights)
    history = model.fit(random_images(8), random_labels(8), epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert model.predict(random_images(2), verbose=0).dtype == np.float32
    assert_bitwise_equal(frozen_before, frozen_model_of(model).weights)
