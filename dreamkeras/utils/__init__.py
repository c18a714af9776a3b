"""Small shared utilities: freezing that survives reloading, presets, atomic
files, run locks, memory release and profiling helpers.
"""

from dreamkeras.utils.freezing import set_trainable as set_trainable
from dreamkeras.utils.memory import release_host_memory as release_host_memory
from dreamkeras.utils.memory import (
    release_host_memory_after_compiles as release_host_memory_after_compiles,
)
