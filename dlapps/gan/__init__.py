"""The GAN application: DCGAN, conditional GAN and WGAN-GP, trained with model.fit.

Example:

>>> from dlapps import gan
>>> generator = gan.build_generator(64, (16, 16, 1), num_classes=10)
>>> discriminator = gan.build_discriminator((16, 16, 1), num_classes=10)
>>> model = gan.ConditionalGAN(generator, discriminator, latent_dim=64, num_classes=10)
>>> model.compile(keras.optimizers.Adam(2e-4, beta_1=0.5))
"""

from dlapps.gan.conditional_gan import ConditionalGAN
from dlapps.gan.dcgan import DCGAN, to_uint8
from dlapps.gan.feature_classifier import feature_classifier
from dlapps.gan.frechet import FeatureScorer, frechet_distance
from dlapps.gan.gan_app import GanApp
from dlapps.gan.networks import build_discriminator, build_generator
from dlapps.gan.wgan_gp import WGANGP

__all__ = [
    "DCGAN",
    "WGANGP",
    "ConditionalGAN",
    "FeatureScorer",
    "GanApp",
    "build_discriminator",
    "build_generator",
    "feature_classifier",
    "frechet_distance",
    "to_uint8",
]
