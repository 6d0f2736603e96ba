"""DCGAN generator and discriminator networks, optionally conditioned on a class."""

import keras

LABEL_EMBEDDING_SIZE = 32


def build_generator(latent_dim, image_shape, num_classes=None, filters=128):
    """Noise (and a class id) -> an image in [-1, 1], as in Radford et al. (2016).

    A dense projection to a `height/4 x width/4` map, then two stride-2
    transposed convolutions with batch normalization and ReLU, and a tanh
    output convolution.

    Args:
        latent_dim: size of the noise vector.
        image_shape: `(height, width, channels)`; height and width must be
            multiples of 4.
        num_classes: when given, the generator also takes an int class id,
            embedded and joined to the noise (a conditional GAN).
        filters: channels of the first feature map; halved at each step up.

    Example:

    >>> generator = build_generator(64, (16, 16, 1), num_classes=10)
    >>> generator([np.zeros((2, 64)), np.array([3, 7])]).shape
    TensorShape([2, 16, 16, 1])
    """
    height, width, channels = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"image height and width must be multiples of 4, got {height}x{width}")
    noise = keras.Input((latent_dim,), name="noise")
    inputs = [noise]
    x = noise
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        embedded = keras.layers.Embedding(
            num_classes, LABEL_EMBEDDING_SIZE, name="label_embedding"
        )(label)
        x = keras.layers.Concatenate(name="noise_and_label")([noise, embedded])
    x = keras.layers.Dense(height // 4 * width // 4 * filters, use_bias=False, name="project")(x)
    x = keras.layers.BatchNormalization(name="project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    x = keras.layers.Reshape((height // 4, width // 4, filters), name="to_map")(x)
    for step in range(2):
        x = keras.layers.Conv2DTranspose(
            filters // 2 ** (step + 1),
            4,
            strides=2,
            padding="same",
            use_bias=False,
            name=f"up{step}",
        )(x)
        x = keras.layers.BatchNormalization(name=f"up{step}_bn")(x)
        x = keras.layers.ReLU(name=f"up{step}_relu")(x)
    # Outputs stay float32 under a mixed-precision policy.
    images = keras.layers.Conv2D(
        channels, 3, padding="same", activation="tanh", dtype="float32", name="images"
    )(x)
    return keras.Model(inputs if num_classes else noise, images, name="generator")


def build_discriminator(image_shape, num_classes=None, filters=64, dropout=0.3):
    """An image (and a class id) -> one logit: real (high) or generated (low).

    Two stride-2 convolutions with leaky ReLU and no batch normalization,
    so it also serves as a WGAN-GP critic, whose gradient penalty is taken
    per example.

    Args:
        image_shape: `(height, width, channels)`.
        num_classes: when given, the class id is embedded as an extra image
            channel, so the discriminator judges "a real image of this class".
        filters: channels of the first convolution; doubled in the second.
        dropout: dropout rate before the logit.
    """
    height, width, channels = image_shape
    images = keras.Input(image_shape, name="images")
    inputs = [images]
    x = images
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        label_map = keras.layers.Embedding(num_classes, height * width, name="label_embedding")(
            label
        )
        label_map = keras.layers.Reshape((height, width, 1), name="label_map")(label_map)
        x = keras.layers.Concatenate(name="image_and_label")([images, label_map])
    for step, step_filters in enumerate((filters, filters * 2)):
        x = keras.layers.Conv2D(step_filters, 4, strides=2, padding="same", name=f"down{step}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{step}_relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    logit = keras.layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs if num_classes else images, logit, name="discriminator")
