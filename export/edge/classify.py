"""Classify image files with a dlapps .tflite image classifier on an edge device.

Needs numpy, Pillow and a TFLite interpreter (ai-edge-litert or
tflite-runtime); never TensorFlow or dlapps. Copy this file and `litert.py`
to the device together.

    python classify.py model.tflite cat.png dog.jpg --top-k 3
    cat.png: cat (0.981), dog (0.010), fox (0.004)

The model contract: one uint8 input `[batch, H, W, C]` of raw 0..255 pixels
(the model rescales itself) and one float32 output of class probabilities.
Labels come from the file's own metadata (dlapps writes them there for
MediaPipe Tasks), else from `labels.txt` beside it, line i = class i.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

try:
    from . import litert  # imported as part of a package
except ImportError:
    import litert  # run as a script: the script's folder is on sys.path

EdgeError = litert.EdgeError


def load_labels(labels_path, num_classes):
    """Read one label per line and check there is one per class.

    Example:

    >>> load_labels("labels.txt", 3)
    ['cat', 'dog', 'fox']
    """
    path = Path(labels_path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EdgeError(f"labels file not found: {path}") from None
    labels = [line.strip() for line in lines]
    while labels and not labels[-1]:  # tolerate trailing blank lines
        labels.pop()
    if len(labels) != num_classes:
        raise EdgeError(
            f"{path} has {len(labels)} labels but the model has {num_classes} "
            "classes: use the labels.txt exported with this model"
        )
    return labels


def load_image(image_path, height, width, channels):
    """Decode an image file into the uint8 array `(height, width, channels)`.

    dlapps' image contract (the same steps as `dlapps predict` and the TF
    Serving client): the first frame of the file, turned upright by its EXIF
    orientation; palette, RGBA and greyscale files converted to "L"
    (1 channel) or "RGB" (3 channels); resized with Pillow's bilinear filter,
    which widens with the shrink factor exactly as TF's antialiased bilinear
    resize in dlapps does (pixels agree within one grey level: Pillow rounds
    between its horizontal and vertical passes).

    Example:

    >>> load_image("cat.png", 28, 28, 1).shape
    (28, 28, 1)
    """
    path = Path(image_path)
    if not path.is_file():
        raise EdgeError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()  # decoding is lazy: a truncated file fails here
            image = ImageOps.exif_transpose(image)  # phone photos store sideways pixels
            if image.mode == "P":
                # Palette images may carry transparency; going through RGBA
                # keeps Pillow from warning about it.
                image = image.convert("RGBA")
            image = image.convert("L" if channels == 1 else "RGB")
            image = image.resize((width, height), Image.Resampling.BILINEAR)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise EdgeError(f"{path}: could not be decoded as an image ({error})") from None
    return np.asarray(image, np.uint8).reshape(height, width, channels)


def _input_size(interpreter):
    details = interpreter.get_input_details()
    if len(details) != 1 or len(details[0]["shape"]) != 4:
        raise EdgeError("not an image classifier: expected one [N, H, W, C] input")
    _, height, width, channels = (int(d) for d in details[0]["shape_signature"])
    if min(height, width) < 1 or channels not in (1, 3):
        raise EdgeError(
            f"unsupported input shape {details[0]['shape_signature'].tolist()}: "
            "expected a fixed height and width and 1 or 3 channels"
        )
    return height, width, channels


def classify(model_path, image_paths, labels_path=None, top_k=3, num_threads=None):
    """Classify image files in one batch and return the top classes of each.

    Args:
        model_path: the .tflite file.
        image_paths: image files (PNG, JPEG, GIF, BMP, ...).
        labels_path: labels file; defaults to the labels in the model's
            metadata, then `labels.txt` beside the model, then the class
            numbers.
        top_k: how many classes to report per image.
        num_threads: interpreter threads; None lets it choose.

    Returns:
        One dict per image: `image` (the path as given), `top` (a list of
        `{"index", "label", "probability"}`, most likely first) and
        `probabilities` (all classes, a list of floats).

    Example:

    >>> classify("vision/model.tflite", ["cat.png"], top_k=1)[0]["top"]
    [{'index': 7, 'label': 'cat', 'probability': 0.981}]
    """
    if not image_paths:
        return []
    interpreter = litert.load_interpreter(model_path, num_threads=num_threads)
    outputs = interpreter.get_output_details()
    if len(outputs) != 1 or len(outputs[0]["shape"]) != 2:
        raise EdgeError("not an image classifier: expected one [N, classes] output")
    num_classes = int(outputs[0]["shape"][-1])
    labels = None if labels_path else litert.metadata_labels(model_path)
    if labels is not None and len(labels) != num_classes:
        labels = None  # not this model's: fall back to labels.txt
    if labels is None and labels_path is None:
        if (Path(model_path).parent / "labels.txt").is_file():
            labels_path = Path(model_path).parent / "labels.txt"
        else:
            labels = [str(index) for index in range(num_classes)]
    if labels is None:
        labels = load_labels(labels_path, num_classes)

    # Decode every image before running, so a bad file fails fast and the
    # whole batch goes through the interpreter in a single invoke.
    height, width, channels = _input_size(interpreter)
    batch = np.stack([load_image(p, height, width, channels) for p in image_paths])
    (probabilities,) = litert.run(interpreter, batch).values()

    results = []
    for image_path, row in zip(image_paths, probabilities, strict=True):
        best = np.argsort(-row, kind="stable")[:top_k]
        top = [{"index": int(i), "label": labels[i], "probability": float(row[i])} for i in best]
        results.append({"image": str(image_path), "top": top, "probabilities": row.tolist()})
    return results


def format_result(result):
    """One output line: `cat.png: cat (0.981), dog (0.010), fox (0.004)`."""
    top = ", ".join(f"{t['label']} ({t['probability']:.3f})" for t in result["top"])
    return f"{result['image']}: {top}"


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("images", nargs="+", help="image files to classify")
    parser.add_argument("--labels", help="labels file (default: labels.txt beside the model)")
    parser.add_argument("--top-k", type=int, default=3, help="classes to show per image")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    try:
        results = classify(args.model, args.images, args.labels, args.top_k, args.threads)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        # All class probabilities are left out: the top-k is what callers use.
        brief = [{"image": r["image"], "top": r["top"]} for r in results]
        print(json.dumps(brief, indent=2))
    else:
        for result in results:
            print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
