"""Per-utterance normalisation of log-mel features by each band's mean energy."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlapps")
class BandEnergyNormalization(keras.layers.Layer):
    """Divides every mel band by its mean energy over the clip (a subtraction in log).

    `log(mel) - log(mean over frames of mel)`, per clip and band: the gain
    control of per-channel energy normalisation (PCEN, Wang et al., 2017)
    with one smoother as long as the clip, followed by the log. A
    microphone's or a voice's overall loudness and long-term spectral tilt
    multiply each band by a constant, which this removes, so the model sees
    how each band changes over the word rather than how loud it is. The mean
    is taken over energies, not logs, so the loud (speech) frames dominate
    it and the zero padding or quiet tail of a short recording moves it
    little. Every clip is normalised on its own: no batch statistic, the
    same at training and inference.

    Built from EXP, SUM, MUL, LOG and SUB, which the int8 TFLite file keeps
    in float with the rest of the front end (see
    `kws_serving.FRONT_END_FLOAT_OPS`).

    Example:

    >>> x = np.log(np.random.default_rng(0).uniform(1, 2, (1, 49, 20, 1))).astype("float32")
    >>> y = BandEnergyNormalization()(x).numpy()
    >>> bool(np.allclose(BandEnergyNormalization()(x + 3.0).numpy(), y, atol=1e-5))
    True
    """

    def call(self, log_mel):
        frames = log_mel.shape[1]
        if frames is None:
            mean = tf.reduce_mean(tf.exp(log_mel), axis=1, keepdims=True)
        else:  # SUM and MUL rather than MEAN, the op of the model's pooling.
            mean = tf.reduce_sum(tf.exp(log_mel), axis=1, keepdims=True) * (1.0 / frames)
        return log_mel - tf.math.log(mean)

    def compute_output_shape(self, input_shape):
        return input_shape
