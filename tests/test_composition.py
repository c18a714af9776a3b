"""Connections in models of one's own: shared frozen models reload once.

The reload matrix of the composable core: every kind of graph a user builds
with connections (their own functional model, a Sequential chain, a KerasHub
ResNetBackbone through `add_connections`, a subclassed model, text chains)
saves and reloads with `keras.saving.load_model` with the same predictions,
the frozen model stored once and loaded as one object, still frozen.
"""

import os

import keras
import keras_hub
import numpy as np
import pytest

import dreamkeras
from tests.helpers import check_reload
from tests.helpers import frozen_objects
from tests.helpers import random_images
from tests.helpers import random_labels
from tests.helpers import tiny_mae
from tests.helpers import tiny_vit
from tests.helpers import to_numpy

pytestmark = pytest.mark.saving
IMAGE_SHAPE = (32, 32, 3)


def tiny_resnet(num_stages=2, image_shape=IMAGE_SHAPE):
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256][:num_stages],
        stackwise_num_blocks=[1, 1, 1][:num_stages],
        stackwise_num_strides=[1, 2, 2][:num_stages],
        block_type="basic_block",
        image_shape=image_shape,
    )


def user_functional(frozen_model):
    """A user's own CNN with two connections wired by hand."""
    inputs = keras.Input(IMAGE_SHAPE)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv_a")(inputs)
    for name in ("conv_b", "conv_c"):
        stage = keras.layers.Conv2D(8, 3, padding="same", name=name)
        if dreamkeras.layers.encoder_spec.is_autoencoder(frozen_model):
            connection = dreamkeras.DreamConnection(frozen_model)
            features, _ = connection(x)
        else:
            features = dreamkeras.SleepConnection(frozen_model)(x)
        x = keras.layers.Add()([stage(x), features])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))


def user_sequential_chain(frozen_model):
    """A Sequential chain, wired by `interleave_connections`."""
    chain = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Conv2D(8, 3, padding="same"),
            keras.layers.Conv2D(8, 3, padding="same"),
        ]
    )
    inputs = keras.Input(IMAGE_SHAPE)
    x, _ = dreamkeras.models.interleave_connections(
        inputs,
        chain.layers,
        lambda m, shape: dreamkeras.SleepConnection(
            frozen_model, output_channels=shape[-1]
        ),
    )
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))


@keras.saving.register_keras_serializable(package="dreamkeras_tests")
class TwoConnectionNet(keras.Model):
    """A subclassed model that holds its own connections."""

    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.convs = [keras.layers.Conv2D(8, 3, padding="same") for _ in range(2)]
        self.connections = [
            dreamkeras.SleepConnection(encoder, output_channels=8) for _ in range(2)
        ]
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(4, activation="softmax")

    def call(self, images, training=None):
        x = images
        for conv, connection in zip(self.convs, self.connections):
            x = conv(x) + connection(x, training=training)
        return self.head(self.pool(x))

    def get_config(self):
        config = super().get_config()
        config["encoder"] = keras.layers.serialize(self.encoder)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.layers.deserialize(config.pop("encoder"))
        return cls(**config)


def resnet_sleep(frozen_model):
    return dreamkeras.add_connections(
        tiny_resnet(), frozen_model, after=["P2", "P3"], num_classes=4
    )


def resnet_dream(frozen_model):
    return dreamkeras.add_connections(
        tiny_resnet(), frozen_model, after=["P2", "P3"], num_classes=4
    )


def functional_cnn_via_add_connections(frozen_model):
    inputs = keras.Input(IMAGE_SHAPE)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="block_1")(x)
    x = keras.layers.MaxPooling2D(name="pool_1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="block_2")(x)
    cnn = keras.Model(inputs, x)
    return dreamkeras.add_connections(
        cnn, frozen_model, after=["block_1", "block_2"], start="stem", num_classes=4
    )


def sequential_cnn_via_add_connections(frozen_model):
    cnn = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Conv2D(8, 3, padding="same", name="block_1"),
            keras.layers.Conv2D(8, 3, strides=2, padding="same", name="block_2"),
        ]
    )
    return dreamkeras.add_connections(
        cnn, frozen_model, after=["block_1", "block_2"], num_classes=4
    )


def sleepnet_on_keras_hub_resnet(frozen_model):
    return dreamkeras.SleepNet(
        frozen_model, num_classes=4, num_blocks=2, image_shape=IMAGE_SHAPE,
        width=64, stem="imagenet",
    )


BUILDERS = {
    "functional-sleep": (user_functional, tiny_vit),
    "functional-dream": (user_functional, tiny_mae),
    "sequential-interleave": (user_sequential_chain, tiny_vit),
    "subclassed": (TwoConnectionNet, tiny_vit),
    "add-resnet-sleep": (resnet_sleep, tiny_vit),
    "add-resnet-dream": (resnet_dream, tiny_mae),
    "add-functional-cnn": (functional_cnn_via_add_connections, tiny_vit),
    "add-sequential-cnn": (sequential_cnn_via_add_connections, tiny_mae),
    "sleepnet-keras-hub-chain": (sleepnet_on_keras_hub_resnet, tiny_vit),
}


# The default suite reloads one model of each family (a user's functional
# model, a subclassed one, connections added to a KerasHub ResNet and (with an
# MAE, dreams included) to a user's Sequential); the rest of the matrix runs
# with --run_large.
DEFAULT_KINDS = ("functional-sleep", "subclassed", "add-resnet-sleep", "add-sequential-cnn")


@pytest.mark.parametrize(
    "kind",
    [
        kind if kind in DEFAULT_KINDS else pytest.param(kind, marks=pytest.mark.large)
        for kind in sorted(BUILDERS)
    ],
)
def test_shared_frozen_model_reloads_once_and_frozen(kind, tmp_path):
    build, make_frozen = BUILDERS[kind]
    model = build(make_frozen())
    check_reload(
        model, random_images(4), random_labels(4), str(tmp_path / "model.keras")
    )


def test_add_connections_to_resnet_backbone_wires_each_stage():
    resnet = tiny_resnet(num_stages=3, image_shape=(64, 64, 3))
    vit = tiny_vit()
    model = dreamkeras.add_connections(resnet, vit, after=["P2", "P3", "P4"])
    connections = [l for l in model.layers if isinstance(l, dreamkeras.SleepConnection)]
    assert [c.name for c in connections] == [f"sleep_connection_{m}" for m in (1, 2, 3)]
    # Each connection reads the previous stage's output and matches its stage.
    assert tuple(model.output.shape) == (None, 4, 4, 256)
    stem = resnet.get_layer("pool1_pool").output
    assert tuple(connections[0].input.shape) == tuple(stem.shape)
    assert [tuple(c.output.shape[1:]) for c in connections] == [
        (16, 16, 64), (8, 8, 128), (4, 4, 256)
    ]
    # The chain's layers are reused: a pretrained chain stays pretrained.
    assert model.get_layer("conv1_conv") is resnet.get_layer("conv1_conv")


def test_add_connections_values_are_stage_plus_connection():
    inputs = keras.Input(IMAGE_SHAPE)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="block")(x)
    cnn = keras.Model(inputs, x)
    model = dreamkeras.add_connections(cnn, tiny_vit(), after=["block"], start="stem")
    images = random_images(2)
    stem_out = cnn.get_layer("stem")(images)
    connection = model.get_layer("sleep_connection_1")
    expected = cnn.get_layer("block")(stem_out) + connection(stem_out)
    np.testing.assert_allclose(
        model.predict(images, verbose=0), to_numpy(expected), atol=1e-5
    )


def test_add_connections_rejects_unknown_and_misordered_points():
    resnet = tiny_resnet()
    with pytest.raises(ValueError, match="neither a layer nor a pyramid level"):
        dreamkeras.add_connections(resnet, tiny_vit(), after=["P9"])
    with pytest.raises(ValueError, match="must follow the chain"):
        dreamkeras.add_connections(resnet, tiny_vit(), after=["P3", "P2"])


def test_add_connections_refuses_a_subclassed_model():
    model = TwoConnectionNet(tiny_vit())
    with pytest.raises(ValueError, match="subclassed model with no graph"):
        dreamkeras.add_connections(model, tiny_vit(), after=["conv"])


def test_predict_after_a_wrong_shape_keeps_working():
    model = sleepnet_on_keras_hub_resnet(tiny_vit())
    images = random_images(2)
    expected = model.predict(images, verbose=0)
    with pytest.raises(ValueError, match=r"expects inputs of shape .*32, 32, 3.* 40, 40"):
        model.predict(np.zeros((2, 40, 40, 3), "float32"), verbose=0)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-6)


def test_failed_predict_leaves_the_variables_usable():
    # A failure the shape check cannot see: the variables must survive it.
    model = sequential_cnn_via_add_connections(tiny_mae())
    images = random_images(2)
    expected = model.predict(images, verbose=0)

    def broken_batches():
        yield images
        raise RuntimeError("broken data")

    with pytest.raises(RuntimeError, match="broken data"):
        model.predict(broken_batches(), verbose=0, steps=3)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-6)


# === Text chains ===
VOCABULARY = 40
LENGTH = 12


def tiny_roberta_backbone():
    return keras_hub.models.RobertaBackbone(
        vocabulary_size=VOCABULARY, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=16,
    )


def tiny_roberta_masked_lm():
    return keras_hub.models.RobertaMaskedLM(
        backbone=tiny_roberta_backbone(), preprocessor=None
    )


def text_batch(n=4):
    rng = np.random.default_rng(0)
    token_ids = rng.integers(3, VOCABULARY, (n, LENGTH)).astype("int32")
    padding_mask = np.ones((n, LENGTH), "int32")
    padding_mask[0, 8:] = 0
    token_ids[0, 8:] = 1
    return {"token_ids": token_ids, "padding_mask": padding_mask}


def text_inputs():
    return {
        "token_ids": keras.Input((LENGTH,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input((LENGTH,), dtype="int32", name="padding_mask"),
    }


def lstm_chain():
    inputs = text_inputs()
    mask = inputs["padding_mask"]
    x = keras.layers.Embedding(VOCABULARY, 16, name="embedding")(inputs["token_ids"])
    x = dreamkeras.layers.LSTMBlock(16, name="block_1")(x, padding_mask=mask)
    x = dreamkeras.layers.LSTMBlock(16, name="block_2")(x, padding_mask=mask)
    return keras.Model(inputs, x), ["block_1", "block_2"]


def textcnn_chain():
    inputs = text_inputs()
    x = keras.layers.Embedding(VOCABULARY, 16, name="embedding")(inputs["token_ids"])
    x = keras.layers.Conv1D(16, 3, padding="same", activation="relu", name="conv_1")(x)
    x = keras.layers.Conv1D(24, 5, padding="same", activation="relu", name="conv_2")(x)
    return keras.Model(inputs, x), ["conv_1", "conv_2"]


def charcnn_chain():
    """A small CharCNN: convolutions and pooling shorten the sequence."""
    inputs = text_inputs()
    x = keras.layers.Embedding(VOCABULARY, 16, name="embedding")(inputs["token_ids"])
    x = keras.layers.Conv1D(16, 3, padding="same", activation="relu", name="conv_1")(x)
    x = keras.layers.MaxPooling1D(2, name="pool_1")(x)
    x = keras.layers.Conv1D(16, 3, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.MaxPooling1D(3, name="pool_2")(x)
    return keras.Model(inputs, x), ["pool_1", "pool_2"]


TEXT_CHAINS = {"lstm": lstm_chain, "textcnn": textcnn_chain, "charcnn": charcnn_chain}
TEXT_FROZEN = {"sleep": tiny_roberta_backbone, "dream": tiny_roberta_masked_lm}


DEFAULT_TEXT_KINDS = (("lstm", "sleep"), ("textcnn", "dream"), ("charcnn", "sleep"))


@pytest.mark.parametrize(
    "chain,frozen",
    [
        pair if pair in DEFAULT_TEXT_KINDS else pytest.param(*pair, marks=pytest.mark.large)
        for pair in [(c, f) for c in sorted(TEXT_CHAINS) for f in sorted(TEXT_FROZEN)]
    ],
)
def test_text_chains_take_connections_and_reload(chain, frozen, tmp_path):
    model, points = TEXT_CHAINS[chain]()
    connected = dreamkeras.add_connections(
        model, TEXT_FROZEN[frozen](), after=points, start="embedding", num_classes=3
    )
    kind = {"sleep": dreamkeras.layers.TextSleepConnection,
            "dream": dreamkeras.layers.TextDreamConnection}[frozen]
    connections = [l for l in connected.layers if isinstance(l, kind)]
    assert len(connections) == 2
    for connection, point in zip(connections, points):
        stage = model.get_layer(point).output
        merge = connected.get_layer(f"text_{frozen}_merge_{connections.index(connection) + 1}")
        assert tuple(merge.output.shape) == tuple(stage.shape)
    check_reload(
        connected, text_batch(), np.array([0, 1, 2, 0]), str(tmp_path / "t.keras")
    )


def test_chains_from_a_resnet_preset_folder(tmp_path):
    # A pretrained chain as users get it: a KerasHub preset folder (built for
    # any image size), connected at a fixed size.
    preset = str(tmp_path / "resnet_preset")
    tiny_resnet(num_stages=3, image_shape=(None, None, 3)).save_to_preset(preset)
    resnet = keras_hub.models.ResNetBackbone.from_preset(preset)
    vit = tiny_vit()
    model = dreamkeras.add_connections(
        resnet, vit, after=["P2", "P3"], input_shape=IMAGE_SHAPE, num_classes=4
    )
    assert tuple(model.output.shape) == (None, 4)
    # The first two stages only: the graph ends at P3 plus the head.
    sleepnet = dreamkeras.SleepNet(
        vit, num_classes=4, num_blocks=2, chain=resnet, image_shape=IMAGE_SHAPE
    )
    assert sleepnet.chain_source == "keras_hub"
    assert sleepnet.get_layer("conv1_conv") is resnet.get_layer("conv1_conv")
    assert "stack2_block0_1_conv" not in [layer.name for layer in sleepnet.layers]
    fresh = keras_hub.models.ResNetBackbone.from_preset(preset)
    np.testing.assert_array_equal(  # the preset's weights are the chain's
        keras.ops.convert_to_numpy(sleepnet.get_layer("conv1_conv").kernel),
        keras.ops.convert_to_numpy(fresh.get_layer("conv1_conv").kernel),
    )


DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.mark.parametrize("name", ["functional_sleep", "add_sequential_cnn"])
def test_models_saved_on_jax_load_on_this_backend(name):
    # CI runs this file on JAX, TensorFlow and PyTorch: a cross-backend reload.
    data = np.load(f"{DATA}/jax_predictions.npz")
    model = keras.saving.load_model(f"{DATA}/jax_{name}.keras")
    np.testing.assert_allclose(
        model.predict(data["images"], verbose=0), data[name], atol=1e-5
    )
    (frozen,) = frozen_objects(model)
    assert not frozen.trainable_weights


@pytest.mark.parametrize("kind", ["sleepnet", "dreamnet", "baseline"])
def test_models_saved_by_the_previous_version_still_load(kind):
    # Saved (on JAX) before KerasHub chains and the XLA:CPU switch existed.
    data = np.load(f"{DATA}/legacy_predictions.npz")
    model = keras.saving.load_model(f"{DATA}/legacy_{kind}.keras")
    np.testing.assert_allclose(
        model.predict(data["images"], verbose=0), data[kind], atol=1e-5
    )
    assert model.chain_source == "dreamkeras" and model.xla_cpu_kernels
