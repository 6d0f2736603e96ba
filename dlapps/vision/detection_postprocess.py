"""Detector pre- and post-processing in TensorFlow ops that convert to TFLite builtins.

- `letterbox`: uint8 images of any size -> the model's square input,
  scaled to fit and padded at the bottom and right (so undoing it is one
  division: `box / scale`).
- `anchor_points`: the centre and stride of every output location.
- `decode_and_suppress`: raw head outputs -> per-image boxes, classes,
  scores and a count, padded to `max_detections`, with per-class non-max
  suppression through `tf.image.non_max_suppression_padded` (TFLite's
  builtin `NON_MAX_SUPPRESSION_V4`; no `TFLite_Detection_PostProcess`
  custom op and no Flex op), classes kept apart by the class-offset trick.
"""

import numpy as np
import tensorflow as tf

from dlapps.vision.image_preprocessor import resize_images

PAD_VALUE = 114  # mid-grey padding, as YOLO-style letterboxing uses


def anchor_points(image_size, strides):
    """Centres (y, x) in input pixels and the stride of each output location.

    Locations are ordered level by level (stride 8 first), row-major in each,
    the order the detector's head concatenates them.

    Returns:
        `(centres, location_strides)`: float32 numpy arrays `(L, 2)` and `(L,)`.

    Example:

    >>> centres, strides = anchor_points(32, (8, 16))
    >>> centres.shape, strides[:2], centres[0]
    ((20, 2), array([8., 8.], dtype=float32), array([4., 4.], dtype=float32))
    """
    centres, location_strides = [], []
    for stride in strides:
        cells = int(np.ceil(image_size / stride))
        grid = (np.arange(cells, dtype="float32") + 0.5) * stride
        y, x = np.meshgrid(grid, grid, indexing="ij")
        centres.append(np.stack([y.ravel(), x.ravel()], axis=-1))
        location_strides.append(np.full(cells * cells, stride, "float32"))
    return np.concatenate(centres).astype("float32"), np.concatenate(location_strides)


def letterbox_scale(height, width, image_size):
    """The factor that fits a `height` x `width` image inside `image_size` squared."""
    return tf.minimum(
        tf.cast(image_size, tf.float32) / tf.cast(height, tf.float32),
        tf.cast(image_size, tf.float32) / tf.cast(width, tf.float32),
    )


def letterbox(images, image_size):
    """Scales a batch of same-size images to fit `image_size` and pads bottom and right.

    Shrinking antialiases (as every dlapps image path does, see
    `resize_images`); the padding is mid-grey.

    Args:
        images: uint8 tensor `(batch, height, width, 3)`, any height and width.
        image_size: the side of the model's square input.

    Returns:
        `(letterboxed, scale)`: uint8 `(batch, image_size, image_size, 3)` and
        the float32 scale; a box in the input image is `box * scale` there.

    Example:

    >>> boxed, scale = letterbox(tf.zeros((1, 100, 200, 3), tf.uint8), 64)
    >>> boxed.shape, float(scale)
    (TensorShape([1, 64, 64, 3]), 0.32)
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    scale = letterbox_scale(height, width, image_size)
    new_height = tf.minimum(
        image_size, tf.cast(tf.round(tf.cast(height, tf.float32) * scale), tf.int32)
    )
    new_width = tf.minimum(
        image_size, tf.cast(tf.round(tf.cast(width, tf.float32) * scale), tf.int32)
    )
    static = images.shape[1], images.shape[2]
    if static[0] is not None and static[1] is not None:
        scale_value = min(image_size / static[0], image_size / static[1])
        size = (
            min(image_size, int(round(static[0] * scale_value))),
            min(image_size, int(round(static[1] * scale_value))),
        )
        resized = resize_images(images, size)
    else:
        resized = tf.image.resize(
            tf.cast(images, tf.float32), tf.stack([new_height, new_width]), antialias=True
        )
    resized = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    padded = tf.pad(
        resized,
        [
            [0, 0],
            [0, image_size - tf.shape(resized)[1]],
            [0, image_size - tf.shape(resized)[2]],
            [0, 0],
        ],
        constant_values=PAD_VALUE,
    )
    padded = tf.ensure_shape(padded, [None, image_size, image_size, None])
    return padded, scale


# Ops of the decode below, kept in float in a full-int8 file (see `INT8_FLOAT_OPS`).
_SIGNS = np.array([1.0, 1.0, -1.0, -1.0], "float32")


def decode_boxes(box_outputs, centres, location_strides):
    """Head distances (top, left, bottom, right in strides) -> boxes (ymin, xmin, ymax, xmax).

    The distances pass through ReLU (they are >= 0); the decode is then one
    multiplication and one subtraction, `(y, x, y, x) - d * stride * (1, 1,
    -1, -1)`: TFLite's builtin RELU, MUL and SUB, which a full-int8 file
    keeps in float (`INT8_FLOAT_OPS`) so that pixel coordinates are not
    rounded to an 8-bit grid.

    Example:

    >>> centres, strides = anchor_points(32, (8,))
    >>> decode_boxes(tf.ones((1, 16, 4)), centres, strides)[0, 0].numpy().tolist()
    [-4.0, -4.0, 12.0, 12.0]
    """
    centres = tf.convert_to_tensor(centres, tf.float32)
    corners = tf.concat([centres, centres], axis=-1)  # (y, x, y, x), folded into a constant
    scales = tf.convert_to_tensor(location_strides, tf.float32)[:, None] * _SIGNS
    return corners - tf.nn.relu(box_outputs) * scales


# What a full-int8 file runs in float (see `dlapps.export.tflite.convert`'s `float_ops`):
# everything after the head's last convolutions. The network stays int8; from the flattening
# of each level's outputs (RESHAPE, CONCATENATION) on, the decode, the sigmoid, the ops that
# cast, rank, gather and slice classes, scores and boxes, and the clip of the boxes to the
# input (MINIMUM, MAXIMUM) run in float, so that pixel coordinates and scores are not rounded
# to an 8-bit grid (~1 pixel, 1/256 of a score) and box distances and logits never share one
# quantization scale. CAST and MUL also cover the input's uint8 -> float rescale, which the
# converter folds into the first QUANTIZE. (The FPN's nearest upsampling is EXPAND_DIMS, TILE
# and RESHAPE: its RESHAPE runs in float between a lossless DEQUANTIZE and QUANTIZE pair.)
INT8_FLOAT_OPS = (
    "RESHAPE",
    "CONCATENATION",
    "STRIDED_SLICE",
    "RELU",
    "MUL",
    "SUB",
    "LOGISTIC",
    "REDUCE_MAX",
    "ARG_MAX",
    "TOPK_V2",
    "GATHER",
    "CAST",
    "MINIMUM",
    "MAXIMUM",
)


def decode_and_suppress(
    box_outputs,
    class_logits,
    centres,
    location_strides,
    max_detections=100,
    score_threshold=0.25,
    iou_threshold=0.5,
    pre_nms_top_k=1000,
    image_size=None,
):
    """Raw head outputs -> detections per image, padded to `max_detections`.

    Each location keeps its best class (score = sigmoid of its logit); the
    `pre_nms_top_k` best locations go through one NMS per image in which
    boxes of different classes are shifted apart (class index times a
    distance larger than any box), so NMS never suppresses across classes.

    Args:
        box_outputs: float `(batch, L, 4)` distances from the detector.
        class_logits: float `(batch, L, num_classes)`.
        centres, location_strides: from `anchor_points`.
        image_size: the input's side: boxes are clipped to it before NMS
            (as torchvision's detectors do), so that two boxes that end up
            the same inside the image are one detection, not two.

    Returns:
        dict of `boxes` `(batch, max_detections, 4)` (ymin, xmin, ymax,
        xmax in input pixels), `classes` float32 `(batch, max_detections)`,
        `scores` `(batch, max_detections)` and `num_detections` float32
        `(batch,)`; rows past `num_detections` are zero.
    """
    boxes = decode_boxes(box_outputs, centres, location_strides)
    if image_size is not None:
        boxes = tf.clip_by_value(boxes, 0.0, float(image_size))
    probabilities = tf.sigmoid(class_logits)
    scores = tf.reduce_max(probabilities, axis=-1)
    classes = tf.cast(tf.argmax(probabilities, axis=-1), tf.float32)
    top_k = min(pre_nms_top_k, int(len(centres)))
    top_scores, top_index = tf.math.top_k(scores, k=top_k)
    top_boxes = tf.gather(boxes, top_index, batch_dims=1)
    top_classes = tf.gather(classes, top_index, batch_dims=1)
    # Larger than any box (the input side is at most a few thousand pixels). Negative and
    # subtracted: the shift is a MUL and a SUB, ops a full-int8 file keeps in float, and the
    # shifted boxes stay positive, as `non_max_suppression_padded` wants them.
    offset = top_classes[..., None] * -4096.0

    def one_image(values):
        image_boxes, image_scores, image_offset, image_classes = values
        selected, count = tf.image.non_max_suppression_padded(
            image_boxes - image_offset,
            image_scores,
            max_output_size=max_detections,
            iou_threshold=iou_threshold,
            score_threshold=score_threshold,
            pad_to_max_output_size=True,
        )
        valid = tf.cast(tf.range(max_detections) < count, tf.float32)
        return (
            tf.gather(image_boxes, selected) * valid[:, None],
            tf.gather(image_classes, selected) * valid,
            tf.gather(image_scores, selected) * valid,
            tf.cast(count, tf.float32),
        )

    values = (top_boxes, top_scores, offset, top_classes)
    if box_outputs.shape[0] == 1:
        # A batch-1 graph (the TFLite files): image 0 directly, no loop over the batch. A
        # `map_fn` would be a WHILE loop whose TensorList buffers a full-int8 conversion
        # quantizes with the range of their zero initial value (a scale of ~1e-8), which
        # crushes every image's detections but the last one of a batch.
        picked = [value[None] for value in one_image([value[0] for value in values])]
    else:
        picked = tf.map_fn(
            one_image,
            values,
            fn_output_signature=(
                tf.TensorSpec([max_detections, 4], tf.float32),
                tf.TensorSpec([max_detections], tf.float32),
                tf.TensorSpec([max_detections], tf.float32),
                tf.TensorSpec([], tf.float32),
            ),
        )
    picked_boxes, picked_classes, picked_scores, count = picked
    return {
        "boxes": picked_boxes,
        "classes": picked_classes,
        "scores": picked_scores,
        "num_detections": count,
    }


def undo_letterbox(boxes, scale, height, width):
    """Boxes in the letterboxed input -> pixels of the original image, clipped to it."""
    boxes = boxes / scale
    limits = tf.cast(tf.stack([height, width, height, width]), tf.float32)
    return tf.clip_by_value(boxes, 0.0, limits)
