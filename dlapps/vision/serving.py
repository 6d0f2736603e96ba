"""The vision app's exported functions: raw pixels and encoded bytes in, labels out."""

import tensorflow as tf

from dlapps.export.saved_model import Endpoint
from dlapps.vision.image_preprocessor import resize_images

# ITU-R BT.601 luma, the weights of tf.image.rgb_to_grayscale and of Pillow's "L".
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)


def to_model_channels(images, channels):
    """uint8 images with 1, 3 or 4 channels -> the `channels` (1 or 3) the model was trained on.

    Cameras deliver RGB(A): a greyscale model takes it and turns it into
    luma in the graph, rounded to uint8 as the training pixels were (a grey
    image sent as RGB gives back exactly its grey levels). An alpha channel
    is dropped; a greyscale image sent to an RGB model is repeated into
    three channels. Works with a channel count known only when called (the
    SavedModel's signature) and with a static one (the TFLite graph).

    Example:

    >>> to_model_channels(tf.fill((1, 4, 4, 3), tf.constant(200, tf.uint8)), 1)[0, 0, 0]
    <tf.Tensor: shape=(1,), dtype=uint8, numpy=array([200], dtype=uint8)>
    """

    def luma():
        rgb = tf.cast(images[..., :3], tf.float32)
        grey = tf.reduce_sum(rgb * tf.constant(LUMA_WEIGHTS), axis=-1, keepdims=True)
        return tf.cast(tf.round(grey), tf.uint8)

    def rgb():
        return tf.tile(images[..., :1], [1, 1, 1, 3])

    def keep():
        return images[..., :channels]

    static = images.shape[-1]
    if static is not None:  # known when traced (TFLite): no branch, no assertion in the graph
        if static not in (1, 3, 4):
            raise ValueError(f"images must have 1, 3 or 4 channels, not {static}")
        if static == channels:
            return images
        return rgb() if static == 1 else (luma() if channels == 1 else keep())
    count = tf.shape(images)[-1]
    tf.debugging.assert_equal(
        tf.reduce_any(tf.equal(count, [1, 3, 4])),
        True,
        message="images must have 1 (grey), 3 (RGB) or 4 (RGBA) channels",
    )
    from_grey = rgb if channels == 3 else keep
    converted = tf.cond(count == 1, from_grey, luma if channels == 1 else keep)
    return tf.ensure_shape(converted, [None, None, None, channels])


def serving_endpoints(model, labels, image_shape):
    """SavedModel signatures of an image classifier.

    - `serving_default`: `images`, uint8 `(batch, any height, any width,
      1, 3 or 4 channels)` -> `probabilities` `(batch, classes)` and `label`
      strings. Images are first turned into the model's channels (see
      `to_model_channels`: RGB into luma for a greyscale model), then
      resized to `image_shape`, as training images were.
    - `serve_bytes`: `image_bytes`, a batch of encoded JPEG/PNG/BMP/GIF
      files (what TF Serving's REST API receives as `{"b64": ...}`) -> the
      same outputs. Each image is decoded and resized to `image_shape`.

    Args:
        model: a classifier from `build_image_classifier`.
        labels: class names, in class order.
        image_shape: `(height, width, channels)` of the training images.
    """
    label_table = tf.constant(list(labels))
    height, width, channels = image_shape

    def classify(images):
        images = to_model_channels(images, channels)
        # First to the size the training images were loaded at, rounded to uint8, as
        # serve_bytes, the TFLite file and the edge runner do: one path for every input.
        images = tf.cast(tf.round(resize_images(images, (height, width))), tf.uint8)
        probabilities = model(images, training=False)
        return {
            "probabilities": probabilities,
            "label": tf.gather(label_table, tf.argmax(probabilities, axis=-1)),
        }

    def decode(encoded):
        # Decoded as RGB and turned into the model's channels in the graph, as raw pixels are.
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        image = to_model_channels(image[None], channels)
        image = resize_images(image, (height, width))[0]
        return tf.cast(tf.round(image), tf.uint8)

    def classify_bytes(image_bytes):
        images = tf.map_fn(
            decode,
            image_bytes,
            fn_output_signature=tf.TensorSpec((height, width, channels), tf.uint8),
        )
        return classify(images)

    return [
        Endpoint(
            "serving_default",
            classify,
            [tf.TensorSpec([None, None, None, None], tf.uint8, name="images")],
        ),
        Endpoint(
            "serve_bytes",
            classify_bytes,
            [tf.TensorSpec([None], tf.string, name="image_bytes")],
        ),
    ]


def tflite_endpoint(model, image_shape):
    """The TFLite graph: uint8 RGB images at the training size -> probabilities.

    TFLite inputs have a fixed shape (the batch can be resized), so the edge
    runner resizes photos to `image_shape` before calling it. The input is
    RGB whatever the model was trained on, `(batch, height, width, 3)`, as
    cameras and MediaPipe's ImageClassifier deliver it: a greyscale model
    converts it to luma in the graph (`to_model_channels`).
    """
    height, width, channels = image_shape

    def classify(images):
        return {"probabilities": model(to_model_channels(images, channels), training=False)}

    return Endpoint(
        "serving_default",
        classify,
        [tf.TensorSpec([None, height, width, 3], tf.uint8, name="images")],
    )
