"""The in-graph image preprocessing every dlapps image model starts with."""

import keras
import tensorflow as tf


def resize_images(images, size):
    """Resize a batch of images to `size` the way every dlapps image path does.

    Bilinear with antialiasing when shrinking, so a 4000-pixel photo and the
    same photo pre-shrunk give the same pixels. When the static shape shows
    the resize only enlarges (or is a no-op), antialiasing is dropped: it
    changes nothing there, and the plain op converts to a TFLite builtin.

    Args:
        images: float or integer tensor `(batch, height, width, channels)`.
        size: `(height, width)` to resize to.

    Returns:
        A float32 tensor `(batch, size[0], size[1], channels)`.

    Example:

    >>> resize_images(tf.zeros((2, 100, 80, 3), tf.uint8), (32, 32)).shape
    TensorShape([2, 32, 32, 3])
    """
    images = tf.cast(images, tf.float32)
    height, width = images.shape[1], images.shape[2]
    if (height, width) == tuple(size):
        return images
    only_enlarges = height is not None and width is not None
    only_enlarges = only_enlarges and height <= size[0] and width <= size[1]
    return tf.image.resize(images, size, method="bilinear", antialias=not only_enlarges)


@keras.saving.register_keras_serializable(package="dlapps")
class ImagePreprocessor(keras.layers.Layer):
    """Turns raw uint8 pixels of any size into the model's float input.

    Casts to float, resizes to `image_size` (see `resize_images`) and scales
    0..255 to 0..1. Because it lives inside the model, the exported
    SavedModel and TFLite files take raw pixels and nobody who deploys the
    model writes this code again.

    Args:
        image_size: `(height, width)` the network sees.

    Example:

    >>> layer = ImagePreprocessor(image_size=(16, 16))
    >>> layer(np.zeros((1, 8, 8, 1), "uint8")).shape
    TensorShape([1, 16, 16, 1])
    """

    def __init__(self, image_size, **kwargs):
        super().__init__(**kwargs)
        self.image_size = tuple(int(side) for side in image_size)

    def call(self, images):
        return resize_images(images, self.image_size) / 255.0

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.image_size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": self.image_size})
        return config
