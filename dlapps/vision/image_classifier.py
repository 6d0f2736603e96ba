"""The image classifier: preprocessing, augmentation, backbone and class head."""

import keras

from dlapps.vision import backbones
from dlapps.vision.image_preprocessor import ImagePreprocessor
from dlapps.vision.pretrained_backbones import PRETRAINED_BACKBONES, build_pretrained_backbone


def image_augmentation(flip=False, translation=0.1, rotation=0.04, zoom=0.1, fill_mode="constant"):
    """Random geometric augmentation, active only while training.

    Keras' random preprocessing layers pass images through unchanged at
    inference, so they can stay inside the exported model.

    Args:
        flip: also flip left-right (right for photos, wrong for digits).
        translation: largest shift, as a fraction of height and width.
        rotation: largest rotation, as a fraction of a full turn.
        zoom: largest zoom in or out, as a fraction.
        fill_mode: what fills the pixels a shift, turn or zoom-out uncovers:
            "constant" (black) suits drawings on a plain ground, "reflect"
            (the image mirrored at its edge) suits photos, whose edges go on.
    """
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal"))
    if translation:
        layers.append(keras.layers.RandomTranslation(translation, translation, fill_mode=fill_mode))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode=fill_mode))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode=fill_mode))
    return keras.Sequential(layers, name="augmentation")


def build_image_classifier(
    num_classes,
    image_size,
    channels,
    backbone="small_cnn",
    width_multiplier=1.0,
    augment=True,
    flip=False,
    dropout=0.3,
    weights="imagenet",
    cnn_filters=None,
):
    """Builds a classifier that takes raw uint8 pixels of any size.

    Layers, in order: `ImagePreprocessor` (cast, resize to `image_size`,
    scale to 0..1), augmentation (training only), the backbone, global
    average pooling, dropout and a softmax over the classes. A pretrained
    backbone (`pretrained_backbones.PRETRAINED_BACKBONES`) is one nested
    layer named "backbone"; it normalises its input the way its weights
    were trained, and greyscale images are repeated to three channels.

    Args:
        num_classes: number of classes, >= 2.
        image_size: `(height, width)` the backbone sees.
        channels: 1 for greyscale, 3 for RGB.
        backbone: one of `backbones.BACKBONES` (from scratch) or
            `PRETRAINED_BACKBONES`. Defaults to "small_cnn".
        width_multiplier: channel scale for "mobilenet_v2".
        augment: add random translation, rotation and zoom (for a pretrained
            backbone, which is for photos: more zoom, mirrored edges).
        flip: add random left-right flips.
        dropout: dropout rate before the classifier head.
        weights: for a pretrained backbone: "imagenet", "none" or a `.pth`
            path (see `build_pretrained_backbone`).
        cnn_filters: stage widths of "small_cnn" (default: sized to
            `image_size` by `backbones.small_cnn_filters`).

    Returns:
        An uncompiled `keras.Model` from uint8 `(batch, H, W, channels)` to
        class probabilities `(batch, num_classes)`.

    Example:

    >>> model = build_image_classifier(10, image_size=(16, 16), channels=1)
    >>> model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    >>> model.predict(np.zeros((2, 8, 8, 1), "uint8"), verbose=0).shape
    (2, 10)
    """
    choices = (*backbones.BACKBONES, *PRETRAINED_BACKBONES)
    if backbone not in choices:
        raise ValueError(f"unknown backbone {backbone!r}: choose one of {', '.join(choices)}")
    # Layers.
    inputs = keras.Input((None, None, channels), dtype="uint8", name="images")
    x = ImagePreprocessor(image_size, name="preprocessor")(inputs)
    if augment and backbone in PRETRAINED_BACKBONES:
        # Photos: zoom up to 30% in or out (a user's photos frame their subject at
        # any scale), edges mirrored rather than black (measured: vision_transfer
        # in benchmarks/run.py, held-out regions of real photographs).
        x = image_augmentation(flip=flip, zoom=0.3, fill_mode="reflect")(x)
    elif augment:
        x = image_augmentation(flip=flip)(x)
    if backbone in PRETRAINED_BACKBONES:
        if channels == 1:
            x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
        features = build_pretrained_backbone(backbone, image_size, weights)(x)
    elif backbone == "small_cnn":
        filters = cnn_filters or backbones.small_cnn_filters(image_size)
        features = backbones.small_cnn(x, filters=tuple(filters))
    else:
        features = backbones.mobilenet_v2(x, width_multiplier)
    # Head.
    x = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    # Softmax in float32 even under a mixed-precision policy, for stable probabilities.
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name=f"image_classifier_{backbone}")
