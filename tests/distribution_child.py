"""Child of tests/test_distribution.py: layouts on virtual CPU devices.

Run in a fresh process (JAX fixes its device count when it starts):

    XLA_FLAGS=--xla_force_host_platform_device_count=4 KERAS_BACKEND=jax \
        python tests/distribution_child.py OUT.json [MESH ...]

For each mesh (`none`, `4x1`, `2x2`, `1x4`, ...) it builds the same SleepNet on
a frozen tiny ViT (same seed), trains it a few steps on the same batches and
records the losses, the mean step time and how the encoder's kernels are
laid out; it also records the layouts of a tiny RoBERTa and MAE.
"""

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import dreamkeras  # noqa: E402
from dreamkeras.training import mesh as mesh_lib  # noqa: E402

STEPS = 4
BATCH = 8
# 4 heads and 64 MLP units split over a model axis of 1, 2 or 4 devices.
VIT = dict(image_shape=(16, 16, 3), patch_size=8, num_layers=2, num_heads=4,
           hidden_dim=16, mlp_dim=64)


def _spec(variable):
    sharding = getattr(variable.value, "sharding", None)
    return str(getattr(sharding, "spec", sharding))


def _sharded(model):
    """Variable path -> PartitionSpec of every variable split over `model`."""
    return {v.path: _spec(v) for v in model.weights if "model" in _spec(v)}


def sleepnet_run(mesh):
    keras.utils.set_random_seed(7)
    distribution = None if mesh == "none" else mesh_lib.make_distribution(mesh_lib.parse_mesh(mesh))
    keras.distribution.set_distribution(distribution)
    try:
        vit = keras_hub.models.ViTBackbone(**VIT)
        model = dreamkeras.models.SleepNet(
            vit, num_classes=4, num_blocks=2, width=8, stem="cifar", image_shape=VIT["image_shape"]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        images = rng.uniform(size=(STEPS * BATCH, *VIT["image_shape"])).astype("float32")
        labels = rng.integers(0, 4, size=(STEPS * BATCH,))
        losses, times = [], []
        for step in range(STEPS):
            batch = slice(step * BATCH, (step + 1) * BATCH)
            tick = time.perf_counter()
            loss = model.train_on_batch(images[batch], labels[batch])
            times.append(time.perf_counter() - tick)
            losses.append(float(loss))
        logits = model.predict(images[:BATCH], verbose=0)
        return {
            "losses": losses,
            "first_step_seconds": times[0],
            "step_seconds": float(np.mean(times[1:])),
            "sharded": _sharded(model),
            "trainable": len(model.trainable_weights),
            "logits": np.asarray(logits).tolist(),
        }
    finally:
        keras.distribution.set_distribution(None)


def _roberta():
    keras.utils.set_random_seed(7)
    return keras_hub.models.RobertaBackbone(
        vocabulary_size=64, num_layers=1, num_heads=4, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=8,
    )


def encoder_layouts(mesh):
    """Which variables of a tiny RoBERTa and MAE the layout map shards."""
    tokens = {"token_ids": np.ones((4, 8), "int32"), "padding_mask": np.ones((4, 8), "int32")}
    unsharded = np.asarray(_roberta()(tokens))
    keras.distribution.set_distribution(mesh_lib.make_distribution(mesh_lib.parse_mesh(mesh)))
    try:
        roberta = _roberta()
        mae = dreamkeras.models.MAEAutoencoder(
            image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=4, hidden_dim=16,
            mlp_dim=32, decoder_num_layers=1, decoder_num_heads=4, decoder_hidden_dim=16,
            decoder_mlp_dim=32,
        )
        difference = float(np.max(np.abs(np.asarray(roberta(tokens)) - unsharded)))
        return {
            "roberta": _sharded(roberta), "mae": _sharded(mae),
            "roberta_max_difference": difference,
        }
    finally:
        keras.distribution.set_distribution(None)


def bad_mesh_error(mesh):
    """The error of building a ViT whose 3 heads do not split over `mesh`'s model axis."""
    keras.distribution.set_distribution(mesh_lib.make_distribution(mesh_lib.parse_mesh(mesh)))
    try:
        keras_hub.models.ViTBackbone(**{**VIT, "num_heads": 3, "hidden_dim": 12})
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    finally:
        keras.distribution.set_distribution(None)
    return None


def main(argv):
    out, meshes = argv[0], argv[1:] or ["none", "4x1", "2x2", "1x4"]
    result = {"devices": len(keras.distribution.list_devices()), "runs": {}}
    for mesh in meshes:
        result["runs"][mesh] = sleepnet_run(mesh)
    model_meshes = [m for m in meshes if m != "none" and mesh_lib.parse_mesh(m)[1] > 1]
    if model_meshes:
        result["encoders"] = encoder_layouts(model_meshes[0])
        result["bad_mesh_error"] = bad_mesh_error(model_meshes[0])
    with open(out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main(sys.argv[1:])
