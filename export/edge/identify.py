"""Identify faces with a dlapps .tflite face embedder and an enrolled gallery, on an edge device.

Needs numpy, Pillow and a TFLite interpreter (ai-edge-litert or
tflite-runtime); never TensorFlow or dlapps. Copy this file, `classify.py`
and `litert.py` to the device together, with the model's `faces.json`
beside the .tflite file.

    python identify.py faces_int8.tflite --gallery team_gallery.npz door.jpg
    door.jpg: ada (similarity 0.812)

The model contract: one uint8 input `[batch, H, W, 3]` of raw 0..255 RGB
pixels and one float32 output `embeddings` of unit length. The gallery is
the `.npz` that `dlapps enroll` writes (names, templates, threshold and the
fingerprint of the model's weights, checked against `faces.json`).
"""

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

try:
    from . import litert  # imported as part of a package
    from .classify import load_image
except ImportError:
    import litert  # run as a script: the script's folder is on sys.path
    from classify import load_image

EdgeError = litert.EdgeError


def load_gallery(gallery_path, model_path):
    """The gallery's names, templates and threshold, checked against the model's fingerprint."""
    path = Path(gallery_path)
    if not path.is_file():
        raise EdgeError(f"gallery not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            names = [str(n) for n in stored["names"]]
            templates = stored["embeddings"].astype(np.float32)
            threshold = float(stored["threshold"])
            fingerprint = str(stored["model_fingerprint"])
            version = str(stored["model_version"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise EdgeError(f"{path} is not a dlapps face gallery ({error})") from None
    facts_path = Path(model_path).parent / "faces.json"
    if not facts_path.is_file():
        raise EdgeError(f"{facts_path} not found: copy faces.json beside the .tflite file")
    model_fingerprint = json.loads(facts_path.read_text(encoding="utf-8"))["fingerprint"]
    if model_fingerprint != fingerprint:
        raise EdgeError(
            f"gallery {path} was enrolled with another model (version {version}): "
            "enrol again with this model (dlapps enroll MODEL FOLDER --out NEW.npz)"
        )
    return names, templates, threshold


def embed(interpreter, image_paths):
    """Unit-length embeddings of image files, one row each."""
    details = interpreter.get_input_details()[0]
    _, height, width, channels = (int(d) for d in details["shape_signature"])
    if channels != 3 or min(height, width) < 1:
        raise EdgeError("not a face embedder: expected a [N, H, W, 3] input")
    batch = np.stack([load_image(p, height, width, 3) for p in image_paths])
    return next(iter(litert.run(interpreter, batch).values())).astype(np.float32)


def identify(model_path, gallery_path, image_paths, num_threads=None):
    """The best enrolled person of each photo, or "unknown" below the threshold.

    Returns:
        One dict per photo: `image`, `person` (a name or "unknown"),
        `closest` (the best name) and `similarity`.

    Example:

    >>> identify("faces_int8.tflite", "team.npz", ["door.jpg"])[0]["person"]
    'ada'
    """
    names, templates, threshold = load_gallery(gallery_path, model_path)
    if not image_paths:
        return []
    interpreter = litert.load_interpreter(model_path, num_threads=num_threads)
    similarities = embed(interpreter, image_paths) @ templates.T
    results = []
    for image_path, row in zip(image_paths, similarities, strict=True):
        best = int(np.argmax(row))
        known = row[best] >= threshold
        results.append(
            {
                "image": str(image_path),
                "person": names[best] if known else "unknown",
                "closest": names[best],
                "similarity": float(row[best]),
            }
        )
    return results


def format_result(result):
    """One output line: `door.jpg: ada (similarity 0.812)`."""
    if result["person"] == "unknown":
        return (
            f"{result['image']}: unknown (closest {result['closest']}, "
            f"similarity {result['similarity']:.3f})"
        )
    return f"{result['image']}: {result['person']} (similarity {result['similarity']:.3f})"


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the face embedder .tflite file")
    parser.add_argument("images", nargs="+", help="face photos to identify")
    parser.add_argument("--gallery", required=True, help="gallery .npz from dlapps enroll")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead")
    args = parser.parse_args(argv)
    try:
        results = identify(args.model, args.gallery, args.images, args.threads)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
