"""Send images or sentences to dlapps models on TF Serving over its REST API.

Uses only the Python standard library (Pillow as well in raw mode, to
decode and resize the pixels). Sentences for a translation model:

    python export/serving/client.py --model translation --text "twenty-one"
    twenty-one -> veintiuno

Two signatures of an exported image classifier:

- `--signature bytes` (default): `serve_bytes` takes the encoded file,
  `{"image_bytes": {"b64": ...}}`, and decodes and resizes it in the model.
- `--signature raw`: `serving_default` takes uint8 pixels
  `{"images": [[[...]]]}`, resized here to `--size HxW` or to the
  training size in the export's `report.json` given with `--report`.

    python export/serving/client.py cat.png dog.jpg
    cat.png: cat (0.981)
    python export/serving/client.py --signature raw --size 28x28 --channels 1 seven.png
"""

import argparse
import base64
import contextlib
import json
import sys
import urllib.error
import urllib.request

# --signature -> (SavedModel signature name, its input name)
SIGNATURES = {"raw": ("serving_default", "images"), "bytes": ("serve_bytes", "image_bytes")}


class ClientError(Exception):
    """A problem to report as one line (bad arguments, server errors)."""


def build_body(signature, images):
    """Build the JSON body of a `:predict` request in TF Serving's row format.

    Args:
        signature: "raw" (images are `[H][W][C]` nested lists of 0..255 ints)
            or "bytes" (images are the encoded files as `bytes`).
        images: one entry per image.

    Example:

    >>> build_body("bytes", [b"abc"])
    {'signature_name': 'serve_bytes', 'instances': [{'image_bytes': {'b64': 'YWJj'}}]}
    """
    signature_name, input_name = SIGNATURES[signature]
    if signature == "bytes":
        # JSON cannot carry bytes: TF Serving decodes {"b64": ...} objects.
        images = [{"b64": base64.b64encode(data).decode("ascii")} for data in images]
    return {
        "signature_name": signature_name,
        "instances": [{input_name: image} for image in images],
    }


def build_text_body(sentences, signature="serving_default", columnar=False):
    """The `:predict` body for a model taking `sentences` (translation).

    TF Serving takes either format: rows (`instances`, one object per
    example) or columns (`inputs`, one list per input name).

    Example:

    >>> build_text_body(["twenty-one"])
    {'signature_name': 'serving_default', 'instances': [{'sentences': 'twenty-one'}]}
    >>> build_text_body(["twenty-one"], columnar=True)
    {'signature_name': 'serving_default', 'inputs': {'sentences': ['twenty-one']}}
    """
    if columnar:
        return {"signature_name": signature, "inputs": {"sentences": list(sentences)}}
    return {"signature_name": signature, "instances": [{"sentences": s} for s in sentences]}


def load_pixels(path, height, width, channels):
    """Decode and resize an image into `[height][width][channels]` uint8 lists.

    Example:

    >>> len(load_pixels("seven.png", 28, 28, 1)[0][0])
    1
    """
    from PIL import Image  # only raw mode needs Pillow

    with Image.open(path) as image:
        if image.mode == "P":
            image = image.convert("RGBA")  # palette transparency, without a warning
        image = image.convert("L" if channels == 1 else "RGB")
        data = image.resize((width, height), Image.Resampling.BILINEAR).tobytes()
    row = width * channels
    return [
        [list(data[y * row + x * channels : y * row + (x + 1) * channels]) for x in range(width)]
        for y in range(height)
    ]


def input_size(size=None, channels=None, report_path=None):
    """Work out `(height, width, channels)` for raw mode.

    `size` ("HxW") and `channels` win; what is not given is read from the
    export's report.json, whose `inputs.images.shape` is `[null, H, W, C]`.
    Without either, channels default to 3 and a size is required.

    Example:

    >>> input_size("28x28", 1)
    (28, 28, 1)
    >>> input_size(report_path="saved_models/vision/3/report.json")
    (28, 28, 1)
    """
    shape = None
    if report_path:
        with open(report_path, encoding="utf-8") as file:
            report = json.load(file)
        try:
            shape = [int(side) for side in report["inputs"]["images"]["shape"][1:]]
        except (KeyError, TypeError, ValueError):
            raise ClientError(f"{report_path} has no inputs.images.shape") from None
    if size:
        try:
            height, width = (int(side) for side in size.lower().split("x"))
        except ValueError:
            raise ClientError(f"--size must look like 28x28, not {size!r}") from None
    elif shape:
        height, width = shape[:2]
    else:
        raise ClientError("raw mode needs the image size: pass --size HxW or --report")
    return height, width, int(channels or (shape[2] if shape else 3))


def predict(server, model, body, timeout=30):
    """POST a body to `SERVER/v1/models/MODEL:predict`; return the predictions.

    Example:

    >>> predict("http://localhost:8501", "vision", build_body("bytes", [data]))
    [{'label': 'cat', 'probabilities': [0.981, ...]}]
    """
    url = f"{server.rstrip('/')}/v1/models/{model}:predict"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)["predictions"]
    except urllib.error.HTTPError as error:
        # TF Serving explains a bad request in the body: {"error": "..."}.
        message = error.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = json.loads(message)["error"]
        raise ClientError(f"{url}: HTTP {error.code}: {message}") from None
    except urllib.error.URLError as error:
        raise ClientError(f"cannot reach {url}: {error.reason}") from None


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files (or sentences with --text)")
    parser.add_argument("--text", action="store_true", help="send sentences (translation)")
    parser.add_argument("--server", default="http://localhost:8501")
    parser.add_argument("--model", default="vision", help="name in models.config")
    parser.add_argument("--signature", choices=sorted(SIGNATURES), default="bytes")
    parser.add_argument("--size", help="HxW the model takes (raw mode)")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="raw mode")
    parser.add_argument("--report", help="the export's report.json (raw mode)")
    args = parser.parse_args(argv)
    if args.text:
        try:
            predictions = predict(args.server, args.model, build_text_body(args.images))
        except ClientError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        for sentence, prediction in zip(args.images, predictions, strict=True):
            print(f"{sentence} -> {prediction['translations']}")
        return 0
    try:
        if args.signature == "bytes":
            images = []
            for path in args.images:
                with open(path, "rb") as file:
                    images.append(file.read())
        else:
            size = input_size(args.size, args.channels, args.report)
            images = [load_pixels(path, *size) for path in args.images]
        predictions = predict(args.server, args.model, build_body(args.signature, images))
    except (ClientError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path, prediction in zip(args.images, predictions, strict=True):
        print(f"{path}: {prediction['label']} ({max(prediction['probabilities']):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
