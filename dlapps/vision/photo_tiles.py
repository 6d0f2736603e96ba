"""A folder of real photographs made offline: tiles of scikit-image's and scikit-learn's samples.

For benchmarks and tests, not for training defaults: each class is one
sample photograph (a cat, a coffee cup, a rocket, the Chinese temple...),
and its images are non-overlapping tiles of it, each rescaled a little and
saved as JPEG or PNG. Tiles do not share pixels, so a test tile is a part
of the photograph the model has not seen. `write_photo_tiles_split` goes
further: training and test tiles come from different regions of each
photograph (left and right, a column of tiles apart), so a test tile is not
a near neighbour of a training tile, and the test set can be larger than
the training set.
"""

from pathlib import Path

import numpy as np
from PIL import Image

# class name -> (source, name): scikit-image `skimage.data.<name>()` or
# scikit-learn `load_sample_image(<name>)`. All ship inside the wheels.
PHOTOGRAPHS = {
    "astronaut": ("skimage", "astronaut"),
    "cat": ("skimage", "chelsea"),
    "coffee": ("skimage", "coffee"),
    "rocket": ("skimage", "rocket"),
    "motorcycle": ("skimage", "stereo_motorcycle"),
    "galaxies": ("skimage", "hubble_deep_field"),
    "tissue": ("skimage", "immunohistochemistry"),
    "retina": ("skimage", "retina"),
    "cameraman": ("skimage", "camera"),
    "coins": ("skimage", "coins"),
    "moon": ("skimage", "moon"),
    "page": ("skimage", "page"),
    "brick": ("skimage", "brick"),
    "grass": ("skimage", "grass"),
    "gravel": ("skimage", "gravel"),
    "temple": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
}


def load_photograph(source, name):
    """One sample photograph as a uint8 RGB array."""
    if source == "skimage":
        import skimage.data

        image = getattr(skimage.data, name)()
        if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
            image = image[0]
    else:
        from sklearn.datasets import load_sample_image

        image = load_sample_image(name)
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.dtype != np.uint8:
        image = (255 * (image - image.min()) / max(1e-9, np.ptp(image))).astype("uint8")
    return image[..., :3]


def write_photo_tiles_folder(directory, tiles_per_class=20, classes=None, seed=0):
    """Writes `<class>/<n>.<jpg|png>`: `tiles_per_class` non-overlapping tiles of each photograph.

    The photograph is cut into a grid of about `tiles_per_class` equal
    tiles (the grid follows its aspect ratio); each tile is kept whole,
    scaled to 70-130% of its size and saved as JPEG or PNG in turn.

    Returns:
        The directory, as a `Path`.

    Example:

    >>> write_photo_tiles_folder("/tmp/photos", tiles_per_class=12)
    PosixPath('/tmp/photos')
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    for class_name in classes or PHOTOGRAPHS:
        photograph = load_photograph(*PHOTOGRAPHS[class_name])
        height, width = photograph.shape[:2]
        rows = max(1, int(round(np.sqrt(tiles_per_class * height / width))))
        columns = int(np.ceil(tiles_per_class / rows))
        tile_height, tile_width = height // rows, width // columns
        (directory / class_name).mkdir(parents=True, exist_ok=True)
        cells = [(r, c) for r in range(rows) for c in range(columns)][:tiles_per_class]
        for index, cell in enumerate(cells):
            path = directory / class_name / f"{index}.{('jpg', 'png')[index % 2]}"
            _save_tile(photograph, cell, (tile_height, tile_width), rng, path)
    return directory


def _save_tile(photograph, cell, tile_shape, rng, path):
    """Saves the grid cell `(row, column)` of `photograph`, scaled to a random 70-130%."""
    (row, column), (tile_height, tile_width) = cell, tile_shape
    tile = photograph[
        row * tile_height : (row + 1) * tile_height,
        column * tile_width : (column + 1) * tile_width,
    ]
    scale = rng.uniform(0.7, 1.3)
    size = (max(16, int(tile_width * scale)), max(16, int(tile_height * scale)))
    Image.fromarray(tile).resize(size, Image.BILINEAR).save(path)


def _grid(height, width, left, right):
    """Rows and columns of near-square cells: `left` cells left of a guard column, `right` after."""
    best = None
    for rows in range(1, 64):
        columns = -(-left // rows) + 1 + -(-right // rows)
        aspect = abs(np.log((width / columns) / (height / rows)))
        if best is None or aspect < best[0]:
            best = (aspect, rows, -(-left // rows), -(-right // rows))
    return best[1:]


def write_photo_tiles_split(directory, train_per_class=20, test_per_class=30, classes=None, seed=0):
    """Writes `train/<class>/` and `test/<class>/` tiles from separate regions of each photograph.

    Each photograph is cut into a grid of near-square cells: the columns on
    its left give `train_per_class` tiles, one column is skipped, and the
    columns on its right give `test_per_class` tiles. Tiles are scaled to
    70-130% and saved as JPEG or PNG in turn, as `write_photo_tiles_folder`
    does. Train with `--data DIR/train` (the app splits its own validation
    and test files off it) and measure on `DIR/test`: parts of the
    photographs that no training tile touches or borders.

    Returns:
        `(train_directory, test_directory)` as `Path`s.

    Example:

    >>> write_photo_tiles_split("/tmp/photos", train_per_class=20, test_per_class=40)
    (PosixPath('/tmp/photos/train'), PosixPath('/tmp/photos/test'))
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    for class_name in classes or PHOTOGRAPHS:
        photograph = load_photograph(*PHOTOGRAPHS[class_name])
        height, width = photograph.shape[:2]
        rows, left, right = _grid(height, width, train_per_class, test_per_class)
        tile_height, tile_width = height // rows, width // (left + 1 + right)
        for split, first_column, columns, count in (
            ("train", 0, left, train_per_class),
            ("test", left + 1, right, test_per_class),
        ):
            cells = [(r, first_column + c) for c in range(columns) for r in range(rows)][:count]
            (directory / split / class_name).mkdir(parents=True, exist_ok=True)
            for index, cell in enumerate(cells):
                path = directory / split / class_name / f"{index}.{('jpg', 'png')[index % 2]}"
                _save_tile(photograph, cell, (tile_height, tile_width), rng, path)
    return directory / "train", directory / "test"
