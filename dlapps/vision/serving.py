"""The vision app's exported functions: raw pixels and encoded bytes in, labels out."""

import tensorflow as tf

from dlapps.export.saved_model import Endpoint
from dlapps.vision.image_preprocessor import resize_images


def serving_endpoints(model, labels, image_shape):
    """SavedModel signatures of an image classifier.

    - `serving_default`: `images`, uint8 `(batch, any height, any width,
      channels)` -> `probabilities` `(batch, classes)` and `label` strings.
      Images are first resized to `image_shape`, as training images were.
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
        # First to the size the training images were loaded at, rounded to uint8, as
        # serve_bytes, the TFLite file and the edge runner do: one path for every input.
        images = tf.cast(tf.round(resize_images(images, (height, width))), tf.uint8)
        probabilities = model(images, training=False)
        return {
            "probabilities": probabilities,
            "label": tf.gather(label_table, tf.argmax(probabilities, axis=-1)),
        }

    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        image = resize_images(image[None], (height, width))[0]
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
            [tf.TensorSpec([None, None, None, channels], tf.uint8, name="images")],
        ),
        Endpoint(
            "serve_bytes",
            classify_bytes,
            [tf.TensorSpec([None], tf.string, name="image_bytes")],
        ),
    ]


def tflite_endpoint(model, image_shape):
    """The TFLite graph: uint8 images at the training size -> probabilities.

    TFLite inputs have a fixed shape (the batch can be resized), so the edge
    runner resizes photos to `image_shape` before calling it.
    """

    def classify(images):
        return {"probabilities": model(images, training=False)}

    return Endpoint(
        "serving_default",
        classify,
        [tf.TensorSpec([None, *image_shape], tf.uint8, name="images")],
    )
