"""Spot voice commands in WAV files with a dlapps keyword-spotter .tflite file.

Needs numpy and a TFLite interpreter (ai-edge-litert or tflite-runtime),
and SciPy for WAVs that are not 16 kHz; never TensorFlow or dlapps. Copy
this file and `litert.py` to the device together.

    python keywords.py speech_kws_int8.tflite yes.wav stop.wav --top-k 2
    yes.wav: yes (0.981), _unknown_ (0.010)

The model contract: input `waveforms` float32 `[batch, 16000]`, one second
of 16 kHz mono audio in [-1, 1] (the model computes its own spectrogram);
output `probabilities` float32 `[batch, classes]`. Labels come from the
file's own metadata (dlapps writes them there for MediaPipe Tasks), else
from `labels.txt` beside it, line i = class i.

WAV files, dlapps' audio contract (the same steps as `dlapps predict`, the
SavedModel's `serve_wav` and the TF Serving client): 8/16/32-bit PCM scaled
to [-1, 1]; channels averaged to mono; other sample rates resampled to
16 kHz with SciPy's polyphase filter (`resample_poly`, anti-aliased, as
dlapps does); clips centre-cropped or zero-padded at the end to one second.
"""

import argparse
import json
import sys
import wave
from pathlib import Path

import numpy as np

try:
    from . import litert  # imported as part of a package
except ImportError:
    import litert  # run as a script: the script's folder is on sys.path

EdgeError = litert.EdgeError
SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000


def read_wav(path, sample_rate=SAMPLE_RATE):
    """Read a PCM WAV file as mono float32 in [-1, 1] at `sample_rate`.

    Example:

    >>> read_wav("yes.wav").shape
    (16000,)
    """
    path = Path(path)
    if not path.is_file():
        raise EdgeError(f"audio file not found: {path}")
    try:
        with wave.open(str(path), "rb") as file:
            channels, width = file.getnchannels(), file.getsampwidth()
            rate, frames = file.getframerate(), file.readframes(file.getnframes())
    except (wave.Error, EOFError) as error:
        raise EdgeError(
            f"{path}: not a PCM WAV file ({error}); convert it, e.g. "
            "ffmpeg -i input -ar 16000 -ac 1 output.wav"
        ) from None
    dtypes = {1: np.uint8, 2: np.int16, 4: np.int32}
    if width not in dtypes:
        raise EdgeError(f"{path}: {8 * width}-bit samples are not supported: use 16-bit PCM")
    samples = np.frombuffer(frames, dtypes[width]).astype(np.float32)
    if samples.size == 0:
        raise EdgeError(f"{path}: the WAV file holds no samples")
    if width == 1:
        samples = (samples - 128.0) / 128.0
    else:
        samples /= float(np.iinfo(dtypes[width]).max + 1)
    audio = samples.reshape(-1, channels).mean(axis=1)
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate, path)
    return audio.astype(np.float32)


def resample(audio, rate, target_rate=SAMPLE_RATE, path="audio"):
    """Polyphase, anti-aliased resampling, the filter dlapps uses (needs SciPy)."""
    from math import gcd

    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise EdgeError(
            f"{path} is {rate} Hz: resampling to {target_rate} Hz needs SciPy "
            f"(pip install scipy), or convert it: ffmpeg -i {path} -ar {target_rate} out.wav"
        ) from None
    divisor = gcd(int(rate), int(target_rate))
    return resample_poly(audio, target_rate // divisor, rate // divisor).astype(np.float32)


def fit_length(audio, samples=CLIP_SAMPLES):
    """Zero-pad or centre-crop 1-D `audio` to `samples` long."""
    if len(audio) >= samples:
        start = (len(audio) - samples) // 2
        return audio[start : start + samples]
    return np.pad(audio, (0, samples - len(audio)))


def spot(model_path, wav_paths, labels_path=None, top_k=3, num_threads=None):
    """Classify WAV files in one batch and return the top labels of each.

    Returns:
        One dict per file: `file`, `top` (a list of `{"index", "label",
        "probability"}`, most likely first) and `probabilities`.
    """
    if not wav_paths:
        return []
    interpreter = litert.load_interpreter(model_path, num_threads=num_threads)
    batch = np.stack([fit_length(read_wav(p)) for p in wav_paths]).astype(np.float32)
    outputs = litert.run_named(interpreter, {"waveforms": batch})
    if "probabilities" not in outputs:
        raise EdgeError("not a dlapps keyword spotter: no `probabilities` output")
    probabilities = outputs["probabilities"]
    # The labels inside the file (its MediaPipe metadata), else labels.txt beside it.
    labels = None if labels_path else litert.metadata_labels(model_path)
    labels_path = labels_path or Path(model_path).parent / "labels.txt"
    if labels is None:
        try:
            labels = Path(labels_path).read_text(encoding="utf-8").split()
        except FileNotFoundError:
            raise EdgeError(f"labels file not found: {labels_path}") from None
    if len(labels) != probabilities.shape[-1]:
        raise EdgeError(
            f"{labels_path} has {len(labels)} labels but the model has "
            f"{probabilities.shape[-1]} classes: use the labels.txt exported with it"
        )
    results = []
    for path, row in zip(wav_paths, probabilities, strict=True):
        best = np.argsort(-row, kind="stable")[:top_k]
        top = [{"index": int(i), "label": labels[i], "probability": float(row[i])} for i in best]
        results.append({"file": str(path), "top": top, "probabilities": row.tolist()})
    return results


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("wavs", nargs="+", help="WAV files, one command each")
    parser.add_argument("--labels", help="labels file (default: labels.txt beside the model)")
    parser.add_argument("--top-k", type=int, default=3, help="labels to show per file")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead")
    args = parser.parse_args(argv)
    try:
        results = spot(args.model, args.wavs, args.labels, max(1, args.top_k), args.threads)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{"file": r["file"], "top": r["top"]} for r in results], indent=2))
    for result in results if not args.json else []:
        ranked = ", ".join(f"{t['label']} ({t['probability']:.3f})" for t in result["top"])
        print(f"{result['file']}: {ranked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
