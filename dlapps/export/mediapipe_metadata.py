"""TFLite Model Metadata for MediaPipe Tasks, written by MediaPipe's own writers.

MediaPipe Tasks (`ImageClassifier`, `AudioClassifier`, `ObjectDetector`,
`ImageEmbedder` on Android, iOS, the web and Python) read the input's
normalisation and format and the labels from metadata inside the `.tflite`
file. The writers live in the `mediapipe` package, which pins numpy < 2 and
protobuf < 5 and so cannot share TensorFlow 2.21's environment: they run in
a separate one (`make install` builds `.venv-mediapipe`) through the script
`mediapipe_tool.py`, in a subprocess. Without it the files are exported
unchanged and the report says why.

An app asks for metadata by naming its task kind in its `ExportSpec`:

    ExportSpec(..., mediapipe_task="image_classifier")
    ExportSpec(..., mediapipe_task="audio_classifier",
               mediapipe_options={"sample_rate": 16000, "channels": 1})

Kinds (`TASKS`) and the TFLite layout each needs (the writer and MediaPipe
check it):

- "image_classifier": one image input `[1, H, W, 3]` (RGB; uint8, or float32
  raw 0..255 pixels), one float32 `[1, classes]` output of scores (vision);
- "audio_classifier": one float32 waveform input `[1, samples]`, one float32
  `[1, classes]` output; options `sample_rate` and `channels` (speech_kws);
- "object_detector": one image input as above and NMS inside the graph, with
  exactly four float32 outputs in this tensor order: locations `[1, N, 4]`
  (ymin, xmin, ymax, xmax in 0..1), categories `[1, N]`, scores `[1, N]`,
  number of detections `[1]` (detection; its `ExportSpec` sets that order with
  `tflite_output_order`, and `mediapipe_detections` runs ObjectDetector);
- "image_embedder": one image input as above, one float32 `[1, dims]`
  embedding output (faces: the same; `mediapipe_embeddings` runs
  MediaPipe's ImageEmbedder for the comparison with LiteRT, cosine >= 0.999).

Every dlapps graph normalises its own input, so the metadata states the
identity (mean 0, std 1) and MediaPipe does not normalise twice; pass
`norm_mean`/`norm_std` options only for a graph that expects normalised
input. A new kind is one function in `mediapipe_tool.py` (`KINDS`) and one
entry in `TASKS`.

Example:

>>> files = write_metadata({"vision_float32.tflite": content}, "image_classifier", labels)
>>> read_metadata_labels(files["vision_float32.tflite"]) == labels
True
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

# Task kind -> the MediaPipe Tasks API that loads such a file.
TASKS = {
    "image_classifier": "ImageClassifier",
    "audio_classifier": "AudioClassifier",
    "object_detector": "ObjectDetector",
    "image_embedder": "ImageEmbedder",
}
TOOL = Path(__file__).with_name("mediapipe_tool.py")
PYTHON_VARIABLE = "DLAPPS_MEDIAPIPE_PYTHON"
VENV_NAME = ".venv-mediapipe"
LABELS_FILE = "labels.txt"


class MetadataUnavailable(Exception):
    """No MediaPipe environment to write metadata with (the message says where it looked)."""


def mediapipe_python():
    """The Python of the MediaPipe environment.

    `$DLAPPS_MEDIAPIPE_PYTHON` if set, else `.venv-mediapipe` beside the
    running environment (`make install` builds both in the checkout), else
    `.venv-mediapipe` in the working directory.

    Raises:
        MetadataUnavailable: none exists.
    """
    candidates = []
    if os.environ.get(PYTHON_VARIABLE):
        candidates.append(Path(os.environ[PYTHON_VARIABLE]))
    candidates.append(Path(sys.prefix).parent / VENV_NAME / "bin" / "python")
    candidates.append(Path.cwd() / VENV_NAME / "bin" / "python")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MetadataUnavailable(
        f"no MediaPipe environment ({', '.join(map(str, candidates))}): run `make install`, "
        f"or set {PYTHON_VARIABLE} to a Python with mediapipe==0.10.21"
    )


def run_tool(command, request, timeout=300):
    """Runs `mediapipe_tool.py COMMAND` with a JSON request; returns its JSON answer."""
    python = mediapipe_python()
    try:
        completed = subprocess.run(
            [str(python), str(TOOL), command],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": ""},
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{python} {TOOL.name} {command} ran over {timeout} s") from None
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or ["no output"]
        raise RuntimeError(f"{python} {TOOL.name} {command} failed: {lines[-1]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def write_metadata(files, task, labels=(), options=None):
    """Adds MediaPipe Tasks metadata to `.tflite` files; one subprocess for all of them.

    Args:
        files: file name -> `.tflite` bytes.
        task: one of `TASKS`.
        labels: class names, stored in the file as its label file.
        options: the kind's options, e.g. `{"sample_rate": 16000}` for
            "audio_classifier", `{"norm_mean": [...], "norm_std": [...]}`
            for an image input that is not raw 0..255 pixels.

    Returns:
        File name -> the `.tflite` bytes with metadata.

    Raises:
        MetadataUnavailable: there is no MediaPipe environment.
    """
    if task not in TASKS:
        raise ValueError(f"unknown MediaPipe task {task!r}: choose one of {', '.join(TASKS)}")
    with tempfile.TemporaryDirectory() as folder:
        jobs = []
        for index, content in enumerate(files.values()):
            source = Path(folder, f"{index}.tflite")
            source.write_bytes(content)
            job = {"input": str(source), "output": str(source.with_suffix(".out")), "kind": task}
            jobs.append({**job, "labels": list(labels), "options": dict(options or {})})
        run_tool("write", {"jobs": jobs})
        return {
            name: Path(job["output"]).read_bytes() for name, job in zip(files, jobs, strict=True)
        }


def mediapipe_scores(models, kind, inputs, sample_rate=None):
    """Runs `.tflite` files through MediaPipe Tasks' classifier API, one input at a time.

    What an app on a phone gets: the file loaded by `ImageClassifier` (RGB
    uint8 images `[n, H, W, 3]` at the model's size) or `AudioClassifier`
    (float32 waveforms `[n, samples]` at `sample_rate`), all categories
    returned.

    Returns:
        `(scores, labels)`: per model, an `[n, classes]` array of scores by
        class index, and the label names MediaPipe read from the metadata.
    """
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder, "inputs.npy"), inputs)
        outputs = [str(Path(folder, f"scores_{i}.npy")) for i in range(len(models))]
        answer = run_tool(
            "classify",
            {
                "kind": kind,
                "inputs": str(Path(folder, "inputs.npy")),
                "models": [str(m) for m in models],
                "outputs": outputs,
                "sample_rate": sample_rate,
            },
        )
        return [np.load(o) for o in outputs], answer["labels"]


def mediapipe_embeddings(models, images):
    """Runs `.tflite` image embedders through MediaPipe Tasks' ImageEmbedder.

    Args:
        models: `.tflite` files with "image_embedder" metadata.
        images: uint8 RGB images `[n, H, W, 3]` at the model's size.

    Returns:
        Per model, the `[n, dims]` embeddings MediaPipe gives.
    """
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder, "inputs.npy"), images)
        outputs = [str(Path(folder, f"embeddings_{i}.npy")) for i in range(len(models))]
        request = {"inputs": str(Path(folder, "inputs.npy")), "models": [str(m) for m in models]}
        run_tool("embed", {**request, "outputs": outputs})
        return [np.load(o) for o in outputs]


def mediapipe_detections(models, images, score_threshold=0.0):
    """Runs `.tflite` detectors through MediaPipe Tasks' ObjectDetector.

    Args:
        models: `.tflite` files with "object_detector" metadata.
        images: uint8 RGB images `[n, H, W, 3]` (at the model's size, so
            that MediaPipe does not resize them).
        score_threshold: MediaPipe's own threshold, on top of the model's.

    Returns:
        Per model, per image, the detections as MediaPipe gives them, best
        first: dicts of `box` `[xmin, ymin, width, height]` in whole pixels,
        `label` and `score` (MediaPipe merges detections of one box into one
        with several categories: each category is an entry).
    """
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder, "inputs.npy"), images)
        request = {"inputs": str(Path(folder, "inputs.npy")), "models": [str(m) for m in models]}
        answer = run_tool("detect", {**request, "score_threshold": score_threshold})
        return answer["detections"]


def associated_files(content):
    """The files packed into a `.tflite` by the metadata populator: name -> bytes.

    They are a zip archive appended to the flatbuffer, so `zipfile` reads
    them from the whole file (it finds the archive from the end).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        return {}


def read_metadata_labels(content):
    """The labels stored in a `.tflite` file's metadata, or None when it has none."""
    text = associated_files(content).get(LABELS_FILE)
    return None if text is None else text.decode("utf-8").splitlines()
