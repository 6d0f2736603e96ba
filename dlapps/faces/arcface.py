"""ArcFace: cosine logits over the training people, and the additive angular margin loss."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dlapps")
class CosineHead(keras.layers.Layer):
    """Cosine similarity of L2-normalised embeddings to one learned centre per training person.

    The outputs are `cos(theta_j)` in [-1, 1]; `ArcFaceLoss` adds the margin
    and the scale. Only training uses it: the exported model is the
    embedder, which recognises people this head never had a class for.

    Args:
        num_classes: number of training people.

    Example:

    >>> head = CosineHead(num_classes=10)
    >>> head(keras.ops.ones((2, 128)) / 128**0.5).shape
    (2, 10)
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def build(self, input_shape):
        self.centres = self.add_weight(
            name="centres",
            shape=(input_shape[-1], self.num_classes),
            initializer="glorot_normal",
        )

    def call(self, embeddings):
        embeddings = ops.normalize(embeddings, axis=-1)
        centres = ops.normalize(self.centres, axis=0)
        return ops.clip(ops.matmul(embeddings, centres), -1.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="dlapps")
class ArcFaceLoss(keras.losses.Loss):
    """Additive angular margin loss (Deng et al., ArcFace, 2019) on `CosineHead` outputs.

    The true person's logit becomes `scale * cos(theta + margin)`, the others
    `scale * cos(theta)`, then softmax cross-entropy: an embedding must be
    `margin` radians closer to its own centre than to any other, which
    separates unseen people too. Where `theta + margin` would pass pi the
    logit falls back to `cos(theta) - margin * sin(margin)`, keeping it
    monotonic in `theta`.

    Args:
        scale: the logit scale `s` (ArcFace uses 64; 30 suits few classes).
        margin: the angular margin `m` in radians (ArcFace uses 0.5).

    Example:

    >>> loss = ArcFaceLoss(scale=30.0, margin=0.3)
    >>> float(loss(keras.ops.array([0]), keras.ops.array([[0.9, 0.1]]))) > 0
    True
    """

    def __init__(self, scale=30.0, margin=0.3, name="arcface", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = float(scale)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        cosine = ops.cast(y_pred, "float32")
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(cosine)[-1])
        sine = ops.sqrt(ops.maximum(1.0 - cosine**2, 1e-7))
        with_margin = cosine * math.cos(self.margin) - sine * math.sin(self.margin)
        with_margin = ops.where(
            cosine > math.cos(math.pi - self.margin),
            with_margin,
            cosine - self.margin * math.sin(self.margin),
        )
        logits = self.scale * (one_hot * with_margin + (1.0 - one_hot) * cosine)
        return keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "margin": self.margin}
