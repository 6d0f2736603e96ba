"""How many feature frames of each clip in a zero-padded batch are real audio."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlapps")
class FrameCounts(keras.layers.Layer):
    """Counts the frames of each waveform that hold audio, not batch padding.

    A clip's length is the position of its last non-zero sample: zeros
    appended to make a batch rectangular (or to reach a fixed length) are
    not audio, so they add no frames. The count is that of
    `tf.signal.frame(clip, frame_length, frame_step)` divided by
    `downsample` (rounded up), as a stack of stride-2 layers with
    "same"-style padding gives.

    Args:
        frame_length, frame_step: the spectrogram's framing, in samples.
        downsample: total stride of the layers after the spectrogram.

    Example:

    >>> waveforms = np.zeros((2, 16000), "float32")
    >>> waveforms[0, :8000] = 0.1
    >>> FrameCounts(400, 160, downsample=4)(waveforms).numpy()
    array([12,  0], dtype=int32)
    """

    def __init__(self, frame_length=400, frame_step=160, downsample=1, **kwargs):
        super().__init__(**kwargs)
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.downsample = downsample

    def call(self, waveforms):
        nonzero = tf.cast(tf.not_equal(waveforms, 0.0), tf.int32)
        positions = tf.range(1, tf.shape(waveforms)[1] + 1, dtype=tf.int32)
        lengths = tf.reduce_max(nonzero * positions[None], axis=1)
        frames = tf.maximum((lengths - self.frame_length) // self.frame_step + 1, 0)
        return (frames + self.downsample - 1) // self.downsample

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def compute_output_spec(self, waveforms):
        return keras.KerasTensor((waveforms.shape[0],), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(
            frame_length=self.frame_length,
            frame_step=self.frame_step,
            downsample=self.downsample,
        )
        return config
