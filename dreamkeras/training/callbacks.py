"""Callbacks of the training apps: hyperparameters, throughput, dream texts."""

import os
import time

import keras


def _hparam_value(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def tensorboard_callback(logdir):
    """The apps' `keras.callbacks.TensorBoard`: per-epoch scalars, no graph.

    Args:
        logdir: str. TensorBoard log directory of the run.

    Returns:
        A `keras.callbacks.TensorBoard`.

    Example:

    ```python
    model.fit(ds, callbacks=[tensorboard_callback("runs/exp1")])
    ```
    """
    return keras.callbacks.TensorBoard(
        logdir, write_graph=False, profile_batch=0, update_freq="epoch"
    )


class HParamsLogger(keras.callbacks.Callback):
    """Writes the run's hyperparameters to TensorBoard when training starts.

    Uses the HParams plugin (`tensorboard.plugins.hparams.api`) when the
    `tensorboard` package is installed, else a markdown table as a text
    summary named `hparams` (TensorBoard's Text tab).

    Args:
        logdir: str. TensorBoard log directory of the run.
        hparams: dict of str to bool/int/float/str (other values are
            written as strings).

    Example:

    ```python
    model.fit(ds, callbacks=[HParamsLogger("runs/exp1", {"lr": 0.005})])
    ```
    """

    def __init__(self, logdir, hparams):
        super().__init__()
        self.logdir = logdir
        self.hparams = {k: _hparam_value(v) for k, v in hparams.items()}
        self.written_with = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        writer = tf.summary.create_file_writer(os.path.join(self.logdir, "hparams"))
        with writer.as_default():
            try:
                from tensorboard.plugins.hparams import api as hp
            except ImportError:
                hp = None
            if hp is not None:
                hp.hparams(self.hparams)
                self.written_with = "hparams_plugin"
            else:
                rows = "\n".join(
                    f"| {key} | {value} |" for key, value in sorted(self.hparams.items())
                )
                tf.summary.text(
                    "hparams", f"| hyperparameter | value |\n|---|---|\n{rows}", step=0
                )
                self.written_with = "text_summary"
        writer.flush()
        writer.close()


class Throughput(keras.callbacks.Callback):
    """Measures images per second of training or evaluation steps.

    The first step of each epoch (or evaluation) is left out, as it includes
    compilation; in evaluation the last step is left out too, as it may be a
    partial batch.

    Args:
        batch_size: int. Images per step.
        mode: `"train"` or `"test"`.

    Example:

    ```python
    throughput = Throughput(64, mode="test")
    model.evaluate(ds, callbacks=[throughput])
    throughput.images_per_second
    ```
    """

    def __init__(self, batch_size, mode="train"):
        super().__init__()
        if mode not in ("train", "test"):
            raise ValueError(f"`mode` must be 'train' or 'test'. Received: {mode!r}.")
        self.batch_size = batch_size
        self.mode = mode
        self.images = 0
        self.seconds = 0.0
        self._stamps = []

    def _begin(self, *args, **kwargs):
        self._stamps = []

    def _step(self, *args, **kwargs):
        self._stamps.append(time.perf_counter())

    def _end(self, *args, **kwargs):
        stamps = self._stamps
        if self.mode == "test":
            stamps = stamps[:-1]
        if len(stamps) >= 2:
            self.images += (len(stamps) - 1) * self.batch_size
            self.seconds += stamps[-1] - stamps[0]
        self._stamps = []

    def on_epoch_begin(self, epoch, logs=None):
        if self.mode == "train":
            self._begin()

    def on_train_batch_end(self, batch, logs=None):
        if self.mode == "train":
            self._step()

    def on_epoch_end(self, epoch, logs=None):
        if self.mode == "train":
            self._end()

    def on_test_begin(self, logs=None):
        if self.mode == "test":
            self._begin()

    def on_test_batch_end(self, batch, logs=None):
        if self.mode == "test":
            self._step()

    def on_test_end(self, logs=None):
        if self.mode == "test":
            self._end()

    @property
    def images_per_second(self):
        """float or None: images per second over the timed steps."""
        if not self.seconds:
            return None
        return self.images / self.seconds


class EpochRecorder(keras.callbacks.Callback):
    """Records the epochs that ran (a resumed run starts after 0).

    Example:

    ```python
    recorder = EpochRecorder()
    model.fit(ds, epochs=3, callbacks=[recorder])
    recorder.started  # [0, 1, 2]
    ```
    """

    def __init__(self):
        super().__init__()
        self.started = []
        self.finished = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started.append(int(epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.finished.append(int(epoch))


def dream_markdown(rows):
    """A markdown table of `dreamkeras.dreams.dream_texts` rows."""

    def cell(text):
        return (text or "(empty)").replace("|", "\\|").replace("\n", " ")

    count = max((len(row["dreams"]) for row in rows), default=0)
    header = "| original | " + " | ".join(f"dream {m + 1}" for m in range(count)) + " |"
    rule = "|---" * (count + 1) + "|"
    lines = [
        "| " + " | ".join(cell(t) for t in [row["original"], *row["dreams"]]) + " |"
        for row in rows
    ]
    return "\n".join([header, rule, *lines])


class DreamTextLogger(keras.callbacks.Callback):
    """Writes a text DreamNet's decoded dreams to TensorBoard after each epoch.

    Decodes the M reconstructions ("dreams", paper Table 1) of a few texts
    with `dreamkeras.dreams.dream_texts` and writes them as a markdown table
    in a text summary named `dreams` (TensorBoard's Text tab), one step per
    epoch.

    Args:
        logdir: str. TensorBoard log directory of the run.
        texts: list of str. Texts to dream about.
        preprocessor: the KerasHub text preprocessor of the model's preset.

    Example:

    ```python
    model.fit(ds, callbacks=[DreamTextLogger("runs/exp1", texts, preprocessor)])
    ```
    """

    def __init__(self, logdir, texts, preprocessor):
        super().__init__()
        self.logdir = logdir
        self.texts = list(texts)
        self.preprocessor = preprocessor
        self.last_rows = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        from dreamkeras.dreams import dream_texts

        self.last_rows = dream_texts(self.model, self.texts, self.preprocessor)
        writer = tf.summary.create_file_writer(os.path.join(self.logdir, "dreams"))
        with writer.as_default():
            tf.summary.text("dreams", dream_markdown(self.last_rows), step=epoch)
        writer.flush()
        writer.close()
