"""Convolutional backbones built from scratch (no weights to download).

Each backbone maps a float image batch in 0..1 to a feature map; the
classifier in `image_classifier.py` adds pooling and the class head.
"""

import keras

BACKBONES = ("small_cnn", "mobilenet_v2")

# Keras' default 0.99 leaves the moving statistics far from the data after the
# few hundred steps a small dataset gives; 0.9 tracks them within ~50 steps.
BATCH_NORM_MOMENTUM = 0.9


def _conv_block(x, filters, kernel_size=3, strides=1, name=None):
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def small_cnn_filters(image_size):
    """Stage widths of `small_cnn` for an image size: one stage per doubling above 16 pixels.

    Two stages (32, 64) for 16x16 digits; a third (128) from 48 pixels up and
    a fourth (256) from 96, so the receptive field (about 22 pixels after two
    stages, 46 after three, 94 after four) keeps covering a whole object
    instead of a corner of it.

    Example:

    >>> small_cnn_filters((16, 16)), small_cnn_filters((64, 64))
    ((32, 64), (32, 64, 128))
    """
    side = min(image_size)
    stages = 2 + (side >= 48) + (side >= 96)
    return (32, 64, 128, 256)[:stages]


def small_cnn(inputs, filters=(32, 64), top_filters=None):
    """A VGG-style CNN: two 3x3 conv-BN-ReLU per stage, max-pooling between.

    Small and quick to train on a CPU; 0.99 test accuracy on the 8x8 digits.

    Args:
        inputs: a Keras tensor `(batch, height, width, channels)`.
        filters: channels of each stage; each stage halves the resolution.
        top_filters: channels of the last 3x3 convolution (default: twice
            the last stage's).

    Example:

    >>> inputs = keras.Input((16, 16, 1))
    >>> keras.Model(inputs, small_cnn(inputs)).output_shape
    (None, 4, 4, 128)
    """
    x = inputs
    for stage, stage_filters in enumerate(filters):
        x = _conv_block(x, stage_filters, name=f"stage{stage}_block0")
        x = _conv_block(x, stage_filters, name=f"stage{stage}_block1")
        x = keras.layers.MaxPooling2D(name=f"stage{stage}_pool")(x)
    return _conv_block(x, top_filters or 2 * filters[-1], name="top")


def _make_divisible(value, divisor=8):
    # MobileNet keeps channel counts multiples of 8 for efficient kernels.
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _inverted_residual(x, expansion, filters, strides, name, norm=None):
    # `norm`: the batch-norm layer class (the detector passes its fused one).
    norm = norm or keras.layers.BatchNormalization
    in_channels = x.shape[-1]
    shortcut = x
    if expansion != 1:
        x = keras.layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f"{name}_expand")(
            x
        )
        x = norm(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_expand_bn")(x)
        x = keras.layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    x = keras.layers.DepthwiseConv2D(
        3, strides=strides, padding="same", use_bias=False, name=f"{name}_depthwise"
    )(x)
    x = norm(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_depthwise_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
    x = norm(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_project_bn")(x)
    if strides == 1 and in_channels == filters:
        x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return x


# (expansion, output channels, repeats, first stride), as in Sandler et al. 2018.
_MOBILENET_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mobilenet_v2(inputs, width_multiplier=1.0):
    """MobileNetV2: inverted residual blocks with linear bottlenecks.

    The architecture of Sandler et al. (2018), trained from scratch. The
    width multiplier scales every layer's channels (0.35 to 1.4 in the
    paper). For images under 64 pixels the stem keeps full resolution,
    since five stride-2 stages would shrink a 32x32 image to 1x1.

    Args:
        inputs: a Keras tensor `(batch, height, width, channels)`.
        width_multiplier: channel scale, > 0. Defaults to 1.0.

    Example:

    >>> inputs = keras.Input((32, 32, 3))
    >>> keras.Model(inputs, mobilenet_v2(inputs, 0.35)).output_shape
    (None, 2, 2, 1280)
    """
    if width_multiplier <= 0:
        raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}")
    small_input = inputs.shape[1] is not None and inputs.shape[1] < 64
    x = _conv_block(
        inputs,
        _make_divisible(32 * width_multiplier),
        strides=1 if small_input else 2,
        name="stem",
    )
    block = 0
    for expansion, channels, repeats, stride in _MOBILENET_V2_STAGES:
        for repeat in range(repeats):
            x = _inverted_residual(
                x,
                expansion,
                _make_divisible(channels * width_multiplier),
                stride if repeat == 0 else 1,
                name=f"block{block}",
            )
            block += 1
    # As in the paper, the last layer does not shrink below 1280 channels.
    top_channels = _make_divisible(1280 * max(1.0, width_multiplier))
    return _conv_block(x, top_channels, kernel_size=1, name="top")
