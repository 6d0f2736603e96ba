"""The GAN app's exported function: noise (and a class id) in, uint8 images out."""

import tensorflow as tf

from dlapps.export.saved_model import Endpoint
from dlapps.gan.dcgan import to_uint8


def generator_endpoint(generator, latent_dim, num_classes=None):
    """The `serving_default` signature of a generator, with named inputs.

    Inputs `noise` float32 `(batch, latent_dim)` (standard normal) and, for
    a conditional generator, `label` int32 `(batch,)`; output `images`,
    uint8 `(batch, height, width, channels)`. Named inputs need
    `ExportArchive.add_endpoint`: `model.export()` would make one
    positional list argument of a two-input model.
    """
    signature = [tf.TensorSpec([None, latent_dim], tf.float32, name="noise")]
    if num_classes:
        signature.append(tf.TensorSpec([None], tf.int32, name="label"))

        def generate(noise, label):
            return {"images": to_uint8(generator([noise, label], training=False))}
    else:

        def generate(noise):
            return {"images": to_uint8(generator(noise, training=False))}

    return Endpoint("serving_default", generate, signature)
