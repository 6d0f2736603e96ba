"""Generated detection scenes: several shapes, letters and digits on cluttered backgrounds.

The built-in data of the detection app (no download): every image has its
own size and aspect ratio, a textured background with clutter (lines,
outlines and blobs that are not objects), and one to seven objects of five
classes at scales from ~12 pixels to half the image, overlapping each other
and cut by the image border. Boxes are tight around each object's visible
ink, in (ymin, xmin, ymax, xmax) pixels.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SCENE_CLASSES = ("circle", "square", "triangle", "A", "7")
MAX_OBJECTS = 7


def _background(rng, height, width):
    # Low-frequency colour field + pixel noise: texture, not a flat colour.
    coarse = rng.integers(0, 256, size=(4, 4, 3)).astype("uint8")
    field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), "float32")
    field += rng.normal(0, rng.uniform(4, 20), size=(height, width, 3))
    image = Image.fromarray(np.clip(field, 0, 255).astype("uint8"))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 12))):  # clutter: thin strokes, outlines, dots
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, x1 = rng.uniform(0, width, 2)
        y0, y1 = rng.uniform(0, height, 2)
        kind = rng.integers(3)
        if kind == 0:
            draw.line([(x0, y0), (x1, y1)], fill=color, width=int(rng.integers(1, 3)))
        elif kind == 1:
            draw.arc(
                [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)],
                0,
                int(rng.integers(60, 300)),
                fill=color,
            )
        else:
            radius = rng.uniform(1, 4)
            draw.ellipse([x0 - radius, y0 - radius, x0 + radius, y0 + radius], fill=color)
    return image.filter(ImageFilter.SMOOTH) if rng.random() < 0.3 else image


def _object_mask(rng, label, height, width, size, top, left):
    """An 'L' mask of one object (filled shape or glyph) of side `size` at (top, left)."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    box = [left, top, left + size, top + size * rng.uniform(0.7, 1.3)]
    if label == "circle":
        draw.ellipse(box, fill=255)
    elif label == "square":
        draw.rectangle(box, fill=255)
    elif label == "triangle":
        draw.polygon(
            [((box[0] + box[2]) / 2, box[1]), (box[2], box[3]), (box[0], box[3])], fill=255
        )
    else:
        font = ImageFont.load_default(size=max(8, int(size * 1.3)))
        draw.text((left, top), label, fill=255, font=font, anchor="lt")
        if rng.random() < 0.5:
            mask = mask.rotate(rng.uniform(-15, 15), center=(left + size / 2, top + size / 2))
    return np.asarray(mask) > 127


def make_scene(rng, min_side=160, max_side=400):
    """One scene: `(image uint8 (h, w, 3), boxes float32 (n, 4), classes int32 (n,))`.

    Example:

    >>> image, boxes, classes = make_scene(np.random.default_rng(0))
    >>> image.dtype, boxes.shape[1], classes.max() < len(SCENE_CLASSES)
    (dtype('uint8'), 4, True)
    """
    height, width = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
    image = _background(rng, height, width)
    pixels = np.asarray(image).copy()
    masks, classes = [], []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1)) * 3):  # tries
        if len(masks) >= MAX_OBJECTS or (len(masks) and rng.random() < 0.15):
            break
        label = int(rng.integers(len(SCENE_CLASSES)))
        side = min(height, width)
        size = float(np.exp(rng.uniform(np.log(12), np.log(0.5 * side))))
        # Positions may cross the border by up to a third of the object.
        top = rng.uniform(-size / 3, height - 2 * size / 3)
        left = rng.uniform(-size / 3, width - 2 * size / 3)
        mask = _object_mask(rng, SCENE_CLASSES[label], height, width, size, top, left)
        if mask.sum() < 40:
            continue
        # Overlap, but never hide more than 40% of an object already placed.
        if any((mask & old).sum() > 0.4 * old.sum() for old in masks):
            continue
        masks = [old & ~mask for old in masks]
        masks.append(mask)
        classes.append(label)
        color = rng.integers(0, 256, 3)
        background = pixels[mask].mean(axis=0)
        if np.abs(color - background).sum() < 200:  # keep it visible against the background
            color = 255 - background
        shade = rng.normal(0, 8, size=(int(mask.sum()), 3))
        pixels[mask] = np.clip(color + shade, 0, 255).astype("uint8")
    boxes, kept = [], []
    for mask, label in zip(masks, classes, strict=True):
        rows, cols = np.nonzero(mask)
        if len(rows) < 30:  # hidden by later objects
            continue
        boxes.append([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1])
        kept.append(label)
    return (
        pixels,
        np.asarray(boxes, "float32").reshape(-1, 4),
        np.asarray(kept, "int32"),
    )


def make_scenes(count, seed=0, min_side=160, max_side=400):
    """`count` scenes as a list of `(image, boxes, classes)`."""
    rng = np.random.default_rng(seed)
    return [make_scene(rng, min_side, max_side) for _ in range(count)]


def write_voc_folder(directory, count=40, seed=0, keep_classes=None):
    """Writes scenes as a Pascal VOC folder (`images/*.jpg`, `annotations/*.xml`), as labelImg does.

    Args:
        directory: where to write.
        count: number of images.
        keep_classes: class names to annotate (others stay in the picture, unlabelled:
            a one-class folder with look-alike clutter); default all.

    Returns:
        The directory, as a `Path`.

    Example:

    >>> write_voc_folder("/tmp/voc", count=10, keep_classes=("A",))
    PosixPath('/tmp/voc')
    """
    from pathlib import Path

    directory = Path(directory)
    (directory / "images").mkdir(parents=True, exist_ok=True)
    (directory / "annotations").mkdir(parents=True, exist_ok=True)
    for index, (image, boxes, classes) in enumerate(make_scenes(count, seed=seed)):
        name = f"scene_{index:04d}"
        Image.fromarray(image).save(directory / "images" / f"{name}.jpg", quality=92)
        height, width = image.shape[:2]
        objects = []
        for (ymin, xmin, ymax, xmax), label in zip(boxes, classes, strict=True):
            label_name = SCENE_CLASSES[label]
            if keep_classes and label_name not in keep_classes:
                continue
            objects.append(
                f"<object><name>{label_name}</name><difficult>0</difficult><bndbox>"
                f"<xmin>{int(xmin) + 1}</xmin><ymin>{int(ymin) + 1}</ymin>"
                f"<xmax>{int(xmax)}</xmax><ymax>{int(ymax)}</ymax></bndbox></object>"
            )
        (directory / "annotations" / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.jpg</filename><size><width>{width}</width>"
            f"<height>{height}</height><depth>3</depth></size>{''.join(objects)}</annotation>",
            encoding="utf-8",
        )
    return directory
