"""The vision application: image classification with CNNs, from scratch or ImageNet-pretrained.

Example:

>>> from dlapps import vision
>>> data = vision.load_digits()
>>> model = vision.build_image_classifier(10, image_size=(16, 16), channels=1)
"""

from dlapps.vision.backbones import BACKBONES, mobilenet_v2, small_cnn
from dlapps.vision.data import (
    ImageData,
    load_digits,
    load_image_data,
    load_image_folder,
    load_tfds,
    to_dataset,
)
from dlapps.vision.efficientnet_lite import EfficientNetLite
from dlapps.vision.image_classifier import build_image_classifier, image_augmentation
from dlapps.vision.image_preprocessor import ImagePreprocessor, resize_images
from dlapps.vision.pretrained_backbones import (
    PRETRAINED_BACKBONES,
    build_pretrained_backbone,
    freeze,
    unfreeze_top,
)
from dlapps.vision.vision_app import VisionApp

__all__ = [
    "BACKBONES",
    "PRETRAINED_BACKBONES",
    "EfficientNetLite",
    "build_pretrained_backbone",
    "freeze",
    "unfreeze_top",
    "ImageData",
    "ImagePreprocessor",
    "VisionApp",
    "build_image_classifier",
    "image_augmentation",
    "load_digits",
    "load_image_data",
    "load_image_folder",
    "load_tfds",
    "mobilenet_v2",
    "resize_images",
    "small_cnn",
    "to_dataset",
]
