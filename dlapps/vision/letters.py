"""A folder of drawn capital letters: the small-folder case of issue 21, for benchmarks and tests.

Not used by training: it reproduces a user's small folder (80 images per
class, 40-120 pixels, PNG/JPEG/BMP, coloured noisy backgrounds, slight
rotation) so that the from-scratch defaults can be measured on it.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LETTERS = ("A", "B", "C", "D", "E")
FORMATS = ("png", "jpg", "bmp")


def write_letters_folder(directory, images_per_class=80, letters=LETTERS, seed=0):
    """Writes `<letter>/<n>.<format>` images of clearly drawn capital letters.

    Each image has its own size (40 to 120 pixels a side), a coloured
    background with pixel noise, a contrasting letter filling 50-80% of the
    height at a random place, rotated by up to 12 degrees, and is saved as
    PNG, JPEG or BMP in turn.

    Returns:
        The directory, as a `Path`.

    Example:

    >>> write_letters_folder("/tmp/letters", images_per_class=10)
    PosixPath('/tmp/letters')
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    for letter in letters:
        (directory / letter).mkdir(parents=True, exist_ok=True)
        for index in range(images_per_class):
            width, height = (int(v) for v in rng.integers(40, 121, size=2))
            background = rng.integers(0, 256, size=3)
            noise = rng.normal(0, 18, size=(height, width, 3))
            pixels = np.clip(background + noise, 0, 255).astype("uint8")
            image = Image.fromarray(pixels)
            # A letter colour far from the background, so a person reads it at a glance.
            color = tuple(
                int(c) for c in np.where(background > 127, 0, 255) ^ rng.integers(0, 60, 3)
            )
            size = int(rng.uniform(0.5, 0.8) * min(width, height))
            font = ImageFont.load_default(size=size)
            layer = Image.new("L", (width, height), 0)
            draw = ImageDraw.Draw(layer)
            left, top, right, bottom = draw.textbbox((0, 0), letter, font=font)
            # Whole letters only: a margin of a tenth of the letter on every side.
            margin = 0.1 * size
            x = rng.uniform(margin, max(margin + 1, width - (right - left) - margin)) - left
            y = rng.uniform(margin, max(margin + 1, height - (bottom - top) - margin)) - top
            draw.text((x, y), letter, fill=255, font=font)
            layer = layer.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)
            image.paste(Image.new("RGB", image.size, color), mask=layer)
            image.save(directory / letter / f"{index}.{FORMATS[index % len(FORMATS)]}")
    return directory
