"""Loss and accuracy over target tokens that ignore the padding."""

import keras

from dlapps.translation.tokenizer import PAD_ID


@keras.saving.register_keras_serializable(package="dlapps")
class MaskedCrossEntropy(keras.losses.Loss):
    """Cross-entropy on logits, averaged over real tokens only (padding ignored).

    Args:
        label_smoothing: moves this much probability mass from the reference
            token to all tokens evenly; a little (0.1) regularises large
            models, none suits exact outputs such as numbers.

    Example:

    >>> loss = MaskedCrossEntropy(label_smoothing=0.1)
    >>> float(loss(np.array([[5, 0]]), np.zeros((1, 2, 8))))  # one real token
    2.07...
    """

    def __init__(self, label_smoothing=0.0, name="masked_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, "int32")
        vocabulary_size = keras.ops.shape(y_pred)[-1]
        targets = keras.ops.one_hot(y_true, vocabulary_size)
        if self.label_smoothing:
            targets = targets * (1 - self.label_smoothing) + self.label_smoothing / vocabulary_size
        losses = keras.ops.categorical_crossentropy(targets, y_pred, from_logits=True)
        mask = keras.ops.cast(keras.ops.not_equal(y_true, PAD_ID), losses.dtype)
        # One value per sentence: the mean over its tokens.
        return keras.ops.sum(losses * mask, axis=-1) / keras.ops.maximum(
            keras.ops.sum(mask, axis=-1), 1.0
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="dlapps")
def masked_accuracy(y_true, y_pred):
    """Fraction of real (non-padding) target tokens predicted exactly, per sentence."""
    y_true = keras.ops.cast(y_true, "int32")
    predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
    mask = keras.ops.cast(keras.ops.not_equal(y_true, PAD_ID), "float32")
    correct = keras.ops.cast(keras.ops.equal(predicted, y_true), "float32") * mask
    return keras.ops.sum(correct, axis=-1) / keras.ops.maximum(keras.ops.sum(mask, axis=-1), 1.0)
