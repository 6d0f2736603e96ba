"""The object detector: a MobileNetV2-style backbone, a small FPN and an anchor-free head.

A single-stage, anchor-free design in the FCOS/GFL family (Tian et al.
2019, Li et al. 2020): every location of three feature maps (strides 8, 16
and 32) predicts one logit per class and four distances to the sides of
its box (top, left, bottom, right). There are no anchor boxes to tune, and
the whole post-processing is a decode and one NMS (`detection_postprocess`).

- Backbone: inverted residual blocks (Sandler et al. 2018) with ReLU6,
  from scratch, `width_multiplier` scaling every layer's channels.
- Neck: a feature pyramid (Lin et al. 2017): 1x1 laterals, top-down
  nearest upsampling and addition, one depthwise-separable 3x3 per level.
- Head: shared over the levels, two depthwise-separable 3x3 blocks, then a
  class conv (bias at the 0.01 prior, so early training is not swamped by
  the background) and a box conv.

The model takes the letterboxed uint8 image and returns
`(batch, locations, 4 + classes)` raw outputs: box distances (before ReLU,
in strides) then class logits, the two kept apart up to that last
concatenation (`inference_outputs` gives them as two tensors).
"""

import math

import keras

from dlapps.vision.backbones import BATCH_NORM_MOMENTUM, _inverted_residual, _make_divisible
from dlapps.vision.fused_batch_norm import FusedBatchNormalization

STRIDES = (8, 16, 32)
DETECTOR_MODELS = {
    # name -> (backbone width multiplier, FPN/head channels)
    "mobiledet_s": (0.35, 48),
    "mobiledet": (0.5, 64),
    "mobiledet_l": (1.0, 96),
    # ImageNet-pretrained EfficientNet-Lite0 (the ends of its stride 8, 16, 32 stages).
    "efficientnet_lite0": (None, 64),
}
PRETRAINED_DETECTORS = ("efficientnet_lite0",)
_LITE0_FEATURES = ("block4_add", "block10_add", "block15_project_bn")
BOX_OUTPUTS = "box_outputs"
CLASS_OUTPUTS = "class_outputs"

# (expansion, channels, repeats, first stride): MobileNetV2 up to stride 32,
# with a lighter expansion in the high-resolution stages (most of the CPU time).
_STAGES = (
    (1, 16, 1, 1),
    (4, 24, 2, 2),  # stride 4
    (4, 32, 3, 2),  # stride 8  -> C3
    (6, 64, 3, 2),  # stride 16
    (6, 96, 2, 1),  # stride 16 -> C4
    (6, 160, 3, 2),  # stride 32 -> C5
)
_OUTPUT_BLOCKS = (5, 10, 13)  # index of the last block of each returned stage


def _separable(x, filters, name):
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = FusedBatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = FusedBatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_pw_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_pw_relu")(x)


def detector_backbone(inputs, width_multiplier=0.5):
    """Feature maps at strides 8, 16 and 32 of a MobileNetV2-style network.

    Example:

    >>> inputs = keras.Input((64, 64, 3))
    >>> [f.shape[1] for f in detector_backbone(inputs)]
    [8, 4, 2]
    """
    x = keras.layers.Conv2D(
        _make_divisible(32 * width_multiplier),
        3,
        strides=2,
        padding="same",
        use_bias=False,
        name="stem_conv",
    )(inputs)
    x = FusedBatchNormalization(momentum=BATCH_NORM_MOMENTUM, name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu")(x)
    features, block = [], 0
    for expansion, channels, repeats, stride in _STAGES:
        for repeat in range(repeats):
            x = _inverted_residual(
                x,
                expansion,
                _make_divisible(channels * width_multiplier),
                stride if repeat == 0 else 1,
                name=f"block{block}",
                norm=FusedBatchNormalization,
            )
            if block in _OUTPUT_BLOCKS:
                features.append(x)
            block += 1
    return features


def pretrained_features(image_size, weights="imagenet"):
    """EfficientNet-Lite0 (ImageNet weights) as a model returning its stride 8, 16, 32 maps.

    The model is named "backbone"; its batch norms keep ImageNet's statistics
    while it is frozen (see `dlapps.vision.pretrained_backbones.freeze`).
    """
    from dlapps.vision.efficientnet_lite import EfficientNetLite
    from dlapps.vision.efficientnet_lite_weights import load_weights

    network = EfficientNetLite(0, input_shape=(image_size, image_size, 3))
    if weights not in (None, "", "none"):
        load_weights(network, weights)
    outputs = [network.get_layer(name).output for name in _LITE0_FEATURES]
    return keras.Model(network.inputs, outputs, name="backbone")


def build_detector(
    num_classes, image_size=320, model="mobiledet", width_multiplier=None, weights="imagenet"
):
    """Builds the detector on letterboxed uint8 images of `image_size` squared.

    Args:
        num_classes: number of object classes (1 is fine: a face detector).
        image_size: side of the square input, a multiple of 32.
        model: one of `DETECTOR_MODELS`.
        width_multiplier: overrides the model's backbone width.
        weights: pretrained models: "imagenet", "none" or a `.pth` state dict.

    Returns:
        A `keras.Model` `uint8 (batch, S, S, 3)` -> float32
        `(batch, locations, 4 + num_classes)`.

    Example:

    >>> detector = build_detector(num_classes=2, image_size=64)
    >>> detector.output_shape
    (None, 84, 6)
    """
    if model not in DETECTOR_MODELS:
        raise ValueError(f"unknown detector {model!r}: choose one of {', '.join(DETECTOR_MODELS)}")
    width, channels = DETECTOR_MODELS[model]
    width = width_multiplier or width
    inputs = keras.Input((image_size, image_size, 3), dtype="uint8", name="images")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    if model in PRETRAINED_DETECTORS:
        c3, c4, c5 = pretrained_features(image_size, weights)(x)
    else:
        c3, c4, c5 = detector_backbone(x, width)
    laterals = [
        keras.layers.Conv2D(channels, 1, name=f"fpn_lateral{level}")(feature)
        for level, feature in zip((3, 4, 5), (c3, c4, c5), strict=True)
    ]
    p5 = laterals[2]
    p4 = keras.layers.Add(name="fpn_add4")(
        [laterals[1], keras.layers.UpSampling2D(name="fpn_up5")(p5)]
    )
    p3 = keras.layers.Add(name="fpn_add3")(
        [laterals[0], keras.layers.UpSampling2D(name="fpn_up4")(p4)]
    )
    levels = [
        _separable(p, channels, f"fpn_out{i}") for i, p in zip((3, 4, 5), (p3, p4, p5), strict=True)
    ]

    # One head shared by the three levels (the same layers called on each).
    head = [
        keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="head_dw0"),
        keras.layers.Conv2D(channels, 1, activation="relu6", name="head_pw0"),
        keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="head_dw1"),
        keras.layers.Conv2D(channels, 1, activation="relu6", name="head_pw1"),
    ]
    prior = 0.01
    class_conv = keras.layers.Conv2D(
        num_classes,
        1,
        bias_initializer=keras.initializers.Constant(-math.log((1 - prior) / prior)),
        name="head_classes",
    )
    # Distances start at ~2 strides, inside the ReLU's active range.
    box_conv = keras.layers.Conv2D(
        4, 1, bias_initializer=keras.initializers.Constant(2.0), name="head_boxes"
    )
    box_outputs, class_outputs = [], []
    for level, feature in zip((3, 4, 5), levels, strict=True):
        y = feature
        for layer in head:
            y = layer(y)
        box_outputs.append(keras.layers.Reshape((-1, 4), name=f"boxes{level}")(box_conv(y)))
        class_outputs.append(
            keras.layers.Reshape((-1, num_classes), name=f"classes{level}")(class_conv(y))
        )
    # Boxes and class logits stay separate tensors until the very end: their ranges differ
    # (distances in strides vs logits), and a full-int8 file quantizes each tensor with one
    # scale (see `inference_outputs`). The training output concatenates them for the loss.
    box_outputs = keras.layers.Concatenate(axis=1, name=BOX_OUTPUTS)(box_outputs)
    class_outputs = keras.layers.Concatenate(axis=1, name=CLASS_OUTPUTS)(class_outputs)
    outputs = keras.layers.Concatenate(axis=-1, name="outputs", dtype="float32")(
        [box_outputs, class_outputs]
    )
    return keras.Model(inputs, outputs, name=model)


def inference_outputs(detector):
    """The detector with two outputs: box distances `(batch, L, 4)`, class logits `(batch, L, C)`.

    The same layers and weights as `detector` without its last concatenation:
    the exported graphs decode from these, so a full-int8 file gives each
    its own quantization scale instead of one scale for both ranges.

    Example:

    >>> boxes, logits = inference_outputs(build_detector(num_classes=2, image_size=64)).outputs
    >>> tuple(boxes.shape), tuple(logits.shape)
    ((None, 84, 4), (None, 84, 2))
    """
    return keras.Model(
        detector.inputs,
        [detector.get_layer(BOX_OUTPUTS).output, detector.get_layer(CLASS_OUTPUTS).output],
        name=f"{detector.name}_outputs",
    )
