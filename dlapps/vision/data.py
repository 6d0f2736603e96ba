"""Image data for the vision app: built-in digits, a folder of images, or TFDS.

Every source returns an `ImageData`: uint8 images of one size per split,
integer labels and the label names. `to_dataset` turns a split into a
batched `tf.data` pipeline.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError
from sklearn.model_selection import train_test_split

from dlapps import datasets
from dlapps.datasets import load_tfds_splits, readable, stratified_split
from dlapps.errors import UserError
from dlapps.vision.image_preprocessor import resize_images

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
GREYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")
MIN_IMAGES_PER_CLASS = 5


@dataclasses.dataclass
class ImageData:
    """Images split three ways, with their label names.

    Attributes:
        train, validation, test: `(images, labels)`: uint8
            `(n, height, width, channels)` and int32 `(n,)`.
        labels: class names; label `i` is `labels[i]`.
        source: where the data came from, for the report.
    """

    train: tuple
    validation: tuple
    test: tuple
    labels: list
    source: str

    @property
    def image_shape(self):
        """`(height, width, channels)` of every image."""
        return tuple(self.train[0].shape[1:])

    def resized(self, size):
        """The same data with every image resized to `size` (height, width).

        Uses `resize_images`, the op inside the models, so that resized data
        matches what a model would see. Returns `self` when nothing changes.

        Example:

        >>> load_digits().resized((16, 16)).image_shape
        (16, 16, 1)
        """
        if self.image_shape[:2] == tuple(size):
            return self

        def resize(split):
            images = resize_images(split[0], tuple(size)).numpy()
            return np.round(images).clip(0, 255).astype("uint8"), split[1]

        return dataclasses.replace(
            self,
            train=resize(self.train),
            validation=resize(self.validation),
            test=resize(self.test),
        )

    def summary(self):
        """Split sizes and classes, for the report."""
        return {
            "source": self.source,
            "image_shape": list(self.image_shape),
            "classes": len(self.labels),
            "train": len(self.train[1]),
            "validation": len(self.validation[1]),
            "test": len(self.test[1]),
        }


def load_digits(seed=0, test_fraction=0.2, validation_fraction=0.1):
    """scikit-learn's 1,797 handwritten digits as 8x8 uint8 images.

    The originals hold 17 grey levels (0..16); they are scaled to 0..255 so
    that the model sees ordinary pixels, like any photo a user sends.

    Example:

    >>> data = load_digits()
    >>> data.image_shape, len(data.labels)
    ((8, 8, 1), 10)
    """
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = np.round(digits.images * (255 / 16)).astype("uint8")[..., None]
    labels = digits.target.astype("int32")
    splits = stratified_split(images, labels, test_fraction, validation_fraction, seed)
    return ImageData(*splits, labels=[str(d) for d in range(10)], source="digits")


def decode_image_file(path, channels=3):
    """Reads one image file into a uint8 array `(height, width, channels)`.

    Honours EXIF rotation (phone photos) and takes the first frame of a GIF.

    Raises:
        UserError: the file is missing or is not a readable image.
    """
    try:
        with Image.open(readable(path)) as image:
            image = ImageOps.exif_transpose(image)
            image = image.convert("L" if channels == 1 else "RGB")
            array = np.asarray(image, dtype="uint8")
    except (FileNotFoundError, tf.errors.NotFoundError):
        raise UserError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise UserError(
            f"could not decode image {path} ({error}): remove or replace the file"
        ) from None
    return array[..., None] if channels == 1 else array


def _is_greyscale(path):
    try:
        with Image.open(readable(path)) as image:
            return image.mode in GREYSCALE_MODES
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise UserError(
            f"could not decode image {path} ({error}): remove or replace the file"
        ) from None


def list_image_folder(directory):
    """Lists a one-sub-folder-per-class image folder, local or a URL such as gs://.

    Returns:
        `(paths, labels, class_names)`, class names sorted alphabetically.

    Raises:
        UserError: the folder is missing, empty, has fewer than two classes,
            or a class with fewer than `MIN_IMAGES_PER_CLASS` images.
    """
    layout = "put one sub-folder of images per class in it (e.g. photos/cat/1.jpg)"
    class_folders = datasets.class_folders(directory, IMAGE_EXTENSIONS)
    if class_folders is None:
        raise UserError(f"data folder {directory} does not exist: {layout}")
    if not class_folders:
        raise UserError(f"data folder {directory} has no class sub-folders: {layout}")
    paths, labels, class_names = [], [], []
    for class_name, files in class_folders.items():
        if not files:
            continue
        if len(files) < MIN_IMAGES_PER_CLASS:
            raise UserError(
                f"class '{class_name}' in {directory} has {len(files)} images: "
                f"each class needs at least {MIN_IMAGES_PER_CLASS} to split into "
                "train, validation and test"
            )
        paths.extend(files)
        labels.extend([len(class_names)] * len(files))
        class_names.append(class_name)
    if not class_names:
        raise UserError(
            f"data folder {directory} holds no images ({', '.join(IMAGE_EXTENSIONS)}): {layout}"
        )
    if len(class_names) < 2:
        raise UserError(
            f"data folder {directory} has only one class ('{class_names[0]}'): "
            "a classifier needs at least two class sub-folders"
        )
    return paths, np.asarray(labels, "int32"), class_names


def load_image_folder(
    directory, image_size=(64, 64), seed=0, test_fraction=0.2, validation_fraction=0.1
):
    """Loads a folder with one sub-folder of images per class.

    Images may have any size and be JPEG, PNG, BMP or GIF; they are decoded
    once, resized to `image_size` with the same op the model uses, and kept
    in memory. The data is greyscale when every file is, RGB otherwise.

    Example:

    >>> data = load_image_folder("photos/", image_size=(64, 64))
    >>> data.labels
    ['cat', 'dog']
    """
    paths, labels, class_names = list_image_folder(directory)
    channels = 1 if all(_is_greyscale(p) for p in paths) else 3
    images = np.empty((len(paths), *image_size, channels), "uint8")
    progress = keras.utils.Progbar(len(paths), unit_name="image")
    for index, path in enumerate(paths):
        array = decode_image_file(path, channels)[None]
        images[index] = np.round(resize_images(array, image_size)[0].numpy())
        if index % 50 == 0 or index == len(paths) - 1:
            progress.update(index + 1)
    splits = stratified_split(images, labels, test_fraction, validation_fraction, seed)
    return ImageData(*splits, labels=class_names, source=f"folder:{directory}")


def load_tfds(name, image_size=None, seed=0, validation_fraction=0.1, data_dir=None):
    """Loads an image classification dataset from TensorFlow Datasets.

    Uses the dataset's own train and test splits and holds out a stratified
    `validation_fraction` of train. Images of varying size are resized to
    `image_size` (required then).

    Example:

    >>> data = load_tfds("mnist")
    >>> data.image_shape
    (28, 28, 1)
    """
    (train, test), info = load_tfds_splits(name, ["train", "test"], data_dir)
    label_feature = info.features[info.supervised_keys[1]]
    class_names = list(label_feature.names)

    def to_numpy(split):
        images, labels = [], []
        for image, label in split:
            if image_size is not None and tuple(image.shape[:2]) != tuple(image_size):
                image = tf.cast(tf.round(resize_images(image[None], image_size)[0]), tf.uint8)
            images.append(image.numpy())
            labels.append(label.numpy())
        if not images:
            raise UserError(f"TFDS dataset '{name}' has an empty split")
        return np.stack(images).astype("uint8"), np.asarray(labels, "int32")

    train_x, train_y = to_numpy(train)
    test_x, test_y = to_numpy(test)
    # Stratify only when every class has enough examples (tiny mock data may not).
    counts = np.bincount(train_y, minlength=len(class_names))
    stratify = train_y if counts[counts > 0].min() >= 2 else None
    train_x, val_x, train_y, val_y = train_test_split(
        train_x,
        train_y,
        test_size=validation_fraction,
        stratify=stratify,
        random_state=seed,
    )
    return ImageData(
        (train_x, train_y),
        (val_x, val_y),
        (test_x, test_y),
        labels=class_names,
        source=f"tfds:{name}",
    )


def load_image_data(spec="digits", image_size=None, seed=0, tfds_data_dir=None):
    """Loads image data from a `--data` value.

    Args:
        spec: "digits" (built in), "tfds:NAME" (e.g. "tfds:mnist"), or the
            path of a folder with one sub-folder of images per class.
        image_size: `(height, width)` to resize folder images to (default
            64x64) and TFDS images of varying size to.
        seed: seed of the train/validation/test split.
        tfds_data_dir: where TFDS keeps prepared datasets.
    """
    if spec in (None, "", "digits"):
        return load_digits(seed=seed)
    if spec.startswith("tfds:"):
        return load_tfds(spec[5:], image_size, seed=seed, data_dir=tfds_data_dir)
    return load_image_folder(spec, image_size or (64, 64), seed=seed)


def to_dataset(split, batch_size, shuffle=False, seed=0):
    """A batched, cached, prefetched `tf.data.Dataset` of `(images, labels)`."""
    images, labels = split
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
