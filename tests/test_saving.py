"""`.keras` round trips on every backend, and across backends."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import dreamkeras
from tests.helpers import assert_bitwise_equal
from tests.helpers import random_images
from tests.helpers import random_labels
from tests.helpers import snapshot
from tests.helpers import stored_values
from tests.helpers import tiny_classifier
from tests.helpers import tiny_mae
from tests.helpers import tiny_vit

pytestmark = pytest.mark.saving
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = {
    "sleepnet": dreamkeras.SleepNet,
    "dreamnet": dreamkeras.DreamNet,
    "baseline": dreamkeras.ChainClassifier,
}


def frozen_weights(model):
    frozen = getattr(model, "encoder", None) or getattr(model, "autoencoder", None)
    return frozen.weights if frozen is not None else []


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_save_and_load_round_trip(kind, tmp_path):
    model = tiny_classifier(kind, num_blocks=2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = random_images(4)
    model.fit(images, random_labels(4), epochs=1, verbose=0)
    expected = model.predict(images, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)

    restored = keras.saving.load_model(path)
    assert isinstance(restored, CLASSES[kind])
    np.testing.assert_allclose(restored.predict(images, verbose=0), expected, atol=1e-5)
    assert len(restored.trainable_weights) == len(model.trainable_weights)
    assert len(restored.weights) == len(model.weights)

    # The KerasHub pitfall: after load_model the frozen weights must not train.
    frozen_before = snapshot(frozen_weights(restored))
    trainable_before = snapshot(restored.trainable_weights)
    restored.fit(images, random_labels(4), epochs=1, verbose=0)
    assert_bitwise_equal(frozen_before, frozen_weights(restored))
    assert any(
        not np.array_equal(a, keras.ops.convert_to_numpy(b))
        for a, b in zip(trainable_before, restored.trainable_weights)
    )


def test_shared_encoder_is_stored_once(tmp_path):
    # An encoder much larger than the chain, so a duplicate would show.
    def build(num_blocks):
        encoder = tiny_vit(hidden_dim=64, mlp_dim=256)
        return dreamkeras.SleepNet(
            encoder, num_classes=4, num_blocks=num_blocks, width=8, stem="cifar",
            image_shape=(32, 32, 3),
        )

    model = build(3)
    path = str(tmp_path / "sleepnet3.keras")
    model.save(path)
    encoder_values = sum(int(np.prod(v.shape)) for v in model.encoder.weights)
    model_values = sum(int(np.prod(v.shape)) for v in model.weights)
    assert stored_values(path) == model_values
    assert encoder_values > model_values / 2
    # SleepNet-3 adds chain and adapters to SleepNet-1, not two more encoders.
    model_1 = build(1)
    path_1 = str(tmp_path / "sleepnet1.keras")
    model_1.save(path_1)
    assert stored_values(path) - stored_values(path_1) < encoder_values


def test_mae_saves_and_stays_frozen_inside_dreamnet(tmp_path):
    mae = tiny_mae()
    path = str(tmp_path / "mae.keras")
    mae.save(path)
    restored = keras.saving.load_model(path)
    assert len(restored.trainable_weights) == len(mae.trainable_weights) > 0
    model = dreamkeras.DreamNet(
        restored, num_classes=3, num_blocks=1, width=8, stem="cifar",
        image_shape=(32, 32, 3),
    )
    assert not restored.trainable_weights


LOAD_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    import dreamkeras

    data = np.load(sys.argv[2])
    model = keras.saving.load_model(sys.argv[1])
    got = model.predict(data["images"], verbose=0)
    np.testing.assert_allclose(got, data["expected"], atol=1e-5)
    assert len(model.trainable_weights) == int(data["num_trainable"])
    frozen = model.autoencoder.weights
    before = [keras.ops.convert_to_numpy(v).copy() for v in frozen]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(data["images"], np.zeros(len(got), "int32"), epochs=1, verbose=0)
    after = [keras.ops.convert_to_numpy(v) for v in frozen]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    print("LOADED_OK", keras.backend.backend())
    """
)


# Every pass of CI also loads files saved on JAX (tests/test_composition.py);
# this saves on the current backend and loads on the others in subprocesses.
@pytest.mark.large
@pytest.mark.parametrize("other", ["jax", "tensorflow", "torch"])
def test_saved_on_this_backend_loads_on_another(other, tmp_path):
    if other == keras.backend.backend():
        pytest.skip("same backend: covered by test_save_and_load_round_trip")
    model = tiny_classifier("dreamnet", num_blocks=2)
    images = random_images(3)
    path = str(tmp_path / "dreamnet.keras")
    model.save(path)
    data = str(tmp_path / "data.npz")
    np.savez(
        data,
        images=images,
        expected=model.predict(images, verbose=0),
        num_trainable=len(model.trainable_weights),
    )
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    env = dict(os.environ, KERAS_BACKEND=other, PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, str(script), path, data],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"LOADED_OK {other}" in result.stdout
