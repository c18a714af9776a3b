"""Builds the vision classifiers from names, for the apps and the benchmark."""

from dreamkeras.models.small_cnn import SmallCNN
from dreamkeras.models.vision_chain import ChainClassifier
from dreamkeras.models.vision_classifiers import DreamNet
from dreamkeras.models.vision_classifiers import SleepNet

MODEL_TYPES = ("sleepnet", "dreamnet", "baseline", "smallcnn")


def build_vision_classifier(
    model_type,
    encoder,
    num_classes,
    image_shape=None,
    num_blocks=3,
    chain="resnet18",
    width=64,
    stem="auto",
    projection="grid",
    mask_ratio=0.0,
    trainable_encoder=False,
    stop_gradient=False,
    remat=False,
    dropout=0.0,
    xla_cpu_kernels=None,
    head="pool",
    encoder_input="features",
    inference_mask_ratio=0.0,
    keep_visible=False,
):
    """Returns a SleepNet, DreamNet, chain baseline or small CNN.

    Args:
        model_type: `"sleepnet"`, `"dreamnet"`, `"baseline"` (the chain
            without connections) or `"smallcnn"` (`SmallCNN`, `width` filters
            in its first stage).
        encoder: str or model. Name for `dreamkeras.encoders.load_encoder`
            (SleepNet) or `load_autoencoder` (DreamNet), or the model already
            loaded. The baselines use it only for the default `image_shape`,
            so that comparisons see the same input.
        num_classes: int. Number of classes.
        image_shape: optional (int, int, int). Model input; defaults to the
            encoder's input size (the paper resizes images to it).
        stem: `"imagenet"`, `"cifar"`, or `"auto"` (default): `"cifar"`
            below 64 pixels, else `"imagenet"`.
        num_blocks, chain, width, projection, mask_ratio, trainable_encoder,
        stop_gradient, remat, dropout, xla_cpu_kernels, encoder_input: see
        `SleepNet`/`DreamNet`.
        inference_mask_ratio, keep_visible: DreamNet's dream options (see
            `DreamNet`); an error for the other models when set.
        head: `"pool"` (default), `"dense"` (see `ChainClassifier`), or
            `"auto"`: `"dense"` below 64 pixels, else `"pool"` (the apps'
            default; does not apply to the small CNN).

    Returns:
        A `keras.Model`.

    Example:

    ```python
    model = dreamkeras.models.build_vision_classifier(
        "dreamnet", "mae-tiny-32", num_classes=10, stem="cifar", width=16
    )
    ```
    """
    # Imported here: the encoder loader itself imports dreamkeras.models.
    from dreamkeras.encoders.loader import encoder_image_shape
    from dreamkeras.encoders.loader import load_autoencoder
    from dreamkeras.encoders.loader import load_encoder

    if model_type not in MODEL_TYPES:
        raise ValueError(
            f"`model_type` must be one of {MODEL_TYPES}. "
            f"Received: model_type={model_type!r}."
        )
    if model_type != "dreamnet" and (inference_mask_ratio or keep_visible):
        raise ValueError(
            f"`inference_mask_ratio` and `keep_visible` are DreamNet's options "
            f"(its dreams); model_type={model_type!r} has none."
        )

    def loaded(load):
        return load(encoder) if isinstance(encoder, str) else encoder

    if model_type == "dreamnet":
        encoder = loaded(load_autoencoder)
        image_shape = image_shape or tuple(encoder.image_shape)
    elif model_type == "sleepnet":
        encoder = loaded(load_encoder)
        image_shape = image_shape or tuple(encoder.image_shape)
    elif image_shape is None:
        image_shape = (
            encoder_image_shape(encoder)
            if isinstance(encoder, str)
            else tuple(encoder.image_shape)
        )
    if model_type == "smallcnn":
        return SmallCNN(
            num_classes, image_shape=tuple(image_shape), width=width, dropout=dropout
        )
    small = min(image_shape[:2]) < 64
    if stem == "auto":
        stem = "cifar" if small else "imagenet"
    if head == "auto":
        head = "dense" if small else "pool"
    common = dict(
        num_classes=num_classes,
        image_shape=tuple(image_shape),
        num_blocks=num_blocks,
        chain=chain,
        width=width,
        stem=stem,
        dropout=dropout,
        xla_cpu_kernels=xla_cpu_kernels,
        head=head,
    )
    if model_type == "baseline":
        return ChainClassifier(**common)
    connected = dict(
        projection=projection,
        mask_ratio=mask_ratio,
        trainable_encoder=trainable_encoder,
        stop_gradient=stop_gradient,
        remat=remat,
        encoder_input=encoder_input,
    )
    dream_options = dict(
        inference_mask_ratio=inference_mask_ratio, keep_visible=keep_visible
    )
    if model_type == "dreamnet":
        return DreamNet(encoder, **common, **connected, **dream_options)
    return SleepNet(encoder, **common, **connected)
