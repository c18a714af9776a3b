"""Errors raised by the data loaders and the input pipeline."""


class DataError(ValueError):
    """Bad data: labels out of range, unusable channels, a malformed folder.

    Example:

    ```python
    try:
        dreamkeras.data.validate_labels([0, 7], num_classes=5)
    except dreamkeras.data.DataError as error:
        print(error)
    ```
    """


class DataUnavailableError(DataError):
    """A dataset could not be found or downloaded.

    The message names the command-line flag (usually `--data-dir`) that points
    the apps at a local copy.

    Example:

    ```python
    try:
        dreamkeras.data.load_tiny_imagenet("/does/not/exist")
    except dreamkeras.data.DataUnavailableError as error:
        print(error)
    ```
    """
