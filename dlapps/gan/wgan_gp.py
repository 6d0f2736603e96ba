"""WGAN-GP: a Wasserstein GAN whose critic is kept 1-Lipschitz by a gradient penalty."""

import keras
import tensorflow as tf

from dlapps.gan.dcgan import DCGAN


class WGANGP(DCGAN):
    """Wasserstein GAN with gradient penalty (Gulrajani et al. 2017).

    The critic scores images (no sigmoid); it is trained to widen the gap
    between its mean score on real and on generated images, an estimate of
    the Wasserstein-1 distance, while a penalty keeps the norm of its
    gradient near 1 on points between real and generated images. The
    critic takes `critic_steps` steps per generator step. The losses stay
    informative even when the generator is far behind, which makes
    training steadier than with the DCGAN loss.

    Args:
        critic_steps: critic updates per generator update. Defaults to 5.
        gradient_penalty_weight: lambda of the penalty. Defaults to 10.
        (others as in `DCGAN`; the critic must not use batch normalization,
        which would couple the per-example gradients the penalty needs)
    """

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim,
        critic_steps=5,
        gradient_penalty_weight=10.0,
        **kwargs,
    ):
        super().__init__(generator, discriminator, latent_dim, **kwargs)
        self.critic_steps = critic_steps
        self.gradient_penalty_weight = gradient_penalty_weight

    def _gradient_penalty(self, real_images, fake_images, labels):
        batch_size = tf.shape(real_images)[0]
        mix = keras.random.uniform((batch_size, 1, 1, 1), seed=self.seed_generator)
        between = real_images + mix * (fake_images - real_images)
        with tf.GradientTape() as tape:
            tape.watch(between)
            scores = self.discriminator(self._discriminator_inputs(between, labels), training=True)
        gradients = tape.gradient(scores, between)
        norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + 1e-12)
        return tf.reduce_mean(tf.square(norms - 1.0))

    def train_step(self, data):
        real_images, labels = data
        batch_size = tf.shape(real_images)[0]
        for _ in range(self.critic_steps):
            noise = self.sample_noise(batch_size)
            with tf.GradientTape() as tape:
                fake_images = self.generator(self._generator_inputs(noise, labels), training=True)
                real_scores = self.discriminator(
                    self._discriminator_inputs(real_images, labels), training=True
                )
                fake_scores = self.discriminator(
                    self._discriminator_inputs(fake_images, labels), training=True
                )
                critic_loss = tf.reduce_mean(fake_scores) - tf.reduce_mean(real_scores)
                critic_loss += self.gradient_penalty_weight * self._gradient_penalty(
                    real_images, fake_images, labels
                )
                scaled_loss = self.discriminator_optimizer.scale_loss(critic_loss)
            gradients = tape.gradient(scaled_loss, self.discriminator.trainable_weights)
            self.discriminator_optimizer.apply(gradients, self.discriminator.trainable_weights)

        noise = self.sample_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_images = self.generator(self._generator_inputs(noise, labels), training=True)
            fake_scores = self.discriminator(
                self._discriminator_inputs(fake_images, labels), training=True
            )
            generator_loss = -tf.reduce_mean(fake_scores)
            scaled_loss = self.generator_optimizer.scale_loss(generator_loss)
        gradients = tape.gradient(scaled_loss, self.generator.trainable_weights)
        self.generator_optimizer.apply(gradients, self.generator.trainable_weights)

        self.generator_loss_tracker.update_state(generator_loss)
        self.discriminator_loss_tracker.update_state(critic_loss)
        return {m.name: m.result() for m in self.metrics}
