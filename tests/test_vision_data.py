import numpy as np
import pytest
from PIL import Image

from dlapps import vision
from dlapps.errors import UserError
from dlapps.vision.shapes import write_shapes_folder


def test_digits_split_is_stratified_deterministic_and_disjoint(digits):
    again = vision.load_digits()
    np.testing.assert_array_equal(digits.test[1], again.test[1])
    sizes = [len(split[1]) for split in (digits.train, digits.validation, digits.test)]
    assert sum(sizes) == 1797
    assert sizes[2] == 360
    # Stratified: every class holds 10% of the test split, give or take one.
    counts = np.bincount(digits.test[1], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37


def test_digits_are_uint8_pixels_spanning_0_to_255(digits):
    images = digits.train[0]
    assert images.dtype == np.uint8
    assert images.shape[1:] == (8, 8, 1)
    assert images.min() == 0 and images.max() == 255


def test_folder_of_mixed_sizes_and_formats_loads_at_one_size(tmp_path):
    write_shapes_folder(tmp_path, images_per_class=10)
    data = vision.load_image_folder(tmp_path, image_size=(24, 20))
    assert data.labels == ["circle", "cross", "square", "triangle"]
    assert data.image_shape == (24, 20, 3)
    assert sum(len(s[1]) for s in (data.train, data.validation, data.test)) == 40
    assert set(np.unique(data.test[1])) == {0, 1, 2, 3}


def test_folder_of_greyscale_images_gives_one_channel(tmp_path):
    for label in ("dark", "light"):
        (tmp_path / label).mkdir()
        for index in range(5):
            value = 20 if label == "dark" else 230
            Image.new("L", (10 + index, 12), value).save(tmp_path / label / f"{index}.png")
    data = vision.load_image_folder(tmp_path, image_size=(8, 8))
    assert data.image_shape == (8, 8, 1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: None, "has no class sub-folders"),
        (lambda root: (root / "cat").mkdir(), "holds no images"),
        (lambda root: _images(root / "cat", 5), "only one class"),
        (
            lambda root: (_images(root / "cat", 5), _images(root / "dog", 2)),
            "has 2 images",
        ),
    ],
)
def test_unusable_folder_says_what_is_wrong(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(UserError, match=message):
        vision.load_image_folder(tmp_path)


def test_missing_folder_says_it_does_not_exist(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        vision.load_image_data(str(tmp_path / "nope"))


def test_corrupt_image_error_names_the_file(tmp_path):
    _images(tmp_path / "cat", 5)
    _images(tmp_path / "dog", 5)
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(UserError, match=r"broken\.jpg"):
        vision.load_image_folder(tmp_path)


def test_tfds_names_load_through_tensorflow_datasets(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=30):
        data = vision.load_image_data("tfds:mnist")
    assert data.image_shape == (28, 28, 1)
    assert data.labels == [str(d) for d in range(10)]
    assert len(data.test[1]) == 30
    assert len(data.train[1]) + len(data.validation[1]) == 30


def test_unknown_tfds_name_is_a_user_error():
    with pytest.raises(UserError, match="could not load TFDS dataset 'no_such_set'"):
        vision.load_image_data("tfds:no_such_set")


def test_to_dataset_batches_images_and_labels(digits):
    images, labels = next(iter(vision.to_dataset(digits.train, 16, shuffle=True)))
    assert images.shape == (16, 8, 8, 1) and images.dtype == "uint8"
    assert labels.shape == (16,)


def _images(directory, count):
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("RGB", (16, 16), (index * 40, 0, 0)).save(directory / f"{index}.png")


def test_resized_data_changes_size_and_keeps_labels(digits):
    resized = digits.resized((16, 16))
    assert resized.image_shape == (16, 16, 1) and resized.train[0].dtype == np.uint8
    np.testing.assert_array_equal(resized.test[1], digits.test[1])
    assert digits.resized((8, 8)) is digits


def test_folder_behind_a_url_loads_through_tf_io_gfile(tmp_path):
    # ram:// is TensorFlow's in-memory file system: the same code path as gs:// or s3://.
    import tensorflow as tf

    write_shapes_folder(tmp_path, images_per_class=6)
    for path in sorted(tmp_path.rglob("*.*")):
        target = f"ram://shapes/{path.relative_to(tmp_path).as_posix()}"
        tf.io.gfile.makedirs(target.rsplit("/", 1)[0])
        tf.io.gfile.copy(str(path), target, overwrite=True)
    local = vision.load_image_folder(tmp_path, image_size=(16, 16))
    remote = vision.load_image_folder("ram://shapes/", image_size=(16, 16))
    assert remote.labels == local.labels
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(remote, split)[0], getattr(local, split)[0])
    with pytest.raises(UserError, match="does not exist"):
        vision.load_image_folder("ram://no-such-folder")


def test_folder_reads_every_format_pillow_reads(tmp_path):
    formats = ("webp", "tiff", "pgm", "ppm", "png")
    for label, value in (("dark", 30), ("light", 220)):
        (tmp_path / label).mkdir()
        for index, extension in enumerate(formats):
            image = Image.new("RGB", (12 + index, 10), (value, value // 2, 255 - value))
            image.convert("L" if extension == "pgm" else "RGB").save(
                tmp_path / label / f"{index}.{extension}"
            )
    data = vision.load_image_folder(tmp_path, image_size=(8, 8))
    assert sum(len(s[1]) for s in (data.train, data.validation, data.test)) == 10
    means = {label: data.test[0][data.test[1] == i].mean() for i, label in enumerate(data.labels)}
    assert means["dark"] < means["light"]


def test_folder_of_unreadable_files_names_their_extensions(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "notes.txt").write_text("not an image")
        (tmp_path / label / "scan.heic").write_bytes(b"\x00" * 16)
    with pytest.raises(UserError, match=r"skipped files ending \.heic, \.txt") as error:
        vision.load_image_folder(tmp_path)
    assert "\n" not in str(error.value)
