"""Augmentation that moves the boxes with the pixels: flip, scale jitter and random crop.

Works on one letterboxed image `(S, S, 3)` and its padded boxes in a
`tf.data` map. A random window (zoom in: a crop; zoom out: the image
shrinks inside grey padding) is resized back to `S x S` with
`tf.image.crop_and_resize`; boxes are mapped into the window, clipped to
it, and dropped (class -1) when less than `min_visible` of their area is
left in it or they become thinner than two pixels.
"""

import tensorflow as tf

from dlapps.vision.detection_postprocess import PAD_VALUE


def transform_boxes(boxes, classes, window, image_size, flip, min_visible=0.4):
    """Maps boxes from the image into a crop window resized to `image_size`.

    Args:
        boxes: float32 `(n, 4)` (ymin, xmin, ymax, xmax) in pixels.
        classes: int32 `(n,)`, -1 for padding.
        window: float32 `(4,)` (ymin, xmin, ymax, xmax) of the window in pixels.
        image_size: the side of the square image and of the output.
        flip: bool scalar, mirror left-right after the crop.
        min_visible: boxes keeping less of their area are dropped.

    Returns:
        `(boxes, classes)`: moved boxes, and classes with dropped boxes at -1.

    Example:

    >>> boxes, classes = transform_boxes(
    ...     tf.constant([[10.0, 10.0, 30.0, 30.0]]), tf.constant([0]),
    ...     tf.constant([0.0, 0.0, 50.0, 50.0]), 100, tf.constant(True))
    >>> boxes.numpy().tolist(), classes.numpy().tolist()
    ([[20.0, 40.0, 60.0, 80.0]], [0])
    """
    size = tf.cast(image_size, tf.float32)
    scale_y = size / (window[2] - window[0])
    scale_x = size / (window[3] - window[1])
    scale = tf.stack([scale_y, scale_x, scale_y, scale_x])
    origin = tf.stack([window[0], window[1], window[0], window[1]])
    moved = (boxes - origin) * scale
    clipped = tf.clip_by_value(moved, 0.0, size)

    def area(b):
        return tf.maximum(b[:, 2] - b[:, 0], 0.0) * tf.maximum(b[:, 3] - b[:, 1], 0.0)

    visible = area(clipped) / tf.maximum(area(moved), 1e-6)
    thin = tf.minimum(clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]) < 2.0
    keep = (classes >= 0) & (visible >= min_visible) & ~thin
    ymin, xmin, ymax, xmax = tf.unstack(clipped, axis=-1)
    flipped = tf.stack([ymin, size - xmax, ymax, size - xmin], axis=-1)
    clipped = tf.where(flip, flipped, clipped)
    return (
        tf.where(keep[:, None], clipped, tf.zeros_like(clipped)),
        tf.where(keep, classes, -tf.ones_like(classes)),
    )


def random_window(image_size, min_zoom=0.5, max_zoom=1.5, seed=None):
    """A random square-ish window: side `image_size * zoom`, overlapping the image."""
    size = tf.cast(image_size, tf.float32)
    zoom = tf.exp(tf.random.uniform([], tf.math.log(min_zoom), tf.math.log(max_zoom), seed=seed))
    aspect = tf.exp(tf.random.uniform([], -0.2, 0.2))
    height, width = size * zoom * aspect, size * zoom / aspect
    # Top-left anywhere that keeps at least half the window on the image.
    top = tf.random.uniform([], -height / 2, tf.maximum(size - height / 2, -height / 2 + 1))
    left = tf.random.uniform([], -width / 2, tf.maximum(size - width / 2, -width / 2 + 1))
    return tf.stack([top, left, top + height, left + width])


def augment(image, boxes, classes, image_size, min_zoom=0.5, max_zoom=1.5):
    """One training example: random window (scale jitter and crop), then a random flip.

    Args:
        image: uint8 `(S, S, 3)`; boxes float32 `(n, 4)`; classes int32 `(n,)`.

    Returns:
        `(image uint8 (S, S, 3), boxes, classes)`.
    """
    window = random_window(image_size, min_zoom, max_zoom)
    flip = tf.random.uniform([]) < 0.5
    size = tf.cast(image_size, tf.float32)
    normalized = window / (size - 1.0)
    pixels = tf.image.crop_and_resize(
        tf.cast(image, tf.float32)[None],
        normalized[None],
        [0],
        [image_size, image_size],
        extrapolation_value=float(PAD_VALUE),
    )[0]
    pixels = tf.where(flip, tf.reverse(pixels, axis=[1]), pixels)
    boxes, classes = transform_boxes(boxes, classes, window, image_size, flip)
    pixels = tf.cast(tf.clip_by_value(tf.round(pixels), 0, 255), tf.uint8)
    return pixels, boxes, classes
