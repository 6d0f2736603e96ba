"""An embedder on an ImageNet-pretrained EfficientNet-Lite0: for small folders of real photos."""

import keras

from dlapps.vision.image_preprocessor import ImagePreprocessor
from dlapps.vision.pretrained_backbones import build_pretrained_backbone


def build_pretrained_embedder(
    image_size=(224, 224),
    embedding_dim=128,
    backbone="efficientnet_lite0",
    weights="imagenet",
    name="embedder",
):
    """The embedder on a pretrained backbone: pixels 0..255 -> L2-normalised embedding.

    With a few dozen people, features learned on ImageNet (edges, textures,
    parts) separate faces better than a network trained from scratch on a
    few hundred photos; the margin loss then trains a new embedding layer on
    them, and later phases fine-tune the top blocks.

    Example:

    >>> embedder = build_pretrained_embedder((224, 224))
    >>> embedder.get_layer("backbone").trainable = False
    """
    inputs = keras.Input((*image_size, 3), name="pixels")
    x = ImagePreprocessor(image_size, name="preprocessor")(inputs)
    x = build_pretrained_backbone(backbone, image_size, weights)(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    x = keras.layers.Dense(embedding_dim, use_bias=False, name="embedding_dense")(x)
    x = keras.layers.BatchNormalization(name="embedding_bn")(x)
    outputs = keras.layers.UnitNormalization(name="embeddings")(x)
    return keras.Model(inputs, outputs, name=name)
