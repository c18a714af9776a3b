"""Parity of the converted Hugging Face ViT-MAE and ViT checkpoints, and loading.

The Hugging Face side runs `transformers` on PyTorch; the checkpoints are
randomly initialised tiny models written to a temporary folder (no network).
"""

import json
import os
import socket

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

import keras  # noqa: E402
import keras_hub  # noqa: E402

import dreamkeras  # noqa: E402
from dreamkeras.encoders import hf_vit_mae  # noqa: E402
from dreamkeras.encoders import load_autoencoder  # noqa: E402
from dreamkeras.encoders import load_encoder  # noqa: E402

TOLERANCE = 1e-4
TINY_MAE = dict(
    image_size=32, patch_size=8, num_channels=3, hidden_size=32,
    num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    decoder_hidden_size=32, decoder_num_hidden_layers=2,
    decoder_num_attention_heads=2, decoder_intermediate_size=64,
    mask_ratio=0.0,
)
TINY_VIT = dict(
    image_size=32, patch_size=8, num_channels=3, hidden_size=32,
    num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _randomize(model, seed=0, scale=0.1):
    """Perturbs every parameter: zero-initialised ones (mask token, decoder
    positions, biases) must also be converted to the right place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            parameter.add_(scale * noise)
    return model.eval()


def _save_mae(folder, seed=0, scale=0.1, **overrides):
    config = transformers.ViTMAEConfig(**{**TINY_MAE, **overrides})
    torch.manual_seed(seed)
    model = _randomize(transformers.ViTMAEForPreTraining(config), seed, scale)
    model.save_pretrained(folder)
    return model


def _images(batch=2, size=32, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype(
        "float32"
    )


def _nchw(images):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def _hf_mae_outputs(model, images, noise, mask_ratio):
    model.config.mask_ratio = mask_ratio
    pixels, noise = _nchw(images), torch.from_numpy(noise)
    with torch.no_grad():
        encoded = model.vit(pixels, noise=noise)
        decoded = model(pixels, noise=noise)
    return (
        encoded.last_hidden_state.numpy(),
        decoded.logits.numpy(),
        decoded.mask.numpy(),
    )


@pytest.fixture(scope="module")
def mae_checkpoint(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("hf_vit_mae"))
    return folder, _save_mae(folder)


@pytest.fixture(scope="module")
def converted(mae_checkpoint):
    folder, _ = mae_checkpoint
    return load_autoencoder(folder)


def test_encoder_and_decoder_match_transformers(mae_checkpoint, converted):
    _, hf_model = mae_checkpoint
    images = _images()
    num_patches = 16
    # Sorted noise keeps the patch order, so nothing is shuffled.
    noise = np.tile(np.arange(num_patches, dtype="float32"), (2, 1))
    hf_latent, hf_logits, _ = _hf_mae_outputs(hf_model, images, noise, 0.0)

    latent, _, mask = converted.encode(images)
    patches = converted(images)["patches"]

    assert latent.shape == hf_latent.shape == (2, 1 + num_patches, 32)
    assert np.abs(_np(latent) - hf_latent).max() <= TOLERANCE
    assert patches.shape == hf_logits.shape == (2, num_patches, 8 * 8 * 3)
    assert np.abs(_np(patches) - hf_logits).max() <= TOLERANCE
    assert not _np(mask).any()


def test_masked_forward_matches_transformers_with_same_noise(
    mae_checkpoint, converted
):
    _, hf_model = mae_checkpoint
    images = _images(seed=1)
    noise = np.random.default_rng(2).random((2, 16)).astype("float32")
    hf_latent, hf_logits, hf_mask = _hf_mae_outputs(hf_model, images, noise, 0.75)

    latent, ids_restore, mask = converted.encode(images, 0.75, noise=noise)
    patches = converted.decoder(latent, ids_restore)

    assert latent.shape == hf_latent.shape == (2, 1 + 4, 32)
    np.testing.assert_array_equal(_np(mask), hf_mask)
    assert np.abs(_np(latent) - hf_latent).max() <= TOLERANCE
    assert np.abs(_np(patches) - hf_logits).max() <= TOLERANCE


def test_converted_config_follows_checkpoint(mae_checkpoint, converted):
    folder, hf_model = mae_checkpoint
    assert isinstance(converted, dreamkeras.MAEAutoencoder)
    assert converted.layer_norm_epsilon == hf_model.config.layer_norm_eps
    assert converted.patch_size == (8, 8)
    assert converted.decoder_num_layers == 2
    overridden = load_autoencoder(folder, mask_ratio=0.5)
    assert overridden.mask_ratio == 0.5


def test_load_encoder_returns_converted_encoder(mae_checkpoint):
    folder, hf_model = mae_checkpoint
    encoder = load_encoder(folder)
    assert isinstance(encoder, keras_hub.models.ViTBackbone)
    images = _images(seed=3)
    noise = np.tile(np.arange(16, dtype="float32"), (2, 1))
    hf_latent, _, _ = _hf_mae_outputs(hf_model, images, noise, 0.0)
    assert np.abs(_np(encoder(images)) - hf_latent).max() <= TOLERANCE


def _rewrite_keys(src_folder, dst_folder, rename):
    os.makedirs(dst_folder, exist_ok=True)
    tensors = safetensors_torch.load_file(os.path.join(src_folder, "model.safetensors"))
    safetensors_torch.save_file(
        {rename(key): value for key, value in tensors.items()},
        os.path.join(dst_folder, "model.safetensors"),
        metadata={"format": "pt"},
    )
    with open(os.path.join(src_folder, "config.json")) as file:
        config = file.read()
    with open(os.path.join(dst_folder, "config.json"), "w") as file:
        file.write(config)


@pytest.mark.parametrize(
    "rename",
    [
        # The Hub's facebook/vit-mae-* files name the decoder blocks this way.
        lambda k: k.replace("decoder.decoder_encoder.layer.", "decoder.decoder_layers."),
        # transformers 5 module names.
        lambda k: k.replace("vit.encoder.layer.", "vit.layers.")
        .replace("attention.attention.query", "attention.q_proj")
        .replace("attention.attention.key", "attention.k_proj")
        .replace("attention.attention.value", "attention.v_proj")
        .replace("attention.output.dense", "attention.o_proj")
        .replace("intermediate.dense", "mlp.fc1")
        .replace("output.dense", "mlp.fc2"),
    ],
    ids=["hub_names", "transformers5_names"],
)
def test_other_tensor_names_convert_the_same(mae_checkpoint, converted, tmp_path, rename):
    folder, _ = mae_checkpoint
    renamed = str(tmp_path / "renamed")
    _rewrite_keys(folder, renamed, rename)
    images = _images(seed=4)
    other = load_autoencoder(renamed)
    np.testing.assert_allclose(
        _np(other(images)["patches"]),
        _np(converted(images)["patches"]),
        atol=1e-6,
    )


def test_encoder_only_checkpoint(tmp_path):
    config = transformers.ViTMAEConfig(**TINY_MAE)
    torch.manual_seed(5)
    hf_model = _randomize(transformers.ViTMAEModel(config), seed=5)
    folder = str(tmp_path / "encoder_only")
    hf_model.save_pretrained(folder)
    images = _images(seed=5)
    noise = np.tile(np.arange(16, dtype="float32"), (2, 1))
    with torch.no_grad():
        expected = hf_model(_nchw(images), noise=torch.from_numpy(noise))
    encoder = load_encoder(folder)
    diff = np.abs(_np(encoder(images)) - expected.last_hidden_state.numpy())
    assert diff.max() <= TOLERANCE
    with pytest.raises(ValueError, match="without its decoder"):
        load_autoencoder(folder)


# --- MAE presets in KerasHub's layout ----------------------------------------


def test_mae_preset_round_trip(converted, tmp_path):
    folder = str(tmp_path / "mae_preset")
    converted.save_to_preset(folder)
    assert sorted(os.listdir(folder)) == [
        "config.json", "metadata.json", "model.weights.h5",
    ]
    with open(os.path.join(folder, "config.json")) as file:
        config = json.load(file)
    assert config["registered_name"] == "dreamkeras>MAEAutoencoder"
    assert config["config"]["layer_norm_epsilon"] == converted.layer_norm_epsilon
    assert "build_config" not in config and "compile_config" not in config
    with open(os.path.join(folder, "metadata.json")) as file:
        metadata = json.load(file)
    assert metadata["parameter_count"] == converted.count_params()

    images = _images(seed=6)
    restored = dreamkeras.MAEAutoencoder.from_preset(folder)
    np.testing.assert_allclose(
        _np(restored(images)["patches"]),
        _np(converted(images)["patches"]),
        atol=1e-6,
    )
    for loaded in (load_autoencoder(folder), dreamkeras.encoders.load_preset(folder)):
        assert isinstance(loaded, dreamkeras.MAEAutoencoder)
    encoder = load_encoder(folder)
    np.testing.assert_allclose(
        _np(encoder(images)), _np(converted.encoder(images)), atol=1e-6
    )


def test_keras_hub_vit_preset_folder(tmp_path):
    vit = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=1, num_heads=2,
        hidden_dim=16, mlp_dim=32,
    )
    folder = str(tmp_path / "vit_preset")
    vit.save_to_preset(folder)
    images = _images(seed=7)
    loaded = load_encoder(folder)
    np.testing.assert_allclose(_np(loaded(images)), _np(vit(images)), atol=1e-6)
    with pytest.raises(ValueError, match="not a dreamkeras MAEAutoencoder"):
        load_autoencoder(folder)


# --- Hugging Face ViT through KerasHub's converter ---------------------------


@pytest.mark.parametrize("model_class", ["ViTForImageClassification", "ViTModel"])
def test_hf_vit_matches_transformers(tmp_path, model_class):
    config = transformers.ViTConfig(**TINY_VIT, num_labels=3)
    torch.manual_seed(8)
    hf_model = _randomize(getattr(transformers, model_class)(config), seed=8)
    folder = str(tmp_path / model_class)
    hf_model.save_pretrained(folder)
    images = _images(seed=8)
    vit = hf_model.vit if model_class == "ViTForImageClassification" else hf_model
    with torch.no_grad():
        expected = vit(_nchw(images)).last_hidden_state.numpy()

    encoder = load_encoder(folder)
    assert isinstance(encoder, keras_hub.models.ViTBackbone)
    assert encoder.layer_norm_epsilon == config.layer_norm_eps
    assert np.abs(_np(encoder(images)) - expected).max() <= TOLERANCE
    with pytest.raises(ValueError, match="'vit_mae'"):
        load_autoencoder(folder)


# --- Bad input ---------------------------------------------------------------


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a named size"):
        load_autoencoder(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="No config.json"):
        load_encoder(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="as JSON"):
        load_encoder(str(tmp_path))
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "vit_mae", **TINY_MAE})
    )
    with pytest.raises(FileNotFoundError, match="No weights"):
        load_autoencoder(str(tmp_path))
    weights = tmp_path / "model.weights.h5"
    weights.write_text("")
    with pytest.raises(ValueError, match="is a file, not a preset folder"):
        load_encoder(str(weights))


def test_unconverted_architecture(tmp_path):
    bert = transformers.BertConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, vocab_size=50,
    )
    bert.save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="'bert' checkpoint"):
        load_encoder(str(tmp_path))
    with pytest.raises(ValueError, match="'bert' checkpoint"):
        load_autoencoder(str(tmp_path))


def test_patch_size_must_divide_image_size(tmp_path):
    mae_folder = tmp_path / "mae"
    mae_folder.mkdir()
    (mae_folder / "config.json").write_text(
        json.dumps({**TINY_MAE, "model_type": "vit_mae", "image_size": 30})
    )
    with pytest.raises(ValueError, match="does not divide its image_size"):
        load_autoencoder(str(mae_folder))
    vit_folder = tmp_path / "vit"
    vit_folder.mkdir()
    (vit_folder / "config.json").write_text(
        json.dumps({**TINY_VIT, "model_type": "vit", "image_size": 30})
    )
    with pytest.raises(ValueError, match="does not divide its image_size"):
        load_encoder(str(vit_folder))


def test_weights_that_do_not_match_the_config(mae_checkpoint, tmp_path):
    folder, _ = mae_checkpoint
    _rewrite_keys(folder, str(tmp_path), lambda k: k)
    config = json.loads((tmp_path / "config.json").read_text())
    config["num_hidden_layers"] = 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="did not use"):
        load_autoencoder(str(tmp_path))
    config.update(num_hidden_layers=2, hidden_size=64)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="has shape"):
        load_autoencoder(str(tmp_path))


@pytest.mark.parametrize(
    "name",
    [
        "hf://facebook/vit-mae-base",
        "hf://google/vit-base-patch16-224",
        "kaggle://keras/vit/keras/vit_base_patch16_224_imagenet/4",
        "vit_base_patch16_224_imagenet",
    ],
)
def test_remote_handles_fail_fast_without_network(monkeypatch, name):
    def no_network(*args, **kwargs):
        raise OSError("[Errno -2] Name or service not known")

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted after the check")

    import huggingface_hub
    import kagglehub

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    monkeypatch.setattr(kagglehub, "model_download", no_download)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    loader = load_autoencoder if "mae" in name else load_encoder
    with pytest.raises(FileNotFoundError, match="unreachable.*local|unreachable.*FOLDER"):
        loader(name)


def test_malformed_handles():
    with pytest.raises(ValueError, match="hf://org/model"):
        load_encoder("hf://only-one-part")
    with pytest.raises(ValueError, match="Unsupported scheme"):
        load_encoder("s3://bucket/model")
    with pytest.raises(ValueError, match="non-empty string"):
        load_autoencoder(None)


# --- Base size (by hand: --run_large) ----------------------------------------


@pytest.mark.large
def test_base_size_parity(tmp_path):
    """facebook/vit-mae-base's configuration, random weights.

    Measured (jax, CPU, float32): encoder 8.3e-6 and decoder 5.1e-6 max abs
    difference, for outputs up to 5.0 and 2.8. The weights are perturbed at
    the scale of trained ones (0.02); at 0.1 (attention logits far larger
    than a trained model's) the differences grow to 1.0e-4 and 2.8e-4.
    """
    base = dict(
        image_size=224, patch_size=16, hidden_size=768, num_hidden_layers=12,
        num_attention_heads=12, intermediate_size=3072, decoder_hidden_size=512,
        decoder_num_hidden_layers=8, decoder_num_attention_heads=16,
        decoder_intermediate_size=2048, mask_ratio=0.0,
    )
    folder = str(tmp_path / "base")
    hf_model = _save_mae(folder, seed=9, scale=0.02, **base)
    mae = load_autoencoder(folder)
    images = _images(batch=2, size=224, seed=9)
    noise = np.tile(np.arange(196, dtype="float32"), (2, 1))
    hf_latent, hf_logits, _ = _hf_mae_outputs(hf_model, images, noise, 0.0)
    latent_diff = np.abs(_np(mae.encode(images)[0]) - hf_latent).max()
    logits_diff = np.abs(_np(mae(images)["patches"]) - hf_logits).max()
    print(f"base parity: encoder {latent_diff:.3g}, decoder {logits_diff:.3g}")
    assert latent_diff <= TOLERANCE
    assert logits_diff <= TOLERANCE
