"""`dreamkeras.utils.profiling`: what a benchmark records about the machine."""

import os

import keras
import pytest

from dreamkeras.utils import profiling


def test_machine_state_counts_usable_cores_and_load():
    state = profiling.machine_state()
    assert state["cpus"] == len(os.sched_getaffinity(0))
    assert len(state["load_average"]) == 3 and min(state["load_average"]) >= 0


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's thread setting")
def test_compute_threads_follows_torch_setting():
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert profiling.compute_threads()["threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert profiling.compute_threads()["threads"] == before


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA:CPU's flag")
def test_compute_threads_reads_xla_single_thread_flag(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    assert profiling.compute_threads() == {
        "threads": 1, "source": "XLA_FLAGS --xla_cpu_multi_thread_eigen=false"
    }
    monkeypatch.setenv("XLA_FLAGS", "")
    assert profiling.compute_threads()["threads"] == len(os.sched_getaffinity(0))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.config.threading")
def test_compute_threads_reads_tensorflow_default():
    import tensorflow as tf

    setting = tf.config.threading.get_intra_op_parallelism_threads()
    expected = setting or len(os.sched_getaffinity(0))
    assert profiling.compute_threads()["threads"] == expected
