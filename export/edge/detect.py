"""Find objects in image files with a dlapps .tflite detector on an edge device.

Needs numpy, Pillow and a TFLite interpreter (ai-edge-litert or
tflite-runtime); never TensorFlow or dlapps. Copy this file and `litert.py`
to the device together.

    python detect.py detection_int8.tflite street.jpg --out street_boxes.png
    street.jpg: 2 objects
      car 0.912 box (x, y, x, y) 12, 40, 180, 130
      ...

The model contract: one uint8 input `[1, S, S, 3]` of raw pixels,
letterboxed (scaled to fit, padded at the bottom and right with grey 114;
done here with Pillow, as `dlapps` does with TensorFlow), and the outputs
`boxes` (ymin, xmin, ymax, xmax as fractions of the S x S input),
`classes`, `scores` and `num_detections`, already decoded and non-max
suppressed in the graph (the layout MediaPipe's ObjectDetector reads).
Boxes are mapped back to the photo's pixels here. Labels come from the
file's own metadata, else from `labels.txt` beside it.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

try:
    from . import litert  # imported as part of a package
except ImportError:
    import litert  # run as a script: the script's folder is on sys.path

EdgeError = litert.EdgeError
PAD_VALUE = 114


def load_photo(image_path):
    """The image file as an RGB uint8 array, upright by its EXIF orientation."""
    path = Path(image_path)
    if not path.is_file():
        raise EdgeError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode == "P":
                image = image.convert("RGBA")
            return np.asarray(image.convert("RGB"), np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise EdgeError(f"{path}: could not be decoded as an image ({error})") from None


def letterbox(pixels, size):
    """Scales `pixels` to fit `size` x `size` and pads bottom/right; returns `(image, scale)`.

    Pillow's bilinear filter widens with the shrink factor, as TF's
    antialiased resize in dlapps does (within a grey level or so).

    Example:

    >>> boxed, scale = letterbox(np.zeros((100, 200, 3), np.uint8), 64)
    >>> boxed.shape, scale
    ((64, 64, 3), 0.32)
    """
    height, width = pixels.shape[:2]
    scale = min(size / height, size / width)
    new_height = min(size, int(round(height * scale)))
    new_width = min(size, int(round(width * scale)))
    image = Image.fromarray(pixels)
    if (new_height, new_width) != (height, width):
        image = image.resize((new_width, new_height), Image.Resampling.BILINEAR)
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    canvas[:new_height, :new_width] = np.asarray(image, np.uint8)
    return canvas, scale


def load_detector(model_path, labels_path=None, num_threads=None):
    """Opens the detector once: `{"interpreter", "size", "labels"}` for `detect_image`."""
    interpreter = litert.load_interpreter(model_path, num_threads=num_threads)
    details = litert.input_details(interpreter)
    if set(details) != {"images"}:
        raise EdgeError(f"not a dlapps detector: its inputs are {sorted(details)}, not ['images']")
    labels = None if labels_path else litert.metadata_labels(model_path)
    if labels is None:
        labels_path = Path(labels_path or Path(model_path).parent / "labels.txt")
        try:
            labels = labels_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise EdgeError(f"labels file not found: {labels_path}") from None
    size = int(details["images"]["shape_signature"][1])
    return {"interpreter": interpreter, "size": size, "labels": labels}


def detect_image(detector, path):
    """One image file through a detector from `load_detector`: its objects, in its pixels."""
    pixels = load_photo(path)
    boxed, scale = letterbox(pixels, detector["size"])
    outputs = litert.run_named(detector["interpreter"], {"images": boxed[None]})
    missing = {"boxes", "classes", "scores", "num_detections"} - set(outputs)
    if missing:
        raise EdgeError(f"not a dlapps detector: no {sorted(missing)} output")
    height, width = pixels.shape[:2]
    count = int(outputs["num_detections"][0])
    boxes = outputs["boxes"][0][:count] * detector["size"] / scale  # fractions -> photo pixels
    boxes = np.clip(boxes, 0, [height, width, height, width])
    labels = detector["labels"]
    objects = []
    for box, label, score in zip(
        boxes, outputs["classes"][0][:count], outputs["scores"][0][:count], strict=True
    ):
        index = int(round(float(label)))
        objects.append(
            {
                "label": labels[index] if index < len(labels) else str(index),
                "score": round(float(score), 4),
                "box": [round(float(v), 2) for v in box],  # ymin, xmin, ymax, xmax
            }
        )
    return {"image": str(path), "pixels": pixels, "objects": objects}


def detect(model_path, image_paths, labels_path=None, num_threads=None):
    """Runs the detector on each image; returns one dict per image with its detections.

    Example:

    >>> detect("detection_int8.tflite", ["street.jpg"])[0]["objects"][0]
    {'label': 'car', 'score': 0.912, 'box': [40.0, 12.0, 130.0, 180.0]}
    """
    detector = load_detector(model_path, labels_path, num_threads)
    return [detect_image(detector, path) for path in image_paths]


def draw(result, path):
    """Writes the photo with its boxes and labels drawn, as PNG."""
    picture = Image.fromarray(result["pixels"])
    canvas = ImageDraw.Draw(picture)
    for found in result["objects"]:
        ymin, xmin, ymax, xmax = found["box"]
        canvas.rectangle([xmin, ymin, xmax, ymax], outline=(255, 40, 40), width=2)
        canvas.text(
            (xmin + 2, ymin + 1), f"{found['label']} {found['score']:.2f}", fill=(255, 255, 0)
        )
    picture.save(path, format="PNG")


def format_result(result):
    """Lines for one image: a count, then `label score box (x, y, x, y) ...` per object."""
    lines = [f"{result['image']}: {len(result['objects'])} objects"]
    for found in result["objects"]:
        ymin, xmin, ymax, xmax = found["box"]
        lines.append(
            f"  {found['label']} {found['score']:.3f} box (x, y, x, y) "
            f"{xmin:.0f}, {ymin:.0f}, {xmax:.0f}, {ymax:.0f}"
        )
    return lines


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .tflite detector")
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--labels", help="labels file (default: labels.txt beside the model)")
    parser.add_argument("--out", help="PNG with the boxes drawn (several images: _0, _1, ...)")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    parser.add_argument("--json", action="store_true", help="print JSON instead")
    args = parser.parse_args(argv)
    try:
        results = detect(args.model, args.images, args.labels, args.threads)
        if args.out:
            for index, result in enumerate(results):
                target = Path(args.out)
                if len(results) > 1:
                    target = target.with_name(f"{target.stem}_{index}{target.suffix or '.png'}")
                if target.exists():
                    raise EdgeError(
                        f"{target} exists: choose another --out (nothing is overwritten)"
                    )
                draw(result, target)
                result["drawn"] = str(target)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{k: r[k] for k in ("image", "objects")} for r in results], indent=2))
    else:
        for result in results:
            print("\n".join(format_result(result)))
            if "drawn" in result:
                print(f"  wrote {result['drawn']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
