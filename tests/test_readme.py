"""The README's API example runs as written."""

import os
import re

import keras

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")


def test_api_example_runs_and_reloads(tmp_path, monkeypatch):
    text = open(README).read()
    section = text[text.index("## API example") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    restored, dreamnet = namespace["restored"], namespace["dreamnet"]
    assert os.path.exists(tmp_path / "dreamnet.keras")
    assert len(restored.trainable_weights) == len(dreamnet.trainable_weights)
    assert tuple(namespace["sleepnet"].output.shape) == (None, 10)
    assert isinstance(restored, keras.Model)
