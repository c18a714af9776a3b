"""Share of a torch-backend step spent in ATen kernels, and the largest kernels.

The small DreamNet-3 of `docs/benchmarks.md` (mae-small-32, ImageNet stem, 75% masking,
100 classes), batch 8, float32, profiled with `torch.profiler` on the CPU. What is not
in an ATen kernel is Python: Keras's layer calls, argument conversion, the optimizer loop.

Run from the repository root:

    KERAS_BACKEND=torch python docs/experiments/torch_profile/share.py
"""

import collections
import os
import time

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dreamkeras.training.image_task import build_model  # noqa: E402
from dreamkeras.utils import profiling  # noqa: E402
from dreamkeras_cli import flags  # noqa: E402
from dreamkeras_cli import tool_builders  # noqa: E402

BENCHMARK_FLAGS = (
    "--model dreamnet --blocks 3 --encoder mae-small-32 --stem imagenet "
    "--mask-ratio 0.75 --num-classes 100"
)


def profile(step, repeats=5):
    """Returns (unprofiled ms/step, profiled ms/step, ATen ms/step, top ATen ops)."""
    # Warm-up calls, then the median of `repeats` unprofiled steps.
    _, plain = profiling.time_steps(step, num_warmup=3, num_steps=repeats)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        profiled = (time.perf_counter() - start) / repeats * 1e3
    by_op = collections.Counter()
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            by_op[event.key[len("aten::"):]] += event.self_cpu_time_total / 1e3 / repeats
    return plain * 1e3, profiled, sum(by_op.values()), by_op.most_common(8)


def main():
    args = flags.build_parser("benchmark").parse_args(BENCHMARK_FLAGS.split())
    config = tool_builders.benchmark_config(args)
    model = build_model(config.model, config.num_classes, (32, 32, 3), config.model.encoder)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=False,
    )
    rng = np.random.default_rng(0)
    images = rng.random((8, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, config.num_classes, 8)
    images_tensor = torch.as_tensor(images)

    def infer():
        with torch.no_grad():
            model(images_tensor, training=False)

    steps = {
        "inference (model call, no_grad)": infer,
        "train_on_batch": lambda: model.train_on_batch(images, labels),
    }
    for name, step in steps.items():
        plain, profiled, aten, top = profile(step)
        print(
            f"{name}: {plain:.0f} ms/step unprofiled; profiled {profiled:.0f} ms/step, "
            f"of which ATen kernels {aten:.0f} ms ({aten / profiled:.0%})"
        )
        print("   largest ATen ops (ms/step):", ", ".join(f"{op} {ms:.0f}" for op, ms in top))
    print("torch threads:", torch.get_num_threads())


if __name__ == "__main__":
    main()
