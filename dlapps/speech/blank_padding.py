"""Makes a CTC model predict the blank on the frames that are padding."""

import keras
import tensorflow as tf

# Blank logit margin on padded frames: p(blank) = 1 - 28 e^-30, about 1 - 3e-12.
BLANK_MARGIN = 30.0


@keras.saving.register_keras_serializable(package="dlapps")
class BlankPadding(keras.layers.Layer):
    """Replaces the logits of padded frames with a certain CTC blank.

    Takes `[logits, counts]`: `(batch, frames, classes)` logits (class 0 is
    the blank) and the real frames of each sequence. Every later step
    (CTC loss over all frames, greedy or beam-search decoding) then works
    on the padded batch unchanged: blanks add no characters and cost
    nothing in the loss.

    Example:

    >>> logits = np.zeros((1, 3, 4), "float32")
    >>> BlankPadding()([logits, np.array([1])]).numpy().argmax(-1)
    array([[0, 0, 0]])
    """

    def call(self, inputs):
        logits, counts = inputs
        mask = tf.sequence_mask(counts, tf.shape(logits)[1])[..., None]
        classes = tf.shape(logits)[-1]
        blank = tf.one_hot(0, classes, on_value=BLANK_MARGIN, off_value=0.0, dtype=logits.dtype)
        return tf.where(mask, logits, tf.zeros_like(logits) + blank)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs[0].shape, dtype=inputs[0].dtype)
