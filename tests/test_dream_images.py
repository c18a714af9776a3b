"""dream_grid, DreamImagesCallback and the apps/dream.py command line."""

import glob
import os

import keras
import numpy as np
import pytest

import dreamkeras
from dreamkeras.dreams.images import DreamImagesCallback
from dreamkeras.dreams.images import dream_grid

SIZE = 32
PAD = 2


def _tiny_mae():
    return dreamkeras.MAEAutoencoder(
        image_shape=(SIZE, SIZE, 3), patch_size=8, num_layers=1, num_heads=2,
        hidden_dim=16, mlp_dim=32, decoder_num_layers=1, decoder_num_heads=2,
        decoder_hidden_dim=16, decoder_mlp_dim=32, seed=0,
    )


def _tiny_dreamnet(image_size=SIZE):
    keras.utils.set_random_seed(0)
    return dreamkeras.DreamNet(
        _tiny_mae(), num_classes=3, num_blocks=2, width=8, stem="cifar",
        image_shape=(image_size, image_size, 3),
    )


@pytest.fixture(scope="module")
def model():
    return _tiny_dreamnet()


def _images(n=3, size=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(
        "float32"
    )


def _rescaled(image):
    image = keras.ops.convert_to_numpy(image).astype("float64")
    return np.round((image - image.min()) / (image.max() - image.min()) * 255)


def _tile(grid, row, col, size=SIZE):
    top, left = PAD + row * (size + PAD), PAD + col * (size + PAD)
    return grid[top : top + size, left : left + size].astype("float64")


def test_grid_layout_and_pixels(model, tmp_path):
    images = _images()
    path = str(tmp_path / "grid.png")
    grid = dream_grid(model, images, path=path)

    # 3 rows; original + 2 dreams per row, 2-pixel white padding.
    assert grid.shape == (3 * (SIZE + PAD) + PAD, 3 * (SIZE + PAD) + PAD, 3)
    assert grid.dtype == np.uint8
    assert (grid[:PAD] == 255).all() and (grid[:, :PAD] == 255).all()
    for row in range(3):
        np.testing.assert_allclose(_tile(grid, row, 0), _rescaled(images[row]), atol=1)
        for col in range(3):
            tile = _tile(grid, row, col)
            assert tile.min() == 0 and tile.max() == 255  # Per-image rescaling.

    from PIL import Image

    with Image.open(path) as saved:
        np.testing.assert_array_equal(np.asarray(saved), grid)


def test_first_dream_matches_the_autoencoder(model):
    """Column 1 is the first connection's reconstruction, recomputed here from
    the connection's parts: MAE.reconstruct(adapter_in(h_0))."""
    images = _images(n=2, seed=1)
    grid = dream_grid(model, images)
    stem = keras.Model(model.input, model.get_layer("stem_relu").output)
    connection = model.get_layer("dream_connection_1")
    dreams = model.autoencoder.reconstruct(connection.adapter_in(stem(images)))
    for row in range(2):
        np.testing.assert_allclose(
            _tile(grid, row, 1), _rescaled(dreams[row]), atol=1
        )
    # The second connection dreams something else.
    assert np.abs(_tile(grid, 0, 2) - _tile(grid, 0, 1)).max() > 10


def test_dreams_at_another_size_are_resized():
    small = _tiny_dreamnet(image_size=16)  # Inputs 16x16, dreams 32x32.
    grid = dream_grid(small, _images(n=1, size=16))
    assert grid.shape == (16 + 2 * PAD, 3 * (16 + PAD) + PAD, 3)


def test_bad_inputs(model):
    with pytest.raises(ValueError, match="model takes"):
        dream_grid(model, _images(size=16))
    with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
        dream_grid(model, _images()[0])
    chain = dreamkeras.ChainClassifier(
        num_classes=3, num_blocks=1, width=8, stem="cifar", image_shape=(SIZE, SIZE, 3)
    )
    with pytest.raises(ValueError, match="no dream connections"):
        dream_grid(chain, _images())
    with pytest.raises(ValueError, match="every_n_epochs"):
        DreamImagesCallback(_images(), "logs", every_n_epochs=0)


def _read_image_summaries(log_dir):
    import tensorflow as tf

    found = []
    for path in glob.glob(os.path.join(log_dir, "dreams", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                png = value.tensor.string_val[2]
                found.append((value.tag, event.step, tf.io.decode_png(png).numpy()))
    return found


def test_callback_writes_tensorboard_images(model, tmp_path):
    images = _images(n=2, seed=2)
    log_dir = str(tmp_path / "logs")
    callback = DreamImagesCallback(images, log_dir, every_n_epochs=2)
    callback.set_model(model)
    for epoch in range(3):
        callback.on_epoch_end(epoch)
    callback.on_train_end()

    summaries = _read_image_summaries(log_dir)
    assert [(tag, step) for tag, step, _ in summaries] == [("dreams", 1)]
    np.testing.assert_array_equal(summaries[0][2], dream_grid(model, images))


@pytest.mark.large
def test_callback_during_fit(tmp_path):
    model = _tiny_dreamnet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = _images(n=2, seed=2)
    log_dir = str(tmp_path / "logs")
    callback = DreamImagesCallback(images, log_dir, every_n_epochs=2)
    x, y = _images(n=4, seed=3) / 255.0, np.array([0, 1, 2, 0])
    model.fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[callback])

    summaries = _read_image_summaries(log_dir)
    assert [(tag, step) for tag, step, _ in summaries] == [("dreams", 1)]
    # Written after the last epoch (epoch index 1): the final model's grid.
    np.testing.assert_array_equal(summaries[0][2], dream_grid(model, images))


def test_app_draws_a_saved_dreamnet(model, tmp_path, capsys):
    from PIL import Image

    from apps import dream

    model_path = str(tmp_path / "dreamnet.keras")
    model.save(model_path)

    folder = tmp_path / "photos"
    folder.mkdir()
    images = _images(n=3, seed=4).astype("uint8")
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    output = str(tmp_path / "out" / "grid.png")
    assert dream.main(
        ["--model", model_path, "--images", str(folder), "--output", output,
         "--num-images", "2", "--rescale", "1"]
    ) == 0
    grid = np.asarray(Image.open(output))
    assert grid.shape == (2 * (SIZE + PAD) + PAD, 3 * (SIZE + PAD) + PAD, 3)
    np.testing.assert_allclose(_tile(grid, 1, 0), _rescaled(images[1]), atol=1)
    np.testing.assert_array_equal(grid, dream_grid(model, images[:2].astype("float32")))
    assert "2 rows" in capsys.readouterr().out

    npy = str(tmp_path / "images.npy")
    np.save(npy, images.astype("float32"))
    assert dream.main(["--model", model_path, "--images", npy, "--output", output]) == 0
    assert np.asarray(Image.open(output)).shape[0] == 3 * (SIZE + PAD) + PAD

    empty = tmp_path / "empty"
    empty.mkdir()
    assert dream.main(["--model", model_path, "--images", str(empty), "--output", output]) == 2
    assert "No image files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dream.main(["--model", model_path, "--images", npy, "--num-images", "0"])
