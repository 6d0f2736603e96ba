"""Zeroes the frames of a sequence batch that are padding."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlapps")
class FrameMask(keras.layers.Layer):
    """Sets frames at or beyond each sequence's count to zero.

    Takes `[features, counts]`: features `(batch, frames, ...)` and int32
    counts `(batch,)` (see `FrameCounts`). With every layer's padding
    frames zeroed, a convolution over a padded batch sees exactly what it
    sees over one clip on its own (zero padding), so batch padding cannot
    change a clip's output. With `as_mask=True` it returns the boolean
    `(batch, frames)` mask instead, for recurrent layers' `mask=`.

    Example:

    >>> x = np.ones((1, 4, 2), "float32")
    >>> FrameMask()([x, np.array([2])]).numpy()[0, :, 0]
    array([1., 1., 0., 0.], dtype=float32)
    """

    def __init__(self, as_mask=False, **kwargs):
        super().__init__(**kwargs)
        self.as_mask = as_mask

    def call(self, inputs):
        features, counts = inputs
        mask = tf.sequence_mask(counts, tf.shape(features)[1])
        if self.as_mask:
            return mask
        shape = tf.concat([tf.shape(mask), tf.ones([tf.rank(features) - 2], tf.int32)], 0)
        return features * tf.reshape(tf.cast(mask, features.dtype), shape)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_spec(self, inputs):
        features = inputs[0]
        if self.as_mask:
            return keras.KerasTensor(features.shape[:2], dtype="bool")
        return keras.KerasTensor(features.shape, dtype=features.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(as_mask=self.as_mask)
        return config
