"""The searchable hyperparameters and where each one lives in a `RunConfig`.

A trial's configuration is the run's configuration with the trial's values
put in place (`with_values`): `blocks` in `config.model.blocks`, `lr` in
`config.optimizer.lr`, `mixup_alpha` in `config.augment.mixup_alpha`, ...
Unsearched hyperparameters are declared `hp.Fixed` at the configuration's
value, so every trial records its complete settings.
"""

import dataclasses

from dreamkeras_cli.flags.base import TEXT_CHAINS
from dreamkeras_cli.flags.base import VISION_CHAINS
from dreamkeras_cli.tool_config import VISION_HYPERPARAMETERS as _VISION_KINDS

# name -> (section of RunConfig, field of that section).
VISION_FIELDS = {
    "blocks": ("model", "blocks"),
    "chain": ("model", "chain"),
    "projection": ("model", "projection"),
    "unfreeze": ("model", "unfreeze"),
    "lr": ("optimizer", "lr"),
    "weight_decay": ("optimizer", "weight_decay"),
    "randaugment_magnitude": ("augment", "magnitude"),
    "mixup_alpha": ("augment", "mixup_alpha"),
}
TEXT_FIELDS = {
    "blocks": ("model", "blocks"),
    "chain": ("model", "chain"),
    "block_depth": ("model", "block_depth"),
    "token_mode": ("model", "token_mode"),
    "unfreeze": ("model", "unfreeze"),
    "lr": ("optimizer", "lr"),
    "weight_decay": ("optimizer", "weight_decay"),
}
VISION_HYPERPARAMETERS = tuple(_VISION_KINDS)
TEXT_HYPERPARAMETERS = tuple(TEXT_FIELDS)


def current_values(config, fields):
    """`{name: value}` of the hyperparameters `fields` names, read from `config`.

    Example:

    ```python
    current_values(config, VISION_FIELDS)["blocks"]  # 3
    ```
    """
    return {
        name: getattr(getattr(config, section), field)
        for name, (section, field) in fields.items()
    }


def with_values(config, fields, values):
    """A copy of `config` with the hyperparameter `values` put in place.

    Example:

    ```python
    trial = with_values(config, VISION_FIELDS, {"blocks": 2, "lr": 1e-3})
    trial.model.blocks  # 2
    ```
    """
    changes = {}
    for name, value in values.items():
        section, field = fields[name]
        changes.setdefault(section, {})[field] = value
    return dataclasses.replace(
        config,
        **{
            section: dataclasses.replace(getattr(config, section), **fields_)
            for section, fields_ in changes.items()
        },
    )


def _in_range(value, low, high, default):
    return value if value is not None and low <= value <= high else default


# name -> function(hp, current) declaring the searched hyperparameter.
_SEARCHED = {
    "blocks": lambda hp, c: hp.Int("blocks", 1, 4, default=_in_range(c, 1, 4, 3)),
    "block_depth": lambda hp, c: hp.Int("block_depth", 1, 2, default=_in_range(c, 1, 2, 1)),
    # The text chains when the run's chain is one (a text search).
    "chain": lambda hp, c: hp.Choice(
        "chain", list(TEXT_CHAINS if c in TEXT_CHAINS else VISION_CHAINS),
        default=c or "resnet18",
    ),
    "projection": lambda hp, c: hp.Choice("projection", ["grid", "pooled"], default=c or "grid"),
    "token_mode": lambda hp, c: hp.Choice(
        "token_mode", ["straight_through", "argmax"], default=c or "straight_through"
    ),
    "unfreeze": lambda hp, c: hp.Boolean("unfreeze", default=bool(c)),
    "lr": lambda hp, c: hp.Float(
        "lr", 1e-4, 1e-2, sampling="log", default=_in_range(c, 1e-4, 1e-2, 1e-3)
    ),
    "weight_decay": lambda hp, c: hp.Float(
        "weight_decay", 1e-6, 1e-2, sampling="log", default=_in_range(c, 1e-6, 1e-2, 1e-4)
    ),
    "randaugment_magnitude": lambda hp, c: hp.Float(
        "randaugment_magnitude", 0.0, 1.0, step=0.1, default=_in_range(c, 0.0, 1.0, 0.5)
    ),
    "mixup_alpha": lambda hp, c: hp.Float(
        "mixup_alpha", 0.0, 0.8, step=0.1, default=_in_range(c, 0.0, 0.8, 0.2)
    ),
}


def declare(hp, name, searched, current, values=None):
    """Declares hyperparameter `name`: searched (a range) or `hp.Fixed`.

    Args:
        hp: `keras_tuner.HyperParameters`.
        name: str. A hyperparameter name.
        searched: bool. Search it, else fix it at `current`.
        current: its value in the run's configuration (the default of a
            searched one).
        values: optional list. Restricts a searched hyperparameter to these.

    Returns:
        The hyperparameter's value in this trial.

    Example:

    ```python
    blocks = declare(hp, "blocks", True, 3, values=[1, 2])
    ```
    """
    if not searched:
        return hp.Fixed(name, current)
    if values:
        default = current if current in values else values[0]
        return hp.Choice(name, list(values), default=default)
    if name not in _SEARCHED:
        raise ValueError(f"Unknown hyperparameter {name!r}.")
    return _SEARCHED[name](hp, current)


def check_space(search_space, known, values):
    """Checks a search space and its value restrictions; returns both, normalised.

    Raises:
        ValueError: an unknown name, or values for an unsearched one.

    Example:

    ```python
    space, values = check_space(("blocks",), VISION_FIELDS, {"blocks": [1, 2]})
    ```
    """
    search_space = tuple(search_space)
    unknown = [name for name in search_space if name not in known]
    if unknown:
        raise ValueError(
            f"Unknown hyperparameter(s) {unknown} in `search_space`. Searchable: "
            f"{list(known)}."
        )
    values = {k: list(v) for k, v in (values or {}).items()}
    stray = [name for name in values if name not in search_space]
    if stray:
        raise ValueError(
            f"`values` restricts {stray}, which are not searched. Add them to "
            f"`search_space` (searched: {list(search_space)})."
        )
    return search_space, values
