"""The containers of a labelled dataset: `LabelledDataset`, `ImageDataset`."""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass
class LabelledDataset:
    """A labelled dataset split into training and evaluation parts.

    The container of the loaders: `ImageDataset` holds images,
    `dreamkeras.text.TextDataset` texts.

    Attributes:
        name: str. The dataset's name, e.g. `"cifar100"`.
        train: `tf.data.Dataset` of unbatched `(example, label)` pairs,
            labels integer class indices.
        eval: `tf.data.Dataset` of the same kind, the held-out split.
        num_classes: int. Number of classes.
        eval_split: str. Name of the held-out split (`"test"`, `"validation"`).
        train_size: int or None. Number of training examples, when known.
        eval_size: int or None. Number of evaluation examples, when known.
        class_names: list of str or None.
        cache: bool. Whether the decoded examples fit in memory (cached once).
        synthetic: bool. True for generated data (`--fast-dev-run`).
        validation: `tf.data.Dataset` or None. The validation split (model
            selection, early stopping, the tuner's objective): the dataset's
            own, or carved from `train` by
            `dreamkeras.training.splits.with_validation`. `eval` is then
            the test split, read once at the end.
        validation_size: int or None. Its number of examples, when known.
        validation_split: str or None. Where it comes from, for the reports.

    Example:

    ```python
    data = dreamkeras.data.from_arrays(
        "toy", train_images, train_labels, test_images, test_labels, num_classes=10
    )
    small = data.take(100, 20)
    ```
    """

    name: str
    train: tf.data.Dataset
    eval: tf.data.Dataset
    num_classes: int
    eval_split: str = "test"
    train_size: int = None
    eval_size: int = None
    class_names: list = None
    cache: bool = True
    synthetic: bool = False
    validation: tf.data.Dataset = None
    validation_size: int = None
    validation_split: str = None

    def take(self, train_examples=None, eval_examples=None):
        """Returns a copy restricted to the first examples of each split.

        Args:
            train_examples: int or None. Training examples to keep.
            eval_examples: int or None. Test (and validation) examples to
                keep.

        Returns:
            A dataset of the same class.
        """
        train, train_size = self.train, self.train_size
        if train_examples:
            train = train.take(train_examples)
            train_size = min(train_examples, train_size or train_examples)
        evaluation, eval_size = self.eval, self.eval_size
        validation, validation_size = self.validation, self.validation_size
        if eval_examples:
            evaluation = evaluation.take(eval_examples)
            eval_size = min(eval_examples, eval_size or eval_examples)
            if validation is not None:
                validation = validation.take(eval_examples)
                validation_size = min(eval_examples, validation_size or eval_examples)
        return dataclasses.replace(
            self, train=train, eval=evaluation, train_size=train_size,
            eval_size=eval_size, validation=validation, validation_size=validation_size,
        )


@dataclasses.dataclass
class ImageDataset(LabelledDataset):
    """A `LabelledDataset` of images.

    `train` and `eval` hold `(image, label)` pairs, images `(height, width,
    channels)` with values in `[0, 255]`.

    Example:

    ```python
    data = dreamkeras.data.from_arrays(
        "toy", train_images, train_labels, test_images, test_labels, num_classes=10
    )
    ```
    """
