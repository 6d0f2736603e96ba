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

Faces: `serve_bytes` returns each photo's embedding; a model exported with
`--gallery` also has `identify` (raw pixels, any size, -> the enrolled
person or "unknown" and the similarity):

    python export/serving/client.py --model faces door.jpg
    python export/serving/client.py --model faces --signature identify \
        --size 64x64 --channels 3 door.jpg
    door.jpg: ada (similarity 0.812)

Speech (PCM WAV files; 16 kHz ones are read with the standard library, other
rates resampled with SciPy's polyphase filter as dlapps does; keyword clips
are centre-cropped to one second, transcripts take up to 30 s per request):

    python export/serving/client.py --model speech_kws --wav yes.wav      # serve_wav: the file
    yes.wav: yes (0.993)
    python export/serving/client.py --model speech_stt --wav order.wav    # waveforms, <= 30 s
    order.wav: turn on the light in the kitchen

Objects in photos, from a detector (the file goes to `serve_bytes`; boxes come
back in the photo's pixels):

    python export/serving/client.py --model detection street.jpg
    street.jpg: 2 objects
      car 0.912 box (x, y, x, y) 12, 40, 180, 130

Images from a GAN generator (noise drawn here, written as binary PGM/PPM):

    python export/serving/client.py --model gan --generate 4 --label 7
    wrote gan_0.pgm ... gan_3.pgm

Observations for a game agent (one JSON list per observation):

    python export/serving/client.py --model game --observation "[0.01, 0.3, -0.02, -0.5]"
    [0.01, 0.3, -0.02, -0.5]: action 1     (--report REPORT.json adds its name: push_right)
"""

import argparse
import base64
import contextlib
import json
import random
import sys
import urllib.error
import urllib.request
import wave

# --signature -> (SavedModel signature name, its input name)
SAMPLE_RATE = 16000
KWS_SAMPLES = 16000  # speech_kws: one second
STT_MAX_SAMPLES = 30 * SAMPLE_RATE  # speech_stt: any length up to 30 s per request
SIGNATURES = {
    "raw": ("serving_default", "images"),
    "bytes": ("serve_bytes", "image_bytes"),
    # faces exported with --gallery: raw face pixels -> person, similarity, known.
    "identify": ("identify", "images"),
}


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


def build_text_body(sentences, signature="serving_default", columnar=False, input_name="sentences"):
    """The `:predict` body for a model taking `sentences` (translation; summarization's `articles`).

    TF Serving takes either format: rows (`instances`, one object per
    example) or columns (`inputs`, one list per input name).

    Example:

    >>> build_text_body(["twenty-one"])
    {'signature_name': 'serving_default', 'instances': [{'sentences': 'twenty-one'}]}
    >>> build_text_body(["twenty-one"], columnar=True)
    {'signature_name': 'serving_default', 'inputs': {'sentences': ['twenty-one']}}
    """
    if columnar:
        return {"signature_name": signature, "inputs": {input_name: list(sentences)}}
    return {"signature_name": signature, "instances": [{input_name: s} for s in sentences]}


def read_wav_file(path):
    """`(rate, channels, sample width, frames)` of a PCM WAV file."""
    try:
        with wave.open(str(path), "rb") as file:
            rate, width = file.getframerate(), file.getsampwidth()
            channels, frames = file.getnchannels(), file.readframes(file.getnframes())
    except (OSError, wave.Error, EOFError) as error:
        raise ClientError(f"{path} is not a PCM WAV file ({error})") from None
    if not frames:
        raise ClientError(f"{path} holds no samples")
    return rate, channels, width, frames


def is_model_rate_wav(path):
    """True for the WAVs `serve_wav` decodes itself: 16-bit PCM at 16 kHz."""
    rate, _, width, _ = read_wav_file(path)
    return rate == SAMPLE_RATE and width == 2


def read_wav(path, samples=None):
    """A PCM WAV as floats in [-1, 1] at 16 kHz: dlapps' audio contract.

    The same steps as `dlapps predict` and the edge runner: 8/16/32-bit
    samples scaled to [-1, 1], channels averaged, other rates resampled with
    SciPy's polyphase filter (`resample_poly`, anti-aliased; only these
    files need NumPy and SciPy), and with `samples` the clip is centre-cropped
    or zero-padded at the end to that length (16000 for speech_kws; speech_stt
    takes whole clips, see `stt_waveforms`).
    """
    rate, channels, width, frames = read_wav_file(path)
    codes = {1: "B", 2: "h", 4: "i"}
    if width not in codes:
        raise ClientError(f"{path}: {8 * width}-bit samples are not supported: use 16-bit PCM")
    values = memoryview(frames).cast(codes[width])
    offset, scale = (128.0, 128.0) if width == 1 else (0.0, float(2 ** (8 * width - 1)))
    audio = [
        (sum(values[i + c] for c in range(channels)) / channels - offset) / scale
        for i in range(0, len(values), channels)
    ]
    if rate != SAMPLE_RATE:
        audio = _resample(audio, rate, path)
    if samples is not None:
        start = max(0, (len(audio) - samples) // 2)
        audio = audio[start : start + samples]
        audio = audio + [0.0] * (samples - len(audio))
    return audio


def _resample(audio, rate, path):
    from math import gcd

    try:
        import numpy as np
        from scipy.signal import resample_poly
    except ImportError:
        raise ClientError(
            f"{path} is {rate} Hz: resampling to 16 kHz needs numpy and scipy "
            "(pip install numpy scipy), or convert it (sox in.wav -r 16000 out.wav)"
        ) from None
    divisor = gcd(int(rate), SAMPLE_RATE)
    resampled = resample_poly(np.asarray(audio, "float32"), SAMPLE_RATE // divisor, rate // divisor)
    return resampled.astype("float32").tolist()


def stt_waveforms(paths):
    """Whole clips for speech_stt, zero-padded at the end to the longest of the batch.

    The recognizer ignores trailing zeros (it finds each clip's last
    non-zero sample), so padding changes no transcript; a clip over 30 s is
    refused here rather than cut (`dlapps predict` and the edge runner
    transcribe longer audio in overlapping pieces).
    """
    clips = [read_wav(path) for path in paths]
    for path, clip in zip(paths, clips, strict=True):
        if len(clip) > STT_MAX_SAMPLES:
            raise ClientError(
                f"{path} is {len(clip) / SAMPLE_RATE:.1f} s: one request takes up to 30 s; "
                "split it, or transcribe it with `dlapps predict` or export/edge/transcribe.py"
            )
    longest = max(map(len, clips))
    return [clip + [0.0] * (longest - len(clip)) for clip in clips]


def build_audio_body(waveforms=None, wav_files=None, columnar=False):
    """The `:predict` body for a speech model: float waveforms, or whole WAV files.

    `waveforms` (lists of floats, 16 kHz) go to `serving_default`
    ("waveforms"; speech_kws and speech_stt); `wav_files` (bytes) go to
    speech_kws' `serve_wav` ("wav_bytes", base64), which decodes them in
    the model.

    Example:

    >>> build_audio_body(wav_files=[b"RIFF"])
    {'signature_name': 'serve_wav', 'instances': [{'wav_bytes': {'b64': 'UklGRg=='}}]}
    """
    if wav_files is not None:
        name, values = (
            "wav_bytes",
            [{"b64": base64.b64encode(d).decode("ascii")} for d in wav_files],
        )
        signature = "serve_wav"
    else:
        name, values, signature = "waveforms", [list(w) for w in waveforms], "serving_default"
    if columnar:
        return {"signature_name": signature, "inputs": {name: values}}
    return {"signature_name": signature, "instances": [{name: value} for value in values]}


def build_noise_body(count, latent_dim=64, label=None, seed=0):
    """The `:predict` body for a GAN generator, in the columnar format.

    Draws `count` standard-normal noise vectors; a conditional generator
    also takes one `label` (class index) per image.

    Example:

    >>> body = build_noise_body(2, latent_dim=3, label=7)
    >>> body["inputs"]["label"], len(body["inputs"]["noise"][0])
    ([7, 7], 3)
    """
    rng = random.Random(seed)
    inputs = {"noise": [[rng.gauss(0.0, 1.0) for _ in range(latent_dim)] for _ in range(count)]}
    if label is not None:
        inputs["label"] = [int(label)] * count
    return {"signature_name": "serving_default", "inputs": inputs}


def build_observation_body(observations):
    """The `:predict` body for a game agent: one `observation` (a list of numbers) per row.

    Example:

    >>> build_observation_body([[0.0, 0.1, 0.0, -0.1]])["instances"][0]["observation"]
    [0.0, 0.1, 0.0, -0.1]
    """
    return {
        "signature_name": "serving_default",
        "instances": [{"observation": list(observation)} for observation in observations],
    }


def _json_list(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list):
        raise ClientError(f"{text!r} is not an observation: give a JSON list such as [0.1, 0.2]")
    return value


def _action_names(report_path):
    """The action names in an export's report.json (`--report`), or None."""
    if not report_path:
        return None
    with open(report_path, encoding="utf-8") as file:
        return json.load(file).get("labels")


def write_netpbm(path, image):
    """Writes one `[H][W][C]` uint8 image as binary PGM (C=1) or PPM (C=3)."""
    height, width, channels = len(image), len(image[0]), len(image[0][0])
    header = f"{'P5' if channels == 1 else 'P6'}\n{width} {height}\n255\n".encode()
    pixels = bytes(value for row in image for pixel in row for value in pixel)
    with open(path, "wb") as file:
        file.write(header + pixels)


def load_pixels(path, height, width, channels):
    """Decode and resize an image into `[height][width][channels]` uint8 lists.

    dlapps' image contract, as in `dlapps predict` and the edge runner:
    the first frame, turned upright by its EXIF orientation, converted to
    "L" or "RGB" (palettes through RGBA) and resized with Pillow's bilinear
    filter, which widens with the shrink factor as TF's antialiased
    bilinear resize does (within one grey level of it).

    Example:

    >>> len(load_pixels("seven.png", 28, 28, 1)[0][0])
    1
    """
    from PIL import Image, ImageOps  # only raw mode needs Pillow

    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode == "P":
            image = image.convert("RGBA")  # palette transparency, without a warning
        image = image.convert("L" if channels == 1 else "RGB")
        data = image.resize((width, height), Image.Resampling.BILINEAR).tobytes()
    row = width * channels
    return [
        [list(data[y * row + x * channels : y * row + (x + 1) * channels]) for x in range(width)]
        for y in range(height)
    ]


def upright_image_bytes(path):
    """The file's bytes, or a PNG of it turned upright when its EXIF orientation says so.

    `serve_bytes` decodes pixels as stored (TensorFlow ignores EXIF), so a
    phone photo taken sideways is rotated here, as `dlapps predict` would.
    """
    with open(path, "rb") as file:
        content = file.read()
    try:
        from PIL import Image, ImageOps
    except ImportError:
        return content
    import io

    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.getexif().get(0x0112, 1) == 1:  # Orientation: as stored
                return content
            upright = ImageOps.exif_transpose(image)
            buffer = io.BytesIO()
            upright.save(buffer, format="PNG")
            return buffer.getvalue()
    except OSError:
        return content  # the server names what it cannot decode


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
    parser.add_argument(
        "images", nargs="*", help="image files (or sentences with --text, WAVs with --wav)"
    )
    parser.add_argument("--text", action="store_true", help="send sentences (translation)")
    parser.add_argument(
        "--observation", action="store_true", help="game: send observations, JSON lists"
    )
    parser.add_argument("--wav", action="store_true", help="send WAV files (speech apps)")
    parser.add_argument(
        "--articles", action="store_true", help="send article .txt files (summarization)"
    )
    parser.add_argument("--generate", type=int, metavar="N", help="gan: ask for N images")
    parser.add_argument("--label", type=int, help="gan: the class to generate (conditional)")
    parser.add_argument("--latent-dim", type=int, default=64, help="gan: noise size")
    parser.add_argument("--server", default="http://localhost:8501")
    parser.add_argument("--model", default="vision", help="name in models.config")
    parser.add_argument("--signature", choices=sorted(SIGNATURES), default="bytes")
    parser.add_argument("--size", help="HxW the model takes (raw mode)")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="raw mode")
    parser.add_argument("--report", help="the export's report.json (raw mode)")
    args = parser.parse_args(argv)
    if not (args.images or args.generate):
        parser.error("give image files, sentences with --text, WAVs with --wav, or --generate N")
    try:
        return _run(args)
    except (ClientError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _read_files(paths):
    contents = []
    for path in paths:
        with open(path, "rb") as file:
            contents.append(file.read())
    return contents


def format_detections(name, prediction):
    """Lines for one image of a detector's answer: a count, then label, score and box."""
    count = int(prediction["num_detections"])
    lines = [f"{name}: {count} objects"]
    for k in range(count):
        ymin, xmin, ymax, xmax = prediction["boxes"][k]
        lines.append(
            f"  {prediction['labels'][k]} {prediction['scores'][k]:.3f} "
            f"box (x, y, x, y) {xmin:.0f}, {ymin:.0f}, {xmax:.0f}, {ymax:.0f}"
        )
    return lines


def _run(args):
    """Builds the body for the chosen mode, sends it, and prints or writes the answer."""
    if args.generate:
        body = build_noise_body(args.generate, args.latent_dim, args.label)
        names = []
        for index, prediction in enumerate(predict(args.server, args.model, body)):
            image = prediction["images"] if isinstance(prediction, dict) else prediction
            names.append(f"{args.model}_{index}.{'pgm' if len(image[0][0]) == 1 else 'ppm'}")
            write_netpbm(names[-1], image)
        print("wrote", " ".join(names))
        return 0
    if args.observation:
        body = build_observation_body([_json_list(text) for text in args.images])
        names = _action_names(args.report)
        predictions = predict(args.server, args.model, body)
        for text, prediction in zip(args.images, predictions, strict=True):
            action = prediction["action"] if isinstance(prediction, dict) else prediction
            named = f" ({names[action]})" if names and isinstance(action, int) else ""
            print(f"{text}: action {action}{named}")
        return 0
    if args.text:
        body = build_text_body(args.images)
    elif args.articles:
        texts = [content.decode("utf-8") for content in _read_files(args.images)]
        body = build_text_body(texts, input_name="articles")
    elif args.wav and args.model.endswith("kws") and all(map(is_model_rate_wav, args.images)):
        # serve_wav decodes, averages channels and centre-crops as dlapps does.
        body = build_audio_body(wav_files=_read_files(args.images))
    elif args.wav:
        if args.model.endswith("kws"):
            body = build_audio_body([read_wav(path, samples=KWS_SAMPLES) for path in args.images])
        else:
            body = build_audio_body(stt_waveforms(args.images))
    elif args.signature == "bytes":
        body = build_body("bytes", [upright_image_bytes(path) for path in args.images])
    else:
        size = input_size(args.size, args.channels, args.report)
        body = build_body(args.signature, [load_pixels(path, *size) for path in args.images])
    predictions = predict(args.server, args.model, body)
    for name, prediction in zip(args.images, predictions, strict=True):
        if "summaries" in prediction:
            print(f"{name}: {prediction['summaries']}")
        elif "translations" in prediction:
            print(f"{name} -> {prediction['translations']}")
        elif "transcript" in prediction:
            print(f"{name}: {prediction['transcript']}")
        elif "person" in prediction:  # faces, identify signature
            print(f"{name}: {prediction['person']} (similarity {prediction['similarity']:.3f})")
        elif "embeddings" in prediction:  # faces: compare embeddings by cosine similarity
            values = ", ".join(f"{v:.3f}" for v in prediction["embeddings"][:4])
            print(f"{name}: embedding of {len(prediction['embeddings'])} values [{values}, ...]")
        elif "boxes" in prediction:  # a detector: boxes in the sent image's pixels
            print("\n".join(format_detections(name, prediction)))
        else:
            print(f"{name}: {prediction['label']} ({max(prediction['probabilities']):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
