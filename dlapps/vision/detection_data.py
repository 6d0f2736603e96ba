"""Detection data: built-in scenes, Pascal VOC and COCO folders, TFDS detection sets.

Every source becomes a `DetectionData` whose splits hold the images
letterboxed to the model's square input (the same `letterbox` op the
exported model runs) and their boxes in that input's pixels, so training,
evaluation and the exported files see identical pixels.
"""

import dataclasses
import json
import typing
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps import datasets
from dlapps.errors import UserError
from dlapps.vision.data import IMAGE_EXTENSIONS, decode_image_file
from dlapps.vision.detection_postprocess import letterbox
from dlapps.vision.detection_scenes import SCENE_CLASSES, make_scenes

SCENE_COUNTS = {"train": 1200, "validation": 100, "test": 200}
TEST_FRACTION = 0.15
VALIDATION_FRACTION = 0.1


class DetectionSplit(typing.NamedTuple):
    """One split, letterboxed (a named tuple, so run fingerprints hash its arrays).

    Attributes:
        images: uint8 `(n, S, S, 3)`.
        boxes: float32 `(n, max_boxes, 4)` (ymin, xmin, ymax, xmax) in
            letterboxed pixels, zero rows as padding.
        classes: int32 `(n, max_boxes)`, -1 for padding.
        difficult: bool `(n, max_boxes)`: VOC "difficult" / COCO crowd boxes,
            left out of training and ignored by the evaluation.
    """

    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    difficult: np.ndarray

    @property
    def count(self):
        """Number of images."""
        return len(self.images)

    def objects(self, index):
        """`(boxes, classes, difficult)` of image `index` without padding."""
        keep = self.classes[index] >= 0
        return self.boxes[index][keep], self.classes[index][keep], self.difficult[index][keep]


@dataclasses.dataclass
class DetectionData:
    """Letterboxed train/validation/test splits and the class names."""

    train: DetectionSplit
    validation: DetectionSplit
    test: DetectionSplit
    labels: list
    source: str
    image_size: int
    # Export and evaluation settings of the run (max_detections, thresholds).
    settings: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        def count(split):
            return int((split.classes >= 0).sum())

        return {
            "source": self.source,
            "labels": list(self.labels),
            "image_size": self.image_size,
            "images": {
                "train": self.train.count,
                "validation": self.validation.count,
                "test": self.test.count,
            },
            "boxes": {
                "train": count(self.train),
                "validation": count(self.validation),
                "test": count(self.test),
            },
        }


def to_split(examples, image_size, max_boxes=None):
    """Letterboxes `(image, boxes, classes, difficult)` examples into a `DetectionSplit`."""
    max_boxes = max_boxes or max([1] + [len(e[1]) for e in examples])
    count = len(examples)
    images = np.zeros((count, image_size, image_size, 3), "uint8")
    boxes = np.zeros((count, max_boxes, 4), "float32")
    classes = np.full((count, max_boxes), -1, "int32")
    difficult = np.zeros((count, max_boxes), bool)
    for index, (image, image_boxes, image_classes, image_difficult) in enumerate(examples):
        boxed, scale = letterbox(tf.constant(image[None]), image_size)
        images[index] = boxed[0].numpy()
        keep = min(len(image_boxes), max_boxes)
        boxes[index, :keep] = np.asarray(image_boxes[:keep], "float32") * float(scale)
        classes[index, :keep] = image_classes[:keep]
        difficult[index, :keep] = image_difficult[:keep]
    return DetectionSplit(images, boxes, classes, difficult)


def split_by_image(
    examples, seed, test_fraction=TEST_FRACTION, validation_fraction=VALIDATION_FRACTION
):
    """Train/validation/test lists of examples, by image, fixed for a seed."""
    if len(examples) < 3:
        raise UserError(f"{len(examples)} images are too few to split: give at least 3")
    order = np.random.default_rng(seed).permutation(len(examples))
    test = max(1, int(round(len(examples) * test_fraction)))
    validation = max(1, int(round(len(examples) * validation_fraction)))
    parts = np.split(order, [test, test + validation])
    test_part, validation_part, train_part = ([examples[i] for i in part] for part in parts)
    return train_part, validation_part, test_part


def load_scenes(image_size, seed=0, counts=None):
    """The built-in scenes, generated once per setting and cached (see `datasets.cached_arrays`)."""
    counts = dict(counts or SCENE_COUNTS)

    def build():
        arrays = {}
        for offset, name in enumerate(("train", "validation", "test")):
            scenes = make_scenes(counts[name], seed=seed * 10 + offset)
            examples = [(im, b, c, np.zeros(len(c), bool)) for im, b, c in scenes]
            split = to_split(examples, image_size, max_boxes=16)
            for field in ("images", "boxes", "classes", "difficult"):
                arrays[f"{name}_{field}"] = getattr(split, field)
        return arrays

    arrays = datasets.cached_arrays(
        "detection-scenes",
        {"image_size": image_size, "seed": seed, "counts": counts, "version": 1},
        build,
    )
    splits = [
        DetectionSplit(
            *(arrays[f"{name}_{f}"] for f in ("images", "boxes", "classes", "difficult"))
        )
        for name in ("train", "validation", "test")
    ]
    return DetectionData(
        *splits, labels=list(SCENE_CLASSES), source="scenes", image_size=image_size
    )


def _text(element, path, tag):
    found = element.find(tag)
    if found is None or found.text is None:
        raise UserError(
            f"{path}: no <{tag}> in an <object>: every object needs it (labelImg/CVAT write it)"
        )
    return found.text.strip()


def parse_voc_xml(path):
    """One Pascal VOC annotation: `(filename, (height, width), objects)`.

    `objects` is a list of `(name, (ymin, xmin, ymax, xmax), difficult)`
    with 0-based pixel boxes (VOC's are 1-based and inclusive).

    Raises:
        UserError: unreadable XML, no `<size>`, or a box outside the image.
    """
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as error:
        raise UserError(f"{path}: not a readable Pascal VOC XML file ({error})") from None
    size = root.find("size")
    try:
        width = int(float(size.find("width").text))
        height = int(float(size.find("height").text))
    except (AttributeError, TypeError, ValueError):
        width = height = 0
    if width <= 0 or height <= 0:
        raise UserError(
            f"{path}: no <size> with <width> and <height>: re-export it from your labelling tool"
        )
    objects = []
    for item in root.findall("object"):
        name = _text(item, path, "name")
        box = item.find("bndbox")
        if box is None:
            raise UserError(f"{path}: object {name!r} has no <bndbox>")
        try:
            xmin, ymin, xmax, ymax = (
                float(_text(box, path, k)) for k in ("xmin", "ymin", "xmax", "ymax")
            )
        except ValueError:
            raise UserError(f"{path}: object {name!r} has a non-numeric <bndbox>") from None
        xmin, ymin = xmin - 1, ymin - 1  # 1-based, inclusive -> 0-based, exclusive
        if (
            xmin < -1
            or ymin < -1
            or xmax > width + 1
            or ymax > height + 1
            or xmin >= xmax
            or ymin >= ymax
        ):
            raise UserError(
                f"{path}: the box of {name!r} ({xmin + 1:g}, {ymin + 1:g}, {xmax:g}, {ymax:g}) is "
                f"empty or outside the {width}x{height} image: fix it in your labelling tool"
            )
        difficult = item.find("difficult")
        is_difficult = difficult is not None and (difficult.text or "0").strip() == "1"
        objects.append(
            (
                name,
                (max(0.0, ymin), max(0.0, xmin), min(height, ymax), min(width, xmax)),
                is_difficult,
            )
        )
    filename = root.findtext("filename")
    return filename, (height, width), objects


def _images_in(directory):
    return sorted(
        p for p in Path(directory).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _image_folder(directory):
    images_dir = Path(directory) / "images"
    if not images_dir.is_dir():
        images_dir = Path(directory)
    images = _images_in(images_dir)
    if not images:
        raise UserError(
            f"no images in {images_dir}: put the photos in {Path(directory) / 'images'}"
        )
    return images_dir, images


def _check_size(image, expected, path):
    if tuple(image.shape[:2]) != tuple(expected):
        raise UserError(
            f"{path}: says the image is {expected[1]}x{expected[0]} but it is "
            f"{image.shape[1]}x{image.shape[0]}: re-export the annotations for this image"
        )


def read_voc_folder(directory):
    """Examples `(image, boxes, names, difficult)` of a Pascal VOC folder.

    Layout (labelImg, CVAT): `images/*.jpg` and `annotations/*.xml`, one XML
    per image with the same stem. An image without an XML, or an XML without
    objects, is a negative example (no objects).
    """
    images_dir, images = _image_folder(directory)
    annotations = Path(directory) / "annotations"
    if not annotations.is_dir():
        annotations = Path(directory) / "Annotations"
    if not annotations.is_dir():
        raise UserError(
            f"no annotations folder in {directory}: Pascal VOC layout is images/ + "
            "annotations/*.xml "
            "(or pass --format coco for images/ + annotations.json)"
        )
    examples = []
    for image_path in images:
        image = decode_image_file(image_path, 3)
        xml = annotations / f"{image_path.stem}.xml"
        objects = []
        if xml.is_file():
            _, size, objects = parse_voc_xml(xml)
            _check_size(image, size, xml)
        examples.append(
            (
                image,
                np.asarray([o[1] for o in objects], "float32").reshape(-1, 4),
                [o[0] for o in objects],
                np.asarray([o[2] for o in objects], bool),
            )
        )
    return examples


def read_coco_folder(directory):
    """Examples of a COCO folder: `images/` and one `.json` (beside it or in `annotations/`)."""
    directory = Path(directory)
    candidates = sorted(directory.glob("*.json")) + sorted(
        (directory / "annotations").glob("*.json")
    )
    if not candidates:
        raise UserError(
            f"no COCO annotations .json file in {directory} or {directory / 'annotations'}"
        )
    path = candidates[0]
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        categories = {c["id"]: c["name"] for c in coco["categories"]}
        records = coco["images"]
        annotations = coco.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a COCO annotations file ({error})") from None
    images_dir = directory / "images" if (directory / "images").is_dir() else directory
    by_image = {}
    for annotation in annotations:
        by_image.setdefault(annotation.get("image_id"), []).append(annotation)
    examples = []
    for record in records:
        image_path = images_dir / str(record.get("file_name", ""))
        if not image_path.is_file():
            raise UserError(
                f"{path}: names image {record.get('file_name')!r}, which is not in {images_dir}"
            )
        image = decode_image_file(image_path, 3)
        boxes, names, difficult = [], [], []
        for annotation in by_image.get(record.get("id"), []):
            try:
                x, y, w, h = (float(v) for v in annotation["bbox"])
                name = categories[annotation["category_id"]]
            except (KeyError, TypeError, ValueError):
                raise UserError(
                    f"{path}: annotation {annotation.get('id')} has no valid bbox or category_id"
                ) from None
            height, width = image.shape[:2]
            if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1 or w <= 0 or h <= 0:
                raise UserError(
                    f"{path}: annotation {annotation.get('id')} box {[x, y, w, h]} is empty or "
                    f"outside image {record.get('file_name')} ({width}x{height})"
                )
            boxes.append((max(0.0, y), max(0.0, x), min(height, y + h), min(width, x + w)))
            names.append(name)
            difficult.append(bool(annotation.get("iscrowd", 0)))
        examples.append(
            (image, np.asarray(boxes, "float32").reshape(-1, 4), names, np.asarray(difficult, bool))
        )
    if not examples:
        raise UserError(f"{path}: lists no images")
    return examples


def _named_to_indexed(examples, labels=None):
    labels = labels or sorted({name for e in examples for name in e[2]})
    if not labels:
        raise UserError("the annotations name no objects at all: label at least one box")
    index = {name: i for i, name in enumerate(labels)}
    return [
        (image, boxes, np.asarray([index[n] for n in names], "int32"), difficult)
        for image, boxes, names, difficult in examples
    ], labels


def load_tfds_detection(name, data_dir=None, limit=None):
    """Examples and labels of a TFDS detection set (`objects/bbox`, `objects/label`)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        builder.download_and_prepare()
        # (Mocked builders in tests list no splits: take the usual names.)
        splits = list(builder.info.splits) or ["train", "validation", "test"]
        labels = builder.info.features["objects"]["label"].names
    except Exception as error:  # tfds raises many kinds: missing, offline, bad name
        raise UserError(
            f"could not load TFDS dataset '{name}': {str(error).splitlines()[0]} "
            "(a detection set has objects/bbox and objects/label; without a network, "
            "prepare it with `tfds build` and pass --tfds-data-dir)"
        ) from None
    examples = []
    for split in splits:
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            image = example["image"]
            if image.shape[-1] == 1:
                image = np.repeat(image, 3, axis=-1)
            height, width = image.shape[:2]
            objects = example["objects"]
            labels_of = np.asarray(objects["label"], "int32").reshape(-1)
            boxes = np.asarray(objects["bbox"], "float32").reshape(-1, 4)
            count = min(len(boxes), len(labels_of))
            boxes = boxes[:count] * [height, width, height, width]
            difficult = np.zeros(count, bool)
            flags = objects.get("is_difficult", objects.get("is_crowd"))
            if flags is not None:
                flags = np.asarray(flags, bool).reshape(-1)[:count]
                difficult[: len(flags)] = flags
            ordered = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            examples.append((image, boxes[ordered], labels_of[:count][ordered], difficult[ordered]))
            if limit and len(examples) >= limit:
                break
    return examples, list(labels)


def load_detection_data(spec, image_size, seed=0, data_format="voc", tfds_data_dir=None):
    """`DetectionData` for `--data`: "scenes" (default; "scenes:N" for N training
    scenes), a Pascal VOC or COCO folder, or `tfds:NAME`."""
    spec = spec or "scenes"
    if spec == "scenes" or spec.startswith("scenes:"):
        counts = None
        if spec != "scenes":
            try:
                train = int(spec[7:])
            except ValueError:
                train = 0
            if train < 4:
                raise UserError(f"--data {spec}: write scenes:N with N >= 4 training scenes")
            counts = {"train": train, "validation": max(4, train // 10), "test": max(4, train // 8)}
        return load_scenes(image_size, seed=seed, counts=counts)
    if spec.startswith("tfds:"):
        examples, labels = load_tfds_detection(spec[5:], data_dir=tfds_data_dir)
    else:
        if not Path(spec).is_dir():
            raise UserError(
                f"--data {spec}: no such folder (a Pascal VOC or COCO folder, or 'scenes')"
            )
        reader = read_coco_folder if data_format == "coco" else read_voc_folder
        examples, labels = _named_to_indexed(reader(spec))
    train, validation, test = split_by_image(examples, seed)
    max_boxes = min(100, max([1] + [len(e[1]) for e in examples]))
    return DetectionData(
        to_split(train, image_size, max_boxes),
        to_split(validation, image_size, max_boxes),
        to_split(test, image_size, max_boxes),
        labels=labels,
        source=spec,
        image_size=image_size,
    )
