"""
Title: Benchmark SleepNet, DreamNet and the plain chain
Description: parameters, FLOPs, train/inference throughput, FLOP/s share of a
    measured matmul peak, and peak memory, printed and written to JSON.

    python apps/benchmark.py --backend jax --model dreamnet --blocks 3 \
        --encoder mae-small-32 --batch-size 8

Named encoder sizes (`mae-small-32`, `vit-b16-224`, `mae-b16-224`, ...) build
random weights: fine for speed and size, which do not depend on the values.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps._launcher import select_backend  # noqa: E402  (no Keras import)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["jax", "tensorflow", "torch"],
                        default="jax", help="Keras backend (set before import).")
    parser.add_argument("--model", choices=["sleepnet", "dreamnet", "baseline"],
                        default="dreamnet", help="Network to measure.")
    parser.add_argument("--blocks", type=int, default=3, help="M, connected blocks.")
    parser.add_argument("--encoder", default="mae-small-32",
                        help="Encoder name or preset (see dreamkeras.encoders).")
    parser.add_argument("--image-size", type=int, default=None,
                        help="Input height and width; defaults to the encoder's.")
    parser.add_argument("--chain", default="resnet18", help="resnet18/34/50.")
    parser.add_argument("--width", type=int, default=64, help="Chain base width.")
    parser.add_argument("--stem", choices=["auto", "imagenet", "cifar"], default="auto",
                        help="Defaults to cifar below 64 pixels, else imagenet.")
    parser.add_argument("--projection", choices=["grid", "pooled"], default="grid")
    parser.add_argument("--mask-ratio", type=float, default=0.0,
                        help="Patches masked in training (the reference: 0.75).")
    parser.add_argument("--stop-gradient", action="store_true",
                        help="No backward pass through the frozen model.")
    parser.add_argument("--remat", action="store_true",
                        help="Recompute the frozen model's blocks in the backward "
                        "pass instead of storing their activations.")
    parser.add_argument("--num-classes", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", default="float32",
                        choices=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--loop", choices=["fit", "on-batch"], default="fit",
                        help="Time steps through model.fit/predict (state kept "
                        "in the backend between steps, as in training) or "
                        "train_on_batch/predict_on_batch calls.")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="Steps per compiled call (model.compile); fit only.")
    parser.add_argument("--steps", type=int, default=5, help="Timed steps.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed steps.")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="Do not hand the memory freed after building the "
                        "model and after each long XLA compilation back to the "
                        "system (glibc malloc_trim), which the training apps "
                        "and, by default, this script do.")
    parser.add_argument("--output", default=None, help="JSON file for the figures.")
    args = parser.parse_args(argv)
    if args.steps_per_execution < 1:
        parser.error("--steps-per-execution must be at least 1.")
    if args.steps_per_execution > 1 and args.loop != "fit":
        parser.error("--steps-per-execution needs --loop fit.")
    if args.steps_per_execution > 1 and args.backend == "torch":
        parser.error("--steps-per-execution must be 1 with --backend torch "
                     "(Keras's PyTorch trainer runs one step per call).")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    select_backend(["--backend", args.backend] + (["--remat"] if args.remat else []))
    import keras
    import numpy as np

    import dreamkeras
    from dreamkeras.training.flops import count_flops
    from dreamkeras.training.flops import count_train_step_flops
    from dreamkeras.utils import profiling

    if keras.backend.backend() != args.backend:
        raise SystemExit(
            f"Keras was already imported with the {keras.backend.backend()} "
            f"backend; run this script in a fresh process."
        )
    keras.config.set_dtype_policy(args.precision)
    release_memory = not args.keep_freed_memory
    if release_memory:
        dreamkeras.utils.release_host_memory_after_compiles()
    image_shape = None
    if args.image_size:
        image_shape = (args.image_size, args.image_size, 3)
    model = dreamkeras.models.build_vision_classifier(
        args.model, args.encoder, args.num_classes, image_shape=image_shape,
        num_blocks=args.blocks, chain=args.chain, width=args.width, stem=args.stem,
        projection=args.projection, mask_ratio=args.mask_ratio,
        stop_gradient=args.stop_gradient, remat=args.remat,
    )
    if release_memory:
        dreamkeras.utils.release_host_memory(clear_jax_caches=True)
    input_shape = tuple(model.input.shape[1:])
    rng = np.random.default_rng(0)
    images = rng.random((args.batch_size,) + input_shape).astype("float32")
    labels = rng.integers(0, args.num_classes, args.batch_size)
    loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=loss,
        jit_compile=args.backend != "torch",
        steps_per_execution=args.steps_per_execution,
    )

    params = profiling.parameter_counts(model)
    analytical_forward = count_flops(model)["total"]
    analytical_step = count_train_step_flops(
        model, frozen_backward=not args.stop_gradient
    )["total"]
    flops = profiling.xla_flops(model, images, labels, loss)
    peak = profiling.matmul_peak_flops(
        dtype="float32" if args.precision == "float32" else args.precision.split("_")[1]
    )
    if release_memory:  # What the FLOP counts and the peak measurement left.
        dreamkeras.utils.release_host_memory()
    if args.loop == "fit":
        train_first, train_step = profiling.time_fit(
            model, images, labels, args.warmup, args.steps
        )
    else:
        train_first, train_step = profiling.time_steps(
            lambda: model.train_on_batch(images, labels), args.warmup, args.steps
        )
    result = {
        "backend": args.backend,
        "model": args.model,
        "blocks": args.blocks,
        "encoder": args.encoder,
        "input_shape": list(input_shape),
        "batch_size": args.batch_size,
        "precision": args.precision,
        "mask_ratio": args.mask_ratio,
        "projection": args.projection,
        "stop_gradient": args.stop_gradient,
        "remat": args.remat,
        "loop": args.loop,
        "steps_per_execution": args.steps_per_execution,
        "release_freed_memory": release_memory,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "parameters": params,
        "analytical_forward_flops_per_image": analytical_forward,
        "analytical_train_flops_per_image": analytical_step,
        "train_compile_seconds": train_first,
        "train_step_seconds": train_step,
        "train_images_per_second": args.batch_size / train_step,
        "matmul_peak_flops_per_second": peak,
    }
    # The achieved rate counts what the compiled step computes (recomputation
    # under --remat included) where XLA reports it, else the model's FLOPs.
    if flops["forward"] is not None:
        counted_by, step_flops = "xla", flops["train_step"]
        result.update(
            forward_flops_per_image=flops["forward"] / args.batch_size,
            train_flops_per_image=flops["train_step"] / args.batch_size,
        )
    else:
        counted_by, step_flops = "analytical", analytical_step * args.batch_size
    achieved = step_flops / train_step
    result.update(
        flops_count=counted_by,
        train_flops_per_second=achieved,
        train_share_of_matmul_peak=achieved / peak,
    )
    if not args.skip_inference:
        if args.loop == "fit":
            infer_first, infer_step = profiling.time_predict(
                model, images, args.warmup, args.steps
            )
        else:
            infer_first, infer_step = profiling.time_steps(
                lambda: model.predict_on_batch(images), args.warmup, args.steps
            )
        result.update(
            inference_compile_seconds=infer_first,
            inference_images_per_second=args.batch_size / infer_step,
        )
    result["memory"] = profiling.peak_memory()

    print_report(result)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(result, handle, indent=2)
    return result


def print_report(result):
    params = result["parameters"]
    lines = [
        f"{result['model']}-{result['blocks']} on {result['encoder']} "
        f"{tuple(result['input_shape'])}, batch {result['batch_size']}, "
        f"{result['precision']}, {result['backend']}, mask {result['mask_ratio']}"
        + (", stop-gradient" if result.get("stop_gradient") else "")
        + (", remat" if result.get("remat") else ""),
        f"  parameters     total {params['total'] / 1e6:.2f}M  trainable "
        f"{params['trainable'] / 1e6:.2f}M  frozen model {params['frozen'] / 1e6:.2f}M",
    ]
    analytical = (
        f"forward {result['analytical_forward_flops_per_image'] / 1e9:.3f}G"
        f"  train step {result['analytical_train_flops_per_image'] / 1e9:.3f}G"
    )
    if "forward_flops_per_image" in result:
        lines.append(
            f"  FLOPs/image    forward {result['forward_flops_per_image'] / 1e9:.3f}G"
            f"  train step {result['train_flops_per_image'] / 1e9:.3f}G (XLA count;"
            f" analytical {analytical})"
        )
    else:
        lines.append(f"  FLOPs/image    {analytical} (analytical)")
    lines.append(
        f"  train          {result['train_images_per_second']:.2f} img/s "
        f"({result.get('loop', 'fit')}, {result['train_step_seconds'] * 1e3:.1f} "
        f"ms/step, first call "
        f"{result['train_compile_seconds']:.1f} s)"
    )
    lines.append(
        f"  achieved       {result['train_flops_per_second'] / 1e9:.1f} GFLOP/s = "
        f"{100 * result['train_share_of_matmul_peak']:.0f}% of the measured "
        f"matmul peak {result['matmul_peak_flops_per_second'] / 1e9:.1f} GFLOP/s"
        f" ({result['flops_count']} count)"
    )
    if "inference_images_per_second" in result:
        lines.append(
            f"  inference      {result['inference_images_per_second']:.2f} img/s"
        )
    if result.get("xla_flags"):
        lines.append(f"  XLA_FLAGS      {result['xla_flags']}")
    memory = result["memory"]
    device = memory["device_bytes"]
    lines.append(
        f"  peak memory    host RSS {memory['host_rss_bytes'] / 2**30:.2f} GiB"
        + (f", device {device / 2**30:.2f} GiB" if device else "")
        + ("" if result.get("release_freed_memory", True)
           else " (--keep-freed-memory)")
    )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
