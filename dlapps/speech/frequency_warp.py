"""Frequency warping of log-mel features while training (vocal tract length perturbation)."""

import keras
import numpy as np
import tensorflow as tf

from dlapps.speech.synthesizer import SAMPLE_RATE


def _hz_to_mel(hz):
    # The HTK mel scale of `tf.signal.linear_to_mel_weight_matrix`.
    return 1127.0 * np.log1p(np.asarray(hz, "float64") / 700.0)


@keras.saving.register_keras_serializable(package="dlapps")
class FrequencyWarp(keras.layers.Layer):
    """Stretches each example's spectrum by a random factor, in training only.

    Vocal tract length perturbation (Jaitly and Hinton, 2013): a speaker
    with a shorter vocal tract has every formant, and a higher voice every
    harmonic, at a proportionally higher frequency. This layer moves the
    content of frequency `f` to `alpha * f`, with `alpha` drawn per example
    from `[1 - max_warp, 1 + max_warp]`, by reading each mel band's centre
    frequency divided by `alpha` off the input bands (linear interpolation
    between bands; the edge bands repeat past the ends). Unlike speed
    perturbation it leaves the timing alone, so together they vary pitch,
    formants and speaking rate independently. At inference it is the
    identity.

    Args:
        num_mel_bins: mel bands of the input (its axis 2).
        max_warp: the largest relative stretch, e.g. 0.1 for 0.9-1.1.
        lower_hz, upper_hz: the mel filter bank's range (see
            `log_mel_spectrogram.mel_matrix`).

    Example:

    >>> layer = FrequencyWarp(num_mel_bins=20)
    >>> x = np.random.default_rng(0).normal(size=(2, 49, 20, 1)).astype("float32")
    >>> bool((layer(x, training=False).numpy() == x).all())
    True
    """

    def __init__(
        self, num_mel_bins=40, max_warp=0.1, lower_hz=20.0, upper_hz=SAMPLE_RATE / 2, **kwargs
    ):
        super().__init__(**kwargs)
        self.num_mel_bins = num_mel_bins
        self.max_warp = max_warp
        self.lower_hz = lower_hz
        self.upper_hz = upper_hz
        edges = np.linspace(_hz_to_mel(lower_hz), _hz_to_mel(upper_hz), num_mel_bins + 2)
        self._first_centre, self._spacing = float(edges[1]), float(edges[1] - edges[0])
        centres_hz = 700.0 * np.expm1(edges[1:-1] / 1127.0)
        self._centres_hz = tf.constant(centres_hz[None], tf.float32)

    def source_bands(self, alpha):
        """The fractional input band each output band reads, `(batch, bins)`.

        Args:
            alpha: the stretch of each example, `(batch, 1)`.
        """
        source_mel = 1127.0 * tf.math.log1p(self._centres_hz / alpha / 700.0)
        index = (source_mel - self._first_centre) / self._spacing
        return tf.clip_by_value(index, 0.0, self.num_mel_bins - 1.0)

    def warp(self, features, alpha):
        """`features` `(batch, frames, bins, 1)`, each example's spectrum stretched by `alpha`."""
        index = self.source_bands(tf.reshape(alpha, [-1, 1]))
        low = tf.cast(tf.floor(index), tf.int32)
        high = tf.minimum(low + 1, self.num_mel_bins - 1)
        weight = (index - tf.cast(low, tf.float32))[:, None, :, None]
        gather = lambda bands: tf.gather(features, bands, axis=2, batch_dims=1)  # noqa: E731
        return gather(low) * (1.0 - weight) + gather(high) * weight

    def call(self, features, training=False):
        if not training or not self.max_warp:
            return features
        alpha = tf.random.uniform([tf.shape(features)[0]], 1 - self.max_warp, 1 + self.max_warp)
        return self.warp(features, alpha)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            num_mel_bins=self.num_mel_bins,
            max_warp=self.max_warp,
            lower_hz=self.lower_hz,
            upper_hz=self.upper_hz,
        )
        return config
