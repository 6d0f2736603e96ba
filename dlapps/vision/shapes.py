"""A folder of drawn shapes, to try and test the folder data path without downloads."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "cross")
FORMATS = ("png", "jpg", "bmp", "gif")


def _draw(draw, shape, box, color, width):
    left, top, right, bottom = box
    if shape == "circle":
        draw.ellipse(box, outline=color, width=width)
    elif shape == "square":
        draw.rectangle(box, outline=color, width=width)
    elif shape == "triangle":
        draw.polygon(
            [((left + right) / 2, top), (right, bottom), (left, bottom)],
            outline=color,
            width=width,
        )
    else:
        draw.line([(left, top), (right, bottom)], fill=color, width=width)
        draw.line([(left, bottom), (right, top)], fill=color, width=width)


def write_shapes_folder(directory, images_per_class=40, shapes=SHAPES, seed=0):
    """Writes a one-sub-folder-per-class image folder of drawn shapes.

    Images vary in size (40 to 120 pixels a side), colour, position, stroke
    and file format (PNG, JPEG, BMP, GIF), like a folder of real photos.

    Args:
        directory: where to write `<shape>/<n>.<format>`.
        images_per_class: images of each shape.
        shapes: which of `SHAPES` to draw.
        seed: makes the folder reproducible.

    Returns:
        The directory, as a `Path`.

    Example:

    >>> write_shapes_folder("/tmp/shapes")
    >>> dlapps.vision.load_image_folder("/tmp/shapes", image_size=(32, 32)).labels
    ['circle', 'cross', 'square', 'triangle']
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    for shape in shapes:
        (directory / shape).mkdir(parents=True, exist_ok=True)
        for index in range(images_per_class):
            width, height = rng.integers(40, 121, size=2)
            background = tuple(int(c) for c in rng.integers(0, 90, size=3))
            image = Image.new("RGB", (int(width), int(height)), background)
            side = rng.uniform(0.45, 0.85) * min(width, height)
            left = rng.uniform(0, width - side)
            top = rng.uniform(0, height - side)
            color = tuple(int(c) for c in rng.integers(150, 256, size=3))
            stroke = int(max(2, side / 10))
            _draw(
                ImageDraw.Draw(image),
                shape,
                (left, top, left + side, top + side),
                color,
                stroke,
            )
            image_format = FORMATS[index % len(FORMATS)]
            image.save(directory / shape / f"{index}.{image_format}")
    return directory
