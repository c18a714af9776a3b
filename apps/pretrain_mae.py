"""Self-supervised MAE pretraining on unlabelled images; writes a preset folder.

The preset is what SleepNet / DreamNet load as their frozen encoder: pass its
folder as `--encoder` to the training apps. Fashion-MNIST (28x28 grayscale)
is repeated to 3 channels and resized (bilinear, antialiased) to the MAE's
input size, as `apps/fashion_mnist.py` does for the classifiers.

Usage:

    python apps/pretrain_mae.py --dataset fashion_mnist --encoder mae-small-32 \\
        --epochs 10 --output presets/fmnist_mae
    python apps/pretrain_mae.py --dataset image_folder --data-dir photos/ \\
        --encoder mae-tiny-32 --output presets/my_mae
    python apps/fashion_mnist.py --model dreamnet --encoder presets/fmnist_mae

Run with --help for every flag (docs/apps.md explains them).
"""

import sys

from dreamkeras_cli.commands import pretrain_app


def main(argv=None, callbacks=None):
    """Runs the command; returns the exit status."""
    return pretrain_app(argv, callbacks=callbacks, prog="apps/pretrain_mae.py")


if __name__ == "__main__":
    sys.exit(main())
