"""`Switch`: a process-wide on/off setting with an environment default."""

import contextlib
import os


class Switch:
    """A process-wide on/off setting, off unless `environment_variable=1`.

    The state behind `dreamkeras.xla_cpu.enable()` and
    `dreamkeras.torch_export.enable()`.

    Args:
        environment_variable: str. Set to `1` to start switched on.

    Example:

    ```python
    switch = Switch("MY_SWITCH")
    with switch.scoped(True):
        assert switch.on
    ```
    """

    def __init__(self, environment_variable):
        self.environment_variable = environment_variable
        self.on = os.environ.get(environment_variable, "0") == "1"

    def set(self, on):
        self.on = bool(on)

    @contextlib.contextmanager
    def scoped(self, on=True):
        """Context manager: the switch set to `on` inside the block."""
        previous = self.on
        self.set(on)
        try:
            yield
        finally:
            self.set(previous)
