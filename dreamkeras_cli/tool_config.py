"""The typed configurations of the tools: the hyperparameter search and the benchmark.

Built once from the flags by `dreamkeras_cli.tool_builders`, frozen like the
run configuration (`dreamkeras_cli.config`). Standard library only.
"""

import dataclasses
import os

from dreamkeras_cli.config import RunConfig
from dreamkeras_cli.config import Hardware
from dreamkeras_cli.config import VisionModel

# What the hyperparameter search can search (`--search-space`), and how
# `--values` reads each one's values.
VISION_HYPERPARAMETERS = {
    "blocks": int,
    "chain": str,
    "projection": str,
    "unfreeze": "bool",
    "lr": float,
    "weight_decay": float,
    "randaugment_magnitude": float,
    "mixup_alpha": float,
}
# The same for the text search (`dreamkeras search-text`).
TEXT_HYPERPARAMETERS = {
    "blocks": int,
    "chain": str,
    "block_depth": int,
    "token_mode": str,
    "unfreeze": "bool",
    "lr": float,
    "weight_decay": float,
}


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """A KerasTuner search over SleepNet / DreamNet hyperparameters.

    Attributes:
        run: `RunConfig` (`task="image"` or `"text"`). The trials' training
            settings; the searched hyperparameters start from its values.
        tuner: str. `"random"`, `"bayesian"` or `"hyperband"`.
        search_space: tuple of str. Names of `VISION_HYPERPARAMETERS` (or
            `TEXT_HYPERPARAMETERS` for a text search).
        values: dict of str -> tuple. Restricted values of searched names.
        max_trials, executions_per_trial, patience, num_best, tuner_seed:
            int. As the flags of the same names.
        directory: str. Absolute folder of the tuner projects.
        project_name: str.
        overwrite, report_only: bool.
        validation_split: float. Share of the training split that
            validates the trials.

    Example:

    ```python
    search = dreamkeras_cli.builders.search_config(args)
    search.project_dir
    ```
    """

    run: RunConfig
    tuner: str = "random"
    search_space: tuple = ("blocks", "unfreeze")
    values: dict = dataclasses.field(default_factory=dict)
    max_trials: int = 10
    executions_per_trial: int = 1
    directory: str = "tuning_runs"
    project_name: str = None
    overwrite: bool = False
    patience: int = 2
    validation_split: float = 0.1
    num_best: int = 10
    tuner_seed: int = 1
    report_only: bool = False

    @property
    def project_dir(self):
        """str: the KerasTuner project folder."""
        return os.path.join(self.directory, self.project_name)


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """What `apps/benchmark.py` measures and how.

    Attributes:
        model: `VisionModel`.
        hardware: `Hardware`.
        num_classes: int.
        batch_size: int.
        loop: str. `"fit"` or `"on-batch"`.
        steps_per_execution, steps, warmup: int.
        skip_inference, keep_freed_memory, compare_xla_cpu_kernels: bool.
        torch_compile: bool. `jit_compile=True` on the torch backend.
        torch_export: bool. `dreamkeras.torch_export` on (torch backend).
        output: str or None. The JSON file.

    Example:

    ```python
    benchmark = dreamkeras_cli.builders.benchmark_config(args)
    ```
    """

    model: VisionModel
    hardware: Hardware = Hardware()
    num_classes: int = 100
    batch_size: int = 8
    loop: str = "fit"
    steps_per_execution: int = 1
    steps: int = 5
    warmup: int = 2
    skip_inference: bool = False
    keep_freed_memory: bool = False
    compare_xla_cpu_kernels: bool = False
    torch_compile: bool = False
    torch_export: bool = False
    output: str = None
