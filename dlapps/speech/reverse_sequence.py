"""Reverses each sequence of a padded batch within its own length."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlapps")
class ReverseSequence(keras.layers.Layer):
    """`tf.reverse_sequence` of `[sequences, counts]` along time; padding stays at the end.

    The backward half of a bidirectional recurrence over a padded batch:
    reversed this way, a masked forward GRU reads each sequence from its
    last real frame, with or without unrolling (Keras' `Bidirectional`
    with a mask gives a different result once unrolled for TFLite), and
    TFLite runs it as the builtin REVERSE_SEQUENCE op.

    Example:

    >>> x = np.arange(4, dtype="float32").reshape(1, 4, 1)
    >>> ReverseSequence()([x, np.array([3])]).numpy()[0, :, 0]
    array([2., 1., 0., 3.], dtype=float32)
    """

    def call(self, inputs):
        sequences, counts = inputs
        return tf.reverse_sequence(sequences, counts, seq_axis=1, batch_axis=0)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs[0].shape, dtype=inputs[0].dtype)
