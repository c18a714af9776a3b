"""The smallest real run of the training engine, for the crash-safety tests.

`python -m tests.crash_child FOLDER [flags]` runs the engine
(`dreamkeras.training.train`) on the vision app's configuration with a tiny
task: a one-layer classifier on 32 random 8x8 images, 2 epochs of 2 steps,
validation on 8 more each epoch, a test split of 8, the apps' evaluation, `.keras` save, reload check and
report. Everything the engine does (lock, backup, best checkpoint, atomic
writes, kill points) runs as in the apps; only the model and the data are
tiny, so a child process costs little more than its imports. The tests set
`DREAMKERAS_TEST_KILL_AT` to kill it at a named point.
"""

import sys


def config_argv(folder, extra=()):
    """The flags of the tiny run writing into `folder` (`run.keras`, `logs/`)."""
    return [
        "--fast-dev-run", "--model", "baseline", "--verbose", "0",
        "--output", f"{folder}/run.keras", "--logdir", f"{folder}/logs", *extra,
    ]


def tiny_config(folder, extra=()):
    """The `RunConfig` of the tiny run (the vision app's builder)."""
    from dreamkeras_cli import commands

    return commands.run_config("cifar100", config_argv(folder, extra))


class TinyTask:
    """A classifier task of the engine: Dense on 8x8x3 random images, 4 classes."""

    unit = "images"
    divergence_advice = "Lower --lr."

    def prepare(self, config, scope):
        import keras
        import numpy as np
        import tensorflow as tf

        from dreamkeras.data import ImageDataset
        from dreamkeras.training import classifier

        rng = np.random.default_rng(0)
        images = rng.random((48, 8, 8, 3), dtype=np.float32)
        labels = keras.utils.to_categorical(rng.integers(0, 4, 48), 4)
        batch = config.schedule.batch_size

        def part(start, stop):
            return tf.data.Dataset.from_tensor_slices(
                (images[start:stop], labels[start:stop])
            )

        train_ds = part(0, 32).shuffle(32, seed=config.schedule.seed).repeat().batch(batch)
        validation_ds = part(32, 40).batch(batch)  # picks the best epoch
        eval_ds = part(40, 48).batch(batch)  # the test split, read once at the end
        data = ImageDataset(
            name="tiny", train=None, eval=None, num_classes=4, train_size=32,
            eval_size=8, synthetic=True, validation_size=8,
            validation_split="the last 8 of 40",
        )
        with scope:
            inputs = keras.Input((8, 8, 3))
            outputs = keras.layers.Dense(4, activation="softmax", name="predictions")(
                keras.layers.Flatten()(inputs)
            )
            model = keras.Model(inputs, outputs)
            model.compile(
                optimizer=keras.optimizers.Adam(config.optimizer.lr),
                loss="categorical_crossentropy", metrics=["accuracy"],
            )
        return classifier.classifier_run(
            config, self.unit, model, data, train_ds, eval_ds, lines=[], report={},
            validation_ds=validation_ds,
        )


def main(argv):
    from dreamkeras_cli.runner import run_guarded

    folder, extra = argv[0], argv[1:]

    def run():
        from dreamkeras.training import train

        train(tiny_config(folder, extra), task=TinyTask())

    return run_guarded(run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
