"""The detector's exported functions: raw pixels (or encoded files) in, boxes out.

- SavedModel `serving_default`: uint8 `images` `(batch, any height, any
  width, 3)` -> `boxes` `(batch, K, 4)` (ymin, xmin, ymax, xmax in pixels of
  the input image), `classes` (float32 class index), `scores`, `labels`
  (strings) and `num_detections` (float32), K = `max_detections`.
- SavedModel `serve_bytes`: `image_bytes`, encoded JPEG/PNG files (TF
  Serving's REST `{"b64": ...}`), each decoded and detected on its own.
- TFLite: uint8 `images` `(1, S, S, 3)`, one image already letterboxed (see
  `detection_postprocess.letterbox`), -> `boxes` as fractions (0..1) of
  that S x S input, `classes`, `scores`, `num_detections`, in this order
  (MediaPipe's ObjectDetector outputs: locations, categories, scores,
  number of detections).
"""

import tensorflow as tf

from dlapps.export.saved_model import Endpoint
from dlapps.vision import detection_postprocess as post
from dlapps.vision.detector import STRIDES, inference_outputs


def detect_function(model, image_size, settings):
    """`images (batch, S, S, 3) uint8 -> detections` in the letterboxed pixels, clipped to them.

    Decodes from the detector's two separate outputs (box distances and
    class logits, see `detector.inference_outputs`).
    """
    centres, location_strides = post.anchor_points(image_size, STRIDES)
    network = inference_outputs(model)

    def detect(images):
        box_outputs, class_logits = network(images, training=False)
        found = post.decode_and_suppress(
            box_outputs,
            class_logits,
            centres,
            location_strides,
            max_detections=settings["max_detections"],
            score_threshold=settings["score_threshold"],
            iou_threshold=settings["iou_threshold"],
            image_size=image_size,  # boxes clipped to the input before NMS
        )
        return found

    return detect


def serving_endpoints(model, labels, image_size, settings):
    """The SavedModel signatures (see the module docstring)."""
    detect = detect_function(model, image_size, settings)
    label_table = tf.constant(list(labels))

    def on_images(images):
        shape = tf.shape(images)
        boxed, scale = post.letterbox(images, image_size)
        found = detect(boxed)
        found["boxes"] = post.undo_letterbox(found["boxes"], scale, shape[1], shape[2])
        found["labels"] = tf.gather(label_table, tf.cast(found["classes"], tf.int32))
        return found

    def on_bytes(image_bytes):
        def one(encoded):
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
            found = on_images(image[None])
            return {key: value[0] for key, value in found.items()}

        k = settings["max_detections"]
        return tf.map_fn(
            one,
            image_bytes,
            fn_output_signature={
                "boxes": tf.TensorSpec([k, 4], tf.float32),
                "classes": tf.TensorSpec([k], tf.float32),
                "scores": tf.TensorSpec([k], tf.float32),
                "num_detections": tf.TensorSpec([], tf.float32),
                "labels": tf.TensorSpec([k], tf.string),
            },
        )

    return [
        Endpoint(
            "serving_default",
            on_images,
            [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")],
        ),
        Endpoint("serve_bytes", on_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")]),
    ]


TFLITE_OUTPUTS = ("boxes", "classes", "scores", "num_detections")


def tflite_endpoint(model, image_size, settings):
    """The TFLite graph: one letterboxed uint8 image -> decode and NMS, builtin ops only.

    The layout of MediaPipe's ObjectDetector (and of TFLite's detection
    models): batch 1 and one subgraph, with no loop over the batch, so
    nothing for a full-int8 conversion to quantize in a loop (see
    `decode_and_suppress`); `boxes` (ymin, xmin, ymax, xmax) as fractions
    of the S x S input; the outputs in the order `TFLITE_OUTPUTS` (the
    exporter sets it, see `tflite.order_outputs`). `TFLiteModel` runs a
    batch of images through it one by one.
    """
    detect = detect_function(model, image_size, settings)

    def detect_one(images):
        found = detect(images)
        found["boxes"] = found["boxes"] * (1.0 / image_size)  # a MUL: float in an int8 file
        return found

    return Endpoint(
        "serving_default",
        detect_one,
        [tf.TensorSpec([1, image_size, image_size, 3], tf.uint8, name="images")],
    )


def tflite_boxes_in_pixels(outputs, image_size):
    """A TFLite file's outputs with `boxes` in pixels of its S x S input (from fractions)."""
    return {**outputs, "boxes": outputs["boxes"] * float(image_size)}
