"""DCGAN: a generator and a discriminator trained against each other with model.fit."""

import keras
import tensorflow as tf


class DCGAN(keras.Model):
    """A deep convolutional GAN with the non-saturating generator loss.

    The discriminator learns to tell training images (label 1) from
    generated ones (label 0); the generator learns to make the
    discriminator say 1. Each `train_step` takes one step of each.
    Train it with plain `model.fit` on a dataset of `(images, labels)` with
    images scaled to [-1, 1] (labels are ignored unless conditional).

    Args:
        generator: noise `(batch, latent_dim)` -> images in [-1, 1].
        discriminator: images -> one logit per image.
        latent_dim: size of the noise vector.
        label_smoothing: one-sided label smoothing: real images are
            labelled `1 - label_smoothing`, which keeps the discriminator
            from growing over-confident (Salimans et al. 2016).

    Example:

    >>> gan = DCGAN(build_generator(64, (16, 16, 1)), build_discriminator((16, 16, 1)), 64)
    >>> gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5))
    >>> gan.fit(dataset, epochs=10)
    >>> images = gan.generate(16)   # uint8 (16, 16, 16, 1)
    """

    conditional = False

    def __init__(self, generator, discriminator, latent_dim, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.label_smoothing = label_smoothing
        self.seed_generator = keras.random.SeedGenerator(1337)
        # Both networks are built functional models, so this one is too; the
        # backup callback needs a built model to restore into.
        self.built = True

    def compile(self, optimizer="adam", discriminator_optimizer=None, **kwargs):
        """Sets the generator's optimizer and the discriminator's (a copy by default)."""
        super().compile(**kwargs)
        generator_optimizer = keras.optimizers.get(optimizer)
        if discriminator_optimizer is None:
            discriminator_optimizer = generator_optimizer.from_config(
                generator_optimizer.get_config()
            )
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            # float16 gradients underflow without loss scaling; Keras adds it
            # for its own train_step, this one needs it by hand.
            generator_optimizer = keras.optimizers.LossScaleOptimizer(generator_optimizer)
            discriminator_optimizer = keras.optimizers.LossScaleOptimizer(discriminator_optimizer)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.binary_crossentropy = keras.losses.BinaryCrossentropy(from_logits=True)
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.discriminator_loss_tracker = keras.metrics.Mean(name="discriminator_loss")

    def build_optimizers(self):
        """Creates both optimizers' variables before `fit` traces a step.

        Created inside the first traced step, they make `tf.function` trace
        the step twice (`callbacks.BuildOptimizer` calls this at `fit`).
        """
        for optimizer, network in (
            (self.discriminator_optimizer, self.discriminator),
            (self.generator_optimizer, self.generator),
        ):
            if not optimizer.built:
                optimizer.build(network.trainable_weights)

    @property
    def metrics(self):
        return [self.generator_loss_tracker, self.discriminator_loss_tracker]

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def sample_noise(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def _generator_inputs(self, noise, labels):
        return noise

    def _discriminator_inputs(self, images, labels):
        return images

    def train_step(self, data):
        real_images, labels = data
        batch_size = tf.shape(real_images)[0]

        # Discriminator step: real images towards (smoothed) 1, generated towards 0.
        noise = self.sample_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_images = self.generator(self._generator_inputs(noise, labels), training=True)
            real_logits = self.discriminator(
                self._discriminator_inputs(real_images, labels), training=True
            )
            fake_logits = self.discriminator(
                self._discriminator_inputs(fake_images, labels), training=True
            )
            discriminator_loss = self.binary_crossentropy(
                tf.fill(tf.shape(real_logits), 1.0 - self.label_smoothing), real_logits
            ) + self.binary_crossentropy(tf.zeros_like(fake_logits), fake_logits)
            # Scaled inside the tape, so that its gradient is recorded.
            scaled_loss = self.discriminator_optimizer.scale_loss(discriminator_loss)
        gradients = tape.gradient(scaled_loss, self.discriminator.trainable_weights)
        self.discriminator_optimizer.apply(gradients, self.discriminator.trainable_weights)

        # Generator step, non-saturating: maximise log D(G(z)) rather than
        # minimise log(1 - D(G(z))), whose gradient vanishes early on.
        noise = self.sample_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_images = self.generator(self._generator_inputs(noise, labels), training=True)
            fake_logits = self.discriminator(
                self._discriminator_inputs(fake_images, labels), training=True
            )
            generator_loss = self.binary_crossentropy(tf.ones_like(fake_logits), fake_logits)
            scaled_loss = self.generator_optimizer.scale_loss(generator_loss)
        gradients = tape.gradient(scaled_loss, self.generator.trainable_weights)
        self.generator_optimizer.apply(gradients, self.generator.trainable_weights)

        self.generator_loss_tracker.update_state(generator_loss)
        self.discriminator_loss_tracker.update_state(discriminator_loss)
        return {m.name: m.result() for m in self.metrics}

    def generate(self, count, labels=None, seed=0):
        """`count` generated images as uint8 `(count, height, width, channels)`."""
        import numpy as np

        noise = (
            np.random.default_rng(seed).standard_normal((count, self.latent_dim)).astype("float32")
        )
        return self.generate_from(
            {"noise": noise} if labels is None else {"noise": noise, "label": np.asarray(labels)}
        )

    def generate_from(self, inputs):
        """uint8 images for explicit inputs: `{"noise": ..., "label": ...}`."""
        generator_inputs = self._generator_inputs(inputs["noise"], inputs.get("label"))
        return to_uint8(self.generator(generator_inputs, training=False)).numpy()


def to_uint8(images):
    """Maps generator output in [-1, 1] to uint8 pixels 0..255."""
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
