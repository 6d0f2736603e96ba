"""SpecAugment: random time and frequency masks on spectrograms while training."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlapps")
class SpecAugment(keras.layers.Layer):
    """Masks random bands of frequencies and spans of time, in training only.

    SpecAugment (Park et al., 2019) zeroes `frequency_masks` bands of up to
    `frequency_width` mel bins and `time_masks` spans of up to `time_width`
    frames per example. The model cannot rely on any one band or moment, so
    it learns cues that carry over to voices and recordings it has not
    heard. Masked values are 0, the mean of normalised features. At
    inference it is the identity.

    Args:
        frequency_masks, frequency_width: bands masked and their widest.
        time_masks, time_width: time spans masked and their longest (frames).

    Example:

    >>> layer = SpecAugment()
    >>> x = np.ones((2, 100, 40, 1), "float32")
    >>> float(layer(x, training=False).numpy().mean())
    1.0
    """

    def __init__(self, frequency_masks=2, frequency_width=8, time_masks=2, time_width=10, **kwargs):
        super().__init__(**kwargs)
        self.frequency_masks = frequency_masks
        self.frequency_width = frequency_width
        self.time_masks = time_masks
        self.time_width = time_width

    def call(self, features, training=False):
        if not training:
            return features
        shape = tf.shape(features)
        batch, frames, bins = shape[0], shape[1], shape[2]
        keep = tf.ones([batch, frames, bins], features.dtype)
        for axis, count, width in (
            (2, self.frequency_masks, self.frequency_width),
            (1, self.time_masks, self.time_width),
        ):
            size = bins if axis == 2 else frames
            for _ in range(count):
                widths = tf.random.uniform([batch, 1], 0, width + 1, tf.int32)
                room = tf.cast(tf.maximum(size - widths, 1), tf.float32)
                starts = tf.cast(tf.random.uniform([batch, 1]) * room, tf.int32)
                positions = tf.range(size)[None]
                masked = tf.logical_and(positions >= starts, positions < starts + widths)
                masked = masked[:, None, :] if axis == 2 else masked[:, :, None]
                keep *= 1.0 - tf.cast(masked, features.dtype)
        return features * keep[..., None] if features.shape.rank == 4 else features * keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            frequency_masks=self.frequency_masks,
            frequency_width=self.frequency_width,
            time_masks=self.time_masks,
            time_width=self.time_width,
        )
        return config
