"""Per-utterance mean normalisation of log-mel features (cepstral mean normalisation)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlapps")
class UtteranceNorm(keras.layers.Layer):
    """Subtracts each clip's mean log-mel energy per band, over its real frames only.

    Takes `[features, counts]`: `(batch, frames, bands, 1)` log-mel features
    and the real frames of each clip (see `FrameCounts`). A gain on the
    waveform is a constant added to every log-mel value, and a microphone's
    or room's colouring roughly a constant per band: both cancel, so a
    quiet recording reads like a loud one. Padded frames stay out of the
    mean and come out as zeros.

    Example:

    >>> x = np.log(np.full((1, 4, 2, 1), 100.0, "float32"))
    >>> UtteranceNorm()([x, np.array([3])]).numpy()[0, :, 0, 0]
    array([0., 0., 0., 0.], dtype=float32)
    """

    def call(self, inputs):
        features, counts = inputs
        mask = tf.cast(tf.sequence_mask(counts, tf.shape(features)[1]), features.dtype)
        mask = mask[:, :, None, None]
        total = tf.reduce_sum(features * mask, axis=1, keepdims=True)
        frames = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
        return (features - total / frames) * mask

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs[0].shape, dtype=inputs[0].dtype)
