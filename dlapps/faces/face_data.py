"""Face data for the faces app: generated identities or a folder of people, split by person.

Face recognition is tested on people the model has never seen, so the
split is by identity: the training, validation and test people are
disjoint (fixed by the seed), and every photo of a person goes to that
person's split. Training uses only the training people's identity labels
(for the margin head); validation and test people are only compared.
"""

import dataclasses

import keras
import numpy as np

from dlapps import datasets
from dlapps.errors import UserError
from dlapps.faces.identity_renderer import IdentityRenderer
from dlapps.vision.data import IMAGE_EXTENSIONS, decode_image_file
from dlapps.vision.image_preprocessor import resize_images

MIN_PHOTOS_TO_TRAIN = 2
MIN_PEOPLE = 6
GENERATED = {"identities": 600, "photos": 16, "image_size": 64}


@dataclasses.dataclass
class FaceData:
    """Face photos split by person.

    Attributes:
        train, validation, test: `(images, person)`: uint8
            `(n, height, width, 3)` and int32 `(n,)` indices into `names`.
            No person appears in two splits.
        names: every person's name; `names[person]`.
        labels: the training people's names, in the order of the margin
            head's classes (training labels are `0..len(labels)-1`).
        source: where the data came from, for the report.
        gallery_path: export: a gallery to bake into the SavedModel (`--gallery`).
        detector: the face detector that cropped the photos (`--detector`), or None.
    """

    train: tuple
    validation: tuple
    test: tuple
    names: list
    labels: list
    source: str
    gallery_path: str | None = None
    detector: str | None = None

    @property
    def fitting(self):
        """The training photos `model.fit` learns from: `train` without `holdout`."""
        return tuple(part[~self._held_out()] for part in self.train)

    @property
    def holdout(self):
        """Every 8th photo of each training person (1 of 3 to 8): for the validation loss.

        The margin head only knows training people, so its loss is measured
        on unseen photos of them; unseen people are measured by verification.
        """
        return tuple(part[self._held_out()] for part in self.train)

    def _held_out(self):
        people = self.train[1]
        mask = np.zeros(len(people), bool)
        groups = [np.flatnonzero(people == person) for person in np.unique(people)]
        for photos in groups:
            if len(photos) >= 3:
                mask[photos[7::8] if len(photos) >= 8 else photos[-1:]] = True
        if not mask.any():  # everyone has two photos: still measure on unseen ones
            for photos in groups:
                mask[photos[-1]] = True
        return mask

    @property
    def image_shape(self):
        """`(height, width, channels)` of every image."""
        return tuple(self.train[0].shape[1:])

    def summary(self):
        """Split sizes in photos and people, for the report."""
        summary = {"source": self.source, "image_shape": list(self.image_shape)}
        for split in ("train", "validation", "test"):
            _, people = getattr(self, split)
            summary[split] = len(people)
            summary[f"{split}_people"] = len(np.unique(people))
        return summary


def resize(data, size):
    """The same data with every photo resized to `size` with the models' own resize."""

    def resized(split):
        images = np.round(resize_images(split[0], size).numpy()).clip(0, 255).astype("uint8")
        return images, split[1]

    return dataclasses.replace(
        data,
        train=resized(data.train),
        validation=resized(data.validation),
        test=resized(data.test),
    )


def split_people(num_people, seed, validation_fraction=0.1, test_fraction=0.2):
    """Disjoint `(train, validation, test)` arrays of person indices, fixed by `seed`.

    Validation and test get at least two people each (a pair of different
    people needs two).

    Example:

    >>> train, validation, test = split_people(10, seed=0)
    >>> sorted([*train, *validation, *test]) == list(range(10))
    True
    """
    order = np.random.default_rng(seed).permutation(num_people)
    num_test = max(2, int(round(num_people * test_fraction)))
    num_validation = max(2, int(round(num_people * validation_fraction)))
    test = np.sort(order[:num_test])
    validation = np.sort(order[num_test : num_test + num_validation])
    train = np.sort(order[num_test + num_validation :])
    return train, validation, test


def _by_person(images, people, names, seed, source):
    """Splits photos by person and renumbers the training people `0..k-1`."""
    train, validation, test = split_people(len(names), seed)

    def take(chosen):
        mask = np.isin(people, chosen)
        return images[mask], people[mask].astype("int32")

    train_images, train_people = take(train)
    remap = np.full(len(names), -1, "int32")
    remap[train] = np.arange(len(train))
    return FaceData(
        train=(train_images, remap[train_people]),
        validation=take(validation),
        test=take(test),
        names=list(names),
        labels=[names[i] for i in train],
        source=source,
    )


def generate_identities(identities=600, photos=16, image_size=64, seed=0):
    """`(images, people)`: `photos` generated photos of each of `identities` people."""
    renderer = IdentityRenderer(image_size)
    rng = np.random.default_rng(seed)
    people = [renderer.sample_identity(rng) for _ in range(identities)]
    images = np.stack([renderer.render(p, rng) for p in people for _ in range(photos)])
    return images, np.repeat(np.arange(identities), photos).astype("int32")


def load_generated(seed=0, identities=None, photos=None, image_size=None):
    """The built-in generated identities (made once, then read from the cache), split by person.

    Example:

    >>> data = load_generated(identities=20, photos=4)
    >>> data.summary()["test_people"]
    4
    """
    parameters = {
        "identities": identities or GENERATED["identities"],
        "photos": photos or GENERATED["photos"],
        "image_size": image_size or GENERATED["image_size"],
        "version": 1,
    }
    arrays = datasets.cached_arrays(
        "faces",
        parameters,
        lambda: dict(
            zip(
                ("images", "people"),
                generate_identities(**{k: v for k, v in parameters.items() if k != "version"}),
                strict=True,
            )
        ),
    )
    names = [f"person_{i:04d}" for i in range(parameters["identities"])]
    return _by_person(arrays["images"], arrays["people"], names, seed, "generated identities")


def list_people(directory, min_photos=1, purpose="training"):
    """`{person: image paths}` of a folder with one sub-folder of photos per person.

    Raises:
        UserError: no such folder, no people, or (when `min_photos` > 1) a
            person with fewer photos than that.
    """
    layout = "put one sub-folder of photos per person in it (e.g. people/ada/1.jpg)"
    folders = datasets.class_folders(directory, set(IMAGE_EXTENSIONS))
    if folders is None:
        raise UserError(f"folder {directory} does not exist: {layout}")
    folders = {name: files for name, files in folders.items() if files}
    if not folders:
        raise UserError(f"folder {directory} has no person sub-folders with photos: {layout}")
    for name, files in folders.items():
        if len(files) < min_photos:
            raise UserError(
                f"person '{name}' in {directory} has {len(files)} photo(s): {purpose} needs at "
                f"least {min_photos} photos of each person (one photo is enough to enrol)"
            )
    return folders


def load_photos(paths, image_size, cropper=None):
    """Decodes image files as RGB and resizes them to `image_size` with the models' own resize.

    With a `FaceCropper`, each photo is first cropped to the face its detector finds.
    """
    images = np.empty((len(paths), *image_size, 3), "uint8")
    for index, path in enumerate(paths):
        array = decode_image_file(path, channels=3)
        if cropper is not None:
            array = cropper.crop(array, path)
        images[index] = np.round(resize_images(array[None], image_size)[0].numpy()).clip(0, 255)
    return images


def load_folder(directory, image_size, seed=0, cropper=None):
    """A folder of people's photos (people/<person>/<photo>), split by person.

    Greyscale photos become RGB (the grey value in each channel). With a
    `FaceCropper` (`--detector`), whole photos are cropped to the face first.

    Raises:
        UserError: a person with one photo (training needs pairs), fewer
            than `MIN_PEOPLE` people, or a file that is not an image.
    """
    folders = list_people(directory, MIN_PHOTOS_TO_TRAIN, "training")
    if len(folders) < MIN_PEOPLE:
        raise UserError(
            f"folder {directory} has {len(folders)} people: training needs at least {MIN_PEOPLE} "
            "(the split keeps validation and test people unseen)"
        )
    names = sorted(folders)
    paths = [path for name in names for path in folders[name]]
    people = np.concatenate([np.full(len(folders[n]), i) for i, n in enumerate(names)])
    progress = keras.utils.Progbar(len(paths), unit_name="photo")
    images = load_photos(paths, image_size, cropper)
    progress.update(len(paths))
    return _by_person(images, people.astype("int32"), names, seed, f"folder:{directory}")
