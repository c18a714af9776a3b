"""The classifier heads of the vision chain models."""

import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras.encoders import load_encoder


@pytest.mark.layer
@pytest.mark.saving
@pytest.mark.parametrize("connected", [False, True], ids=["chain", "sleepnet"])
def test_dense_head_keeps_the_map_and_round_trips(tmp_path, connected):
    options = dict(num_classes=4, num_blocks=1, width=4, stem="cifar",
                   image_shape=(16, 16, 3), head="dense", head_units=8)
    if connected:
        model = dreamkeras.SleepNet(load_encoder("vit-tiny-32"), **options)
    else:
        model = dreamkeras.ChainClassifier(**options)
    hidden = model.get_layer("head_hidden")
    # Flatten of the 16x16x4 map of the first stage (stride 1): 1024 inputs.
    assert hidden.kernel.shape == (16 * 16 * 4, 8)
    assert model.output_shape == (None, 4)
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config()["head"] == "dense"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


def test_pool_head_is_the_default_and_bad_heads_are_refused():
    model = dreamkeras.ChainClassifier(num_classes=3, num_blocks=1, width=4, stem="cifar",
                                       image_shape=(8, 8, 3))
    assert model.get_layer("pool") is not None and model.head == "pool"
    with pytest.raises(ValueError, match="head"):
        dreamkeras.ChainClassifier(num_classes=3, num_blocks=1, width=4, stem="cifar",
                                   image_shape=(8, 8, 3), head="mlp")


@pytest.mark.parametrize("size, head", [(32, "dense"), (64, "pool")])
def test_auto_head_is_dense_on_small_images_only(size, head):
    model = dreamkeras.models.build_vision_classifier(
        "baseline", "vit-tiny-32", num_classes=3, image_shape=(size, size, 3),
        num_blocks=1, width=2, head="auto",
    )
    assert model.head == head
