"""Generate images with a dlapps GAN generator .tflite file on an edge device.

Needs numpy, Pillow and a TFLite interpreter (ai-edge-litert or
tflite-runtime); never TensorFlow or dlapps. Copy this file and `litert.py`
to the device together.

    python generate.py generator.tflite --num 16 --label cat --out cats.png
    wrote 16 generated images to cats.png

The model contract: input `noise` float32 `[batch, latent_dim]` (standard
normal) and, for a conditional generator, `label` int32 `[batch]`; output
`images` uint8 `[batch, H, W, C]` (C = 1 or 3). A conditional generator's
class names come from `labels.txt` beside the .tflite file, line i = class i.
The noise is drawn as dlapps draws it, so a seed gives the same images as
`dlapps predict` with that seed.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

try:
    from . import litert  # imported as part of a package
except ImportError:
    import litert  # run as a script: the script's folder is on sys.path

EdgeError = litert.EdgeError


def read_labels(model_path):
    """Read the class names from `labels.txt` beside the model, one per line.

    Example:

    >>> read_labels("gan/generator.tflite")
    ['cat', 'dog', 'fox']
    """
    path = Path(model_path).parent / "labels.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EdgeError(
            f"no labels file at {path}: a conditional generator needs the labels.txt "
            "exported beside it"
        ) from None
    labels = [line.strip() for line in lines]
    while labels and not labels[-1]:  # tolerate trailing blank lines
        labels.pop()
    if not labels:
        raise EdgeError(f"{path} is empty: it should list one class name per line")
    return labels


def label_index(label, labels):
    """Turn a label given as a class index or a class name into the index.

    A string of digits is read as an index, anything else as a name.

    Example:

    >>> label_index("dog", ["cat", "dog", "fox"]), label_index("2", ["cat", "dog", "fox"])
    (1, 2)
    """
    valid = f"use 0 to {len(labels) - 1} or a class name from labels.txt"
    text = str(label).strip()
    try:
        index = int(text)
    except ValueError:
        if text not in labels:
            shown = ", ".join(labels[:10]) + (", ..." if len(labels) > 10 else "")
            raise EdgeError(f"unknown label {text!r}: {valid} ({shown})") from None
        return labels.index(text)
    if not 0 <= index < len(labels):
        raise EdgeError(f"label {index} is out of range: {valid}")
    return index


def generate(model_path, num=64, label=None, seed=0, num_threads=None):
    """Generate `num` images with a GAN generator .tflite file in one batch.

    Args:
        model_path: the generator's .tflite file.
        num: how many images.
        label: for a conditional generator, the class of every image, as an
            index or a class name from labels.txt; None cycles through the
            classes 0, 1, ..., num_classes - 1, 0, 1, ... An error for an
            unconditional generator.
        seed: seed of the noise, `np.random.default_rng(seed)`, as in dlapps.
        num_threads: interpreter threads; None lets it choose.

    Returns:
        uint8 array `(num, height, width, channels)`.

    Example:

    >>> generate("gan/generator.tflite", num=8, label="cat").shape
    (8, 28, 28, 1)
    """
    if num < 1:
        raise EdgeError(f"num must be at least 1, not {num}")
    interpreter = litert.load_interpreter(model_path, num_threads=num_threads)
    inputs = litert.input_details(interpreter)
    if "noise" not in inputs or not set(inputs) <= {"noise", "label"}:
        raise EdgeError(
            f"not a dlapps GAN generator: expected inputs noise (and label), got {sorted(inputs)}"
        )
    latent_dim = int(inputs["noise"]["shape_signature"][-1])
    batch = {
        "noise": np.random.default_rng(seed).standard_normal((num, latent_dim)).astype("float32")
    }
    if "label" in inputs:
        labels = read_labels(model_path)
        if label is None:
            batch["label"] = (np.arange(num) % len(labels)).astype("int32")
        else:
            batch["label"] = np.full(num, label_index(label, labels), "int32")
    elif label is not None:
        raise EdgeError(f"{model_path} is not a conditional generator: it takes no label (--label)")
    images = litert.run_named(interpreter, batch).get("images")
    if images is None or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise EdgeError("not a dlapps GAN generator: expected an images output [N, H, W, C]")
    return np.asarray(images, np.uint8)


def save_grid(images, path, columns=8, scale=4):
    """Write uint8 images `(n, H, W, C)` as one PNG grid, as dlapps draws it.

    Images are tiled `columns` to a row with 1-pixel black borders, and each
    pixel is drawn `scale` times larger; greyscale images give an "L" PNG.

    Example:

    >>> save_grid(generate("gan/generator.tflite", num=16), "samples.png")
    'samples.png'
    """
    images = np.asarray(images, np.uint8)
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    grid = np.zeros((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), np.uint8)
    for index, image in enumerate(images):
        top = 1 + (index // columns) * (height + 1)
        left = 1 + (index % columns) * (width + 1)
        grid[top : top + height, left : left + width] = image
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    try:
        Image.fromarray(grid[..., 0] if channels == 1 else grid).save(path)
    except (OSError, ValueError) as error:
        raise EdgeError(f"could not write {path}: {error}") from None
    return path


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the generator's .tflite file")
    parser.add_argument("--num", type=int, default=64, help="images to generate")
    parser.add_argument("--label", help="class index or name (conditional generators only)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--out", default="samples.png", help="PNG grid to write")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error("--num must be at least 1")
    try:
        images = generate(args.model, args.num, args.label, args.seed, args.threads)
        save_grid(images, args.out)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(images)} generated images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
