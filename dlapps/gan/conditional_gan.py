"""Conditional DCGAN: ask for a class, get an image of it."""

import numpy as np

from dlapps.gan.dcgan import DCGAN


class ConditionalGAN(DCGAN):
    """A DCGAN whose generator and discriminator both see the class label.

    The generator learns p(image | label) and the discriminator judges
    whether an image is a real one *of that label* (Mirza and Osindero
    2014), so after training `generate(n, labels=[3] * n)` draws threes.

    Args:
        num_classes: number of classes; both networks must take `[x, label]`.
        (others as in `DCGAN`)

    Example:

    >>> gan = ConditionalGAN(build_generator(64, (16, 16, 1), num_classes=10),
    ...                      build_discriminator((16, 16, 1), num_classes=10), 64, num_classes=10)
    """

    conditional = True

    def __init__(self, generator, discriminator, latent_dim, num_classes, **kwargs):
        super().__init__(generator, discriminator, latent_dim, **kwargs)
        self.num_classes = num_classes

    def _generator_inputs(self, noise, labels):
        if labels is None:
            labels = np.arange(len(noise)) % self.num_classes
        return [noise, labels]

    def _discriminator_inputs(self, images, labels):
        return [images, labels]
