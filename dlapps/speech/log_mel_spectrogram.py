"""The in-graph audio front end: raw waveform in, log-mel features out."""

import keras
import numpy as np
import tensorflow as tf

from dlapps.speech.synthesizer import SAMPLE_RATE


def mel_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower_hz=20.0, upper_hz=None):
    """The `(num_spectrogram_bins, num_mel_bins)` triangular mel filter bank."""
    return tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins,
        num_spectrogram_bins,
        sample_rate,
        lower_hz,
        upper_hz or sample_rate / 2,
    ).numpy()


@keras.saving.register_keras_serializable(package="dlapps")
class LogMelSpectrogram(keras.layers.Layer):
    """Turns a batch of 16 kHz waveforms into log-mel spectrograms.

    Short-time Fourier transform (Hann window), power spectrum, a triangular
    mel filter bank and `log(mel + 1e-6)`. Each clip is processed on its
    own: unlike `keras.layers.MelSpectrogram(top_db=...)`, no statistic is
    taken over the batch, so a clip's features never depend on its
    neighbours.

    Written for TFLite: the STFT becomes the builtin RFFT2D op, the channel
    axis is added with `tf.expand_dims` (a `[..., None]` slice would need
    Flex), and the mel projection is a multiply-and-sum rather than a
    matmul, so dynamic-range quantization leaves it in float. Quantizing the
    power spectrum, whose values span ten orders of magnitude, is what ruins
    int8 speech models.

    Args:
        frame_length: samples per STFT frame (480 = 30 ms at 16 kHz).
        frame_step: samples between frames (320 = 20 ms).
        fft_length: FFT size, a power of two >= `frame_length`.
        num_mel_bins: mel bands.
        sample_rate: of the input waveform.

    Example:

    >>> LogMelSpectrogram()(np.zeros((2, 16000), "float32")).shape
    TensorShape([2, 49, 40, 1])
    """

    def __init__(
        self,
        frame_length=480,
        frame_step=320,
        fft_length=512,
        num_mel_bins=40,
        sample_rate=SAMPLE_RATE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_length = fft_length
        self.num_mel_bins = num_mel_bins
        self.sample_rate = sample_rate
        weights = mel_matrix(num_mel_bins, fft_length // 2 + 1, sample_rate)
        self._mel = tf.constant(weights[None, None], tf.float32)
        self._window = tf.constant(np.hanning(frame_length + 1)[:-1], tf.float32)

    def call(self, waveforms):
        waveforms = tf.cast(waveforms, tf.float32)
        frames = self._frames(waveforms)
        spectrum = tf.signal.rfft(frames * self._window, [self.fft_length])
        power = tf.math.square(tf.math.real(spectrum)) + tf.math.square(tf.math.imag(spectrum))
        # (batch, frames, bins, 1) * (1, 1, bins, mels) summed over bins.
        mel = tf.reduce_sum(tf.expand_dims(power, -1) * self._mel, axis=2)
        return tf.expand_dims(tf.math.log(mel + 1e-6), -1)

    def _frames(self, waveforms):
        """Overlapping frames `(batch, frames, frame_length)`.

        When the step divides the clip length, frames are stitched from
        reshaped chunks with static slices, which TFLite runs as plain
        builtins; `tf.signal.frame` would add GATHER/RANGE index ops that
        full-int8 conversion quantizes along with the waveform.
        """
        length, step = waveforms.shape[-1], self.frame_step
        if length is None or length % step:
            return tf.signal.frame(waveforms, self.frame_length, step)
        count = 1 + (length - self.frame_length) // step
        chunks = tf.reshape(waveforms, (-1, length // step, step))
        per_frame = -(-self.frame_length // step)
        parts = [chunks[:, j : j + count, :] for j in range(per_frame)]
        frames = tf.concat(parts, axis=-1) if per_frame > 1 else parts[0]
        return frames[..., : self.frame_length]

    def compute_output_shape(self, input_shape):
        length = input_shape[-1]
        frames = None if length is None else 1 + (length - self.frame_length) // self.frame_step
        return (input_shape[0], frames, self.num_mel_bins, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            frame_length=self.frame_length,
            frame_step=self.frame_step,
            fft_length=self.fft_length,
            num_mel_bins=self.num_mel_bins,
            sample_rate=self.sample_rate,
        )
        return config
