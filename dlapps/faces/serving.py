"""The faces app's exported functions: face pixels in, embeddings (or a gallery match) out."""

import tensorflow as tf

from dlapps.export.saved_model import Endpoint
from dlapps.vision.image_preprocessor import resize_images


def _standard_pixels(images, image_size):
    """Any-size RGB or greyscale uint8 -> the embedder's size, rounded to uint8 values.

    The same steps as `dlapps predict`, the TFLite path and the edge runner:
    greyscale is copied into three channels, the image is resized with
    `resize_images` and rounded to whole grey levels.
    """
    channels = tf.shape(images)[-1]
    tf.debugging.assert_equal(
        tf.logical_or(tf.equal(channels, 1), tf.equal(channels, 3)),
        True,
        message="face images must have 1 (greyscale) or 3 (RGB) channels",
    )
    images = tf.cond(tf.equal(channels, 1), lambda: tf.tile(images, [1, 1, 1, 3]), lambda: images)
    images = tf.round(resize_images(images, image_size))
    return tf.reshape(images, [-1, *image_size, 3])


def serving_endpoints(embedder, image_size, gallery=None):
    """SavedModel signatures of a face embedder.

    - `serving_default`: `images`, uint8 `(batch, any height, any width, 1
      or 3)` -> `embeddings` float32 `(batch, dim)`, unit length.
    - `serve_bytes`: `image_bytes`, encoded JPEG/PNG/BMP/GIF files -> the
      same `embeddings`.
    - `identify` (only with a `gallery`): `images` -> `person` (the best
      enrolled name, or "unknown"), `similarity` to that person's template
      and `known` (similarity at or above the gallery's threshold). The
      gallery is a constant of the SavedModel: TF Serving answers "who is
      this" without any client-side matching.

    Args:
        embedder: the embedding model.
        image_size: `(height, width)` it takes.
        gallery: a `Gallery` to bake in, or `None`.
    """
    height, width = image_size

    def embed(images):
        return {"embeddings": embedder(_standard_pixels(images, image_size), training=False)}

    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        return tf.round(resize_images(image[None], image_size))[0]

    def embed_bytes(image_bytes):
        images = tf.map_fn(
            decode, image_bytes, fn_output_signature=tf.TensorSpec((height, width, 3), tf.float32)
        )
        return {"embeddings": embedder(images, training=False)}

    endpoints = [
        Endpoint(
            "serving_default",
            embed,
            [tf.TensorSpec([None, None, None, None], tf.uint8, name="images")],
        ),
        Endpoint(
            "serve_bytes", embed_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")]
        ),
    ]
    if gallery is not None:
        names = tf.constant([*gallery.names, "unknown"])
        templates = tf.constant(gallery.embeddings, tf.float32)
        threshold = tf.constant(gallery.threshold, tf.float32)

        def identify(images):
            embeddings = embed(images)["embeddings"]
            similarities = tf.matmul(embeddings, templates, transpose_b=True)
            best = tf.argmax(similarities, axis=1, output_type=tf.int32)
            similarity = tf.reduce_max(similarities, axis=1)
            known = similarity >= threshold
            person = tf.gather(names, tf.where(known, best, len(gallery.names)))
            return {"person": person, "similarity": similarity, "known": known}

        endpoints.append(
            Endpoint(
                "identify",
                identify,
                [tf.TensorSpec([None, None, None, None], tf.uint8, name="images")],
            )
        )
    return endpoints


def tflite_endpoint(embedder, image_size):
    """The TFLite graph: uint8 RGB faces at the embedder's size -> `embeddings`.

    TFLite inputs have a fixed size (the batch can change), so the edge
    runner resizes photos first, as `serving_default` does in the graph.
    """

    def embed(images):
        return {"embeddings": embedder(tf.cast(images, tf.float32), training=False)}

    return Endpoint(
        "serving_default", embed, [tf.TensorSpec([None, *image_size, 3], tf.uint8, name="images")]
    )
