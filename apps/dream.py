"""Draws a trained DreamNet's dreams: originals and reconstructions as a PNG.

Usage:

    python apps/dream.py --model dreamnet.keras --images photos/ \\
        --output dreams.png --num-images 4

`--images` is a folder of image files (PNG, JPEG, ...; resized to the model's
input size) or a `.npy` array `(N, height, width, channels)` already
preprocessed as the model expects. Run with --help for every flag.
"""

import sys

from dreamkeras_cli.tool_commands import dream_app


def main(argv=None):
    """Runs the command; returns the exit status."""
    return dream_app(argv, prog="apps/dream.py")


if __name__ == "__main__":
    sys.exit(main())
