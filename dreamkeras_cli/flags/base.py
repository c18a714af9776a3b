"""`Flag`, one command-line flag defined once, and the value parsers it uses."""

import argparse
import dataclasses

BACKENDS = ("jax", "tensorflow", "torch")
VISION_MODELS = ("dreamnet", "sleepnet", "baseline", "smallcnn")
ARCHITECTURES = ("ours", "reference")
TEXT_MODELS = ("dreamnet", "sleepnet", "lstm", "textcnn", "charcnn")
# `dreamkeras.models.text_baselines.CHARCNN_SIZES`, here without importing Keras.
CHARCNN_SIZES = ("small", "large")
PRECISIONS = ("auto", "none", "mixed_float16", "mixed_bfloat16")
VISION_CHAINS = ("resnet18", "resnet34", "resnet50")
# `dreamkeras.models.text_chains.CHAINS`, here without importing Keras.
TEXT_CHAINS = ("lstm", "textcnn", "charcnn")
TOKEN_MODES = ("straight_through", "argmax")
TUNERS = ("random", "bayesian", "hyperband")
# Families whose missing entries come from other families, nearest first.
PARENT_FAMILY = {
    "search": ("vision",), "benchmark": ("vision",), "text": ("vision",),
    "search-text": ("search", "text"),
    "mlm": ("text",),
}


@dataclasses.dataclass(frozen=True)
class Flag:
    """One command-line flag.

    Attributes:
        names: tuple of str. Option strings; the first one names the flag.
        help: str or dict of family -> str. What the flag does. It never
            states the default: the parser appends `(default: X)` once.
        default: value or dict of family -> value.
        type: callable or None. Converts the text (`int`, `float`, ...).
        choices: tuple, dict of family -> tuple, or None.
        kind: `"value"`, `"switch"` (`store_true`), `"toggle"`
            (`--x/--no-x`) or `"append"` (repeatable).
        metavar: str or None.
        dest: str or None. Attribute name; defaults to the first name.

    Example:

    ```python
    Flag(("--seed",), "Random seed of the run.", default=1337, type=int)
    ```
    """

    names: tuple
    help: object
    default: object = None
    type: object = None
    choices: object = None
    kind: str = "value"
    metavar: str = None
    dest: str = None

    @property
    def attribute(self):
        """str: the attribute of the parsed flags."""
        return self.dest or self.names[0].lstrip("-").replace("-", "_")

    def resolve(self, field, family):
        """The value of `field` for `family` (dicts are looked up)."""
        value = getattr(self, field)
        if not isinstance(value, dict):
            return value
        families = [family]
        for name in families:  # Breadth first: the nearest family wins.
            if name in value:
                return value[name]
            families += [p for p in PARENT_FAMILY.get(name, ()) if p not in families]
        return value.get("default")


def positive_int(text):
    """Parses a whole number of at least 1 (argparse `type`)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def precision(text):
    """Parses a dtype policy name; `float32` means `none`."""
    # `float32` is the benchmark's old name of "no mixed precision".
    return "none" if text == "float32" else text



def mesh_shape(text):
    """Parses `--mesh BATCHxMODEL` (`"2x2"` -> `(2, 2)`)."""
    parts = str(text).lower().split("x")
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            f"takes BATCHxMODEL, two positive integers such as 4x1 or 2x2; got {text!r}"
        )
    return shape
