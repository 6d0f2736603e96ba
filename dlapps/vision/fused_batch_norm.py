"""Batch normalization whose training step runs TensorFlow's fused kernel.

Keras 3's `BatchNormalization` computes the batch moments and the
normalisation as separate ops (mean, squared difference, mean, then scale and
shift), each a pass over the activations, and as many again in the backward
pass. On a CPU those passes over large, high-resolution feature maps cost more
than the convolutions of a small mobile network: the detector's training step
took ~430 ms per batch of 8 at 256x256 with them and ~260 ms with the fused
kernel (`FusedBatchNormV3` and its gradient: one pass each way), measured side
by side in one process on the 2-core machine.

Only the training forward pass changes. Inference (`training=False`: the
evaluation, the SavedModel and TFLite exports) runs Keras' own code, so the
exported graphs are the same as with `keras.layers.BatchNormalization`; the
variables and their names are the same too, so weights and checkpoints load
either way. Cases the fused kernel does not cover (not 4-D channels-last,
synchronized moments across workers, renorm, masks, half-precision inputs)
fall back to Keras' code as well.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlapps")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization`, fused in training on 4-D channels-last inputs.

    Example:

    >>> import numpy as np
    >>> layer = FusedBatchNormalization(momentum=0.9)
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (4, 5, 5, 3)).astype("float32")
    >>> y = layer(x, training=True).numpy()
    >>> bool(abs(y.mean()) < 1e-4), bool(abs(y.std() - 1.0) < 1e-2)
    (True, True)
    >>> bool(np.allclose(layer.moving_mean.numpy(), 0.1 * x.mean(axis=(0, 1, 2)), atol=1e-5))
    True
    """

    def _fusable(self, inputs, training, mask):
        return (
            training
            and self.trainable
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and inputs.dtype == tf.float32
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels], inputs.dtype)
        beta = self.beta if self.center else tf.zeros([channels], inputs.dtype)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, is_training=True
        )
        # The kernel normalises with the batch (biased) variance but returns the unbiased
        # one; Keras' moving variance tracks the biased one, so undo Bessel's correction.
        count = tf.cast(tf.size(inputs) // channels, tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 2.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return outputs
