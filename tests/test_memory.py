import keras
import numpy as np
import pytest

from dreamkeras.utils import memory

pytestmark = pytest.mark.skipif(
    memory._glibc() is None or memory.resident_memory_bytes() is None,
    reason="malloc_trim and /proc/self/statm exist only on Linux with glibc",
)


def test_release_host_memory_returns_freed_heap_pages():
    # 64 KiB blocks come from the C heap (below glibc's mmap threshold);
    # the last one stays alive so that `free` cannot shrink the heap's top.
    blocks = [np.ones(16 * 1024, "float32") for _ in range(3000)]
    keeper = blocks.pop()
    filled = memory.resident_memory_bytes()
    del blocks
    kept = memory.resident_memory_bytes()
    assert memory.release_host_memory()
    released = memory.resident_memory_bytes()
    # About 190 MiB were freed; glibc keeps them until the trim.
    assert filled - kept < 64 * 2**20
    assert kept - released > 128 * 2**20
    assert keeper.sum() == 16 * 1024  # still intact


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX monitoring")
def test_release_after_compiles_runs_after_long_compilations_only():
    import jax

    def new_program(scale):
        return jax.jit(lambda x: x * scale + 1.0)

    try:
        assert memory.release_host_memory_after_compiles(min_compile_seconds=0.0)
        before = memory.releases_after_compiles()
        new_program(2.0)(np.ones(3, "float32")).block_until_ready()
        assert memory.releases_after_compiles() == before + 1
        memory.release_host_memory_after_compiles(min_compile_seconds=1e6)
        before = memory.releases_after_compiles()
        new_program(3.0)(np.ones(3, "float32")).block_until_ready()
        assert memory.releases_after_compiles() == before
    finally:
        memory.release_host_memory_after_compiles(min_compile_seconds=1.0)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="other backends")
def test_release_after_compiles_registers_nothing_off_jax():
    assert not memory.release_host_memory_after_compiles()
