"""Transcribe WAV files with a dlapps speech-to-text .tflite file.

Needs numpy and a TFLite interpreter (ai-edge-litert or tflite-runtime);
never TensorFlow, SciPy or dlapps. Copy this file, `keywords.py` (for its
WAV reader), `litert.py`, `ctc_decoder.py` and `language_model.py` (the
decoder, the same files as dlapps' `dlapps/speech/`) to the device
together, with `labels.txt` and, for the language model, `decoder.json`,
`words.arpa` and `spelling.arpa` from the exported version directory.

    python transcribe.py speech_stt_float16.tflite request.wav
    request.wav: set a timer for five minutes

The model contract: input `waveforms` float32 `[batch, samples]` (16 kHz
mono in [-1, 1]); a .tflite file takes a fixed length (3 s for the
built-in model) and zero padding at the end is ignored. Output `logits`
float32 `[batch, frames, classes]`, one row per 40 ms (640 samples). Class
0 is the CTC blank and class i is line i of `labels.txt`. Greedy CTC
decoding takes the best class per frame, merges repeats and drops blanks;
`--decoder beam` keeps the best prefixes instead (CTC prefix beam search),
and `--decoder lm` adds the word n-gram language model built from the
training text (`decoder.json` beside the model; the default when it is
there and did best on validation, as in `dlapps predict`).

Audio of any length is transcribed in windows of the model's length that
overlap by 1 s on each side (`chunk_starts`, the same as `dlapps predict`):
each window keeps the logit rows of its middle, and the joined rows are
decoded once.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

try:
    from . import ctc_decoder, keywords, litert  # imported as part of a package
except ImportError:
    import ctc_decoder  # run as a script: the script's folder is on sys.path
    import keywords
    import litert

EdgeError = litert.EdgeError
DECODERS = ("greedy", "beam", "lm")
SAMPLES_PER_OUTPUT_FRAME = 640
OVERLAP_SAMPLES = 16000


def chunk_starts(samples, window, overlap=OVERLAP_SAMPLES):
    """`(start_sample, first_row, end_row)` of each window over a clip of `samples`.

    Windows start every `window - 2 * overlap` samples (the last one ends at
    the clip's end); neighbours hand over in the middle of what they share.

    Example:

    >>> chunk_starts(16000 * 50, 16000 * 20, 16000)
    [(0, 0, 475), (288000, 25, 400), (480000, 100, 500)]
    """
    frame = SAMPLES_PER_OUTPUT_FRAME
    window, overlap = window // frame * frame, overlap // frame * frame
    rows = window // frame
    if samples <= window:
        return [(0, 0, rows)]
    hop = max(window - 2 * overlap, frame)
    last = -(-(samples - window) // frame) * frame
    starts = [*range(0, last, hop), last]
    handovers = [(b + a + window) // 2 // frame for a, b in zip(starts, starts[1:], strict=False)]
    chunks = []
    for index, start in enumerate(starts):
        first = 0 if index == 0 else handovers[index - 1] - start // frame
        end = rows if index == len(starts) - 1 else handovers[index] - start // frame
        chunks.append((start, first, end))
    return chunks


def greedy_ctc_decode(logits, labels):
    """Best class per frame, repeats merged, blanks (class 0) dropped: one string per row.

    Example:

    >>> labels = ["<blank>", " ", "'", "a", "b"]
    >>> greedy_ctc_decode(np.eye(5)[[[3, 3, 0, 3, 1, 4]]], labels)
    ['aa b']
    """
    texts = []
    for ids in np.argmax(logits, axis=-1):
        previous, characters = -1, []
        for index in ids:
            if index != previous and index != 0:
                characters.append(labels[index])
            previous = index
        texts.append(" ".join("".join(characters).split()))
    return texts


def read_labels(path):
    """labels.txt lines, kept exactly (the space label is a line holding one space)."""
    try:
        return Path(path).read_text(encoding="utf-8").split("\n")[:-1]
    except FileNotFoundError:
        raise EdgeError(f"labels file not found: {path}") from None


def load_decoder(directory, labels, choice=None):
    """`decode(logits) -> [text]`: greedy, beam, or with the language model in `directory`.

    With no `choice`, the one `decoder.json` names as best on validation
    (greedy when there is no `decoder.json`).
    """
    settings = Path(directory) / ctc_decoder.SETTINGS_FILE
    if choice is None:
        if not settings.exists():
            return lambda logits: greedy_ctc_decode(logits, labels)
        choice = json.loads(settings.read_text(encoding="utf-8")).get("default", "lm")
    if choice == "greedy":
        return lambda logits: greedy_ctc_decode(logits, labels)
    if choice == "beam":
        return ctc_decoder.CTCDecoder(labels).decode
    if not settings.exists():
        raise EdgeError(
            f"--decoder lm needs {ctc_decoder.SETTINGS_FILE}, words.arpa and spelling.arpa "
            f"in {directory}: copy them from the exported version, or use --decoder beam"
        )
    try:
        return ctc_decoder.CTCDecoder.load(directory, labels).decode
    except ValueError as error:
        raise EdgeError(f"{error}: copy the files again, or use --decoder beam") from None


def transcribe(model_path, wav_paths, labels_path=None, num_threads=None, decoder=None):
    """Transcribe WAV files of any length; returns one string per file.

    `decoder`: "greedy", "beam" or "lm" (see `load_decoder`; None: the best on validation).
    """
    if not wav_paths:
        return []
    interpreter = litert.load_interpreter(model_path, num_threads=num_threads)
    details = litert.input_details(interpreter)
    if "waveforms" not in details or len(details["waveforms"]["shape"]) != 2:
        raise EdgeError(f"not a dlapps speech-to-text model: its inputs are {sorted(details)}")
    window = int(details["waveforms"]["shape"][1])
    labels = read_labels(labels_path or Path(model_path).parent / "labels.txt")
    decode = load_decoder(Path(model_path).parent, labels, decoder)
    texts = []
    for path in wav_paths:
        audio = keywords.read_wav(path)
        rows = []
        for start, first, end in chunk_starts(len(audio), window):
            piece = np.zeros((1, window), np.float32)
            clip = audio[start : start + window]
            piece[0, : len(clip)] = clip
            outputs = litert.run_named(interpreter, {"waveforms": piece})
            if "logits" not in outputs:
                raise EdgeError("not a dlapps speech-to-text model: no `logits` output")
            rows.append(outputs["logits"][0, first:end])
        logits = np.concatenate(rows)[None]
        if len(labels) != logits.shape[-1]:
            raise EdgeError(
                f"the labels file has {len(labels)} lines but the model has "
                f"{logits.shape[-1]} classes: use the labels.txt exported with it"
            )
        texts.append(decode(logits)[0])
    return texts


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .tflite file (speech_stt_float16.tflite, ...)")
    parser.add_argument("wavs", nargs="+", help="WAV files of any length")
    parser.add_argument("--labels", help="labels file (default: labels.txt beside the model)")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    parser.add_argument(
        "--decoder",
        choices=DECODERS,
        help="greedy CTC, prefix beam search, or beam search with the word language model "
        "(default: the best on validation, as decoder.json beside the model says)",
    )
    args = parser.parse_args(argv)
    try:
        texts = transcribe(args.model, args.wavs, args.labels, args.threads, args.decoder)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path, text in zip(args.wavs, texts, strict=True):
        print(f"{path}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
