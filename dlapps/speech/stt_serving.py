"""The speech recognizer's exported functions, and transcribing audio longer than one piece.

The SavedModel contract (what TF Serving and `dlapps predict` call):

- `serving_default`: `waveforms`, float32 `(batch, samples)`, 16 kHz mono
  in [-1, 1], any length from 1 sample to `MAX_SECONDS` (30 s); clips of
  different lengths are zero-padded at the end to the longest, and the
  padding does not change any transcript (the model finds each clip's
  last non-zero sample) -> `transcript` (greedy CTC, tf.string) and
  `logits` `(batch, ceil(frames / 4), classes)`, one row per 40 ms.
- `serve_beam`: the same input -> `transcript` by CTC beam search.
- `serve_wav`: `wav_bytes`, a batch of 16 kHz mono WAV files -> the same
  outputs as `serving_default`.

An empty batch dimension of samples, a clip over the maximum or a WAV at
another sample rate fails with one message naming the problem (TF Serving
returns it as the error text). Longer audio is cut into overlapping
windows (`chunk_starts`) whose logits are stitched together before
decoding, by `dlapps predict` and the edge runner alike.
"""

import numpy as np
import tensorflow as tf

from dlapps.export.saved_model import Endpoint
from dlapps.speech.sentence_data import MAX_SAMPLES, MAX_SECONDS
from dlapps.speech.speech_to_text import (
    SAMPLES_PER_OUTPUT_FRAME,
    beam_search_decode,
    greedy_decode,
)
from dlapps.speech.synthesizer import SAMPLE_RATE

# Shorter clips are zero-padded to this (padding is ignored): one output frame.
MIN_SAMPLES = 2 * SAMPLES_PER_OUTPUT_FRAME
# Context kept on each side of a window's middle when stitching chunks.
CHUNK_OVERLAP_SECONDS = 1.0


def checked_waveforms(waveforms):
    """The serving graph's input checks: one readable message per bad input."""
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    samples = tf.shape(waveforms)[1]
    checks = [
        tf.debugging.assert_greater(
            samples, 0, message="empty audio: every clip needs at least one sample"
        ),
        tf.debugging.assert_less_equal(
            samples,
            MAX_SAMPLES,
            message=f"clip longer than {MAX_SECONDS} s ({MAX_SAMPLES} samples at 16 kHz): "
            "split it, or use `dlapps predict`, which transcribes long audio in chunks",
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.pad(waveforms, [[0, 0], [0, tf.maximum(MIN_SAMPLES - samples, 0)]])


def decode_wavs(wav_bytes):
    """A batch of WAV files (tf.string) -> zero-padded float32 waveforms; 16 kHz only."""

    def decode(wav):
        audio, rate = tf.audio.decode_wav(wav, desired_channels=1)
        check = tf.debugging.assert_equal(
            rate,
            SAMPLE_RATE,
            message="serve_wav takes 16 kHz WAV files: resample first "
            "(e.g. ffmpeg -i in.wav -ar 16000 -ac 1 out.wav), or send waveforms",
        )
        with tf.control_dependencies([check]):
            return tf.RaggedTensor.from_tensor(audio[None, :, 0])[0]

    clips = tf.map_fn(
        decode, wav_bytes, fn_output_signature=tf.RaggedTensorSpec([None], tf.float32)
    )
    return clips.to_tensor()


def serving_endpoints(model, beam_width=16):
    """SavedModel signatures of a speech recognizer (see the module docstring)."""

    def transcribe(waveforms):
        logits = model(checked_waveforms(waveforms), training=False)
        return {"transcript": greedy_decode(logits), "logits": logits}

    def transcribe_beam(waveforms):
        logits = model(checked_waveforms(waveforms), training=False)
        return {"transcript": beam_search_decode(logits, beam_width), "logits": logits}

    def transcribe_wav(wav_bytes):
        return transcribe(decode_wavs(wav_bytes))

    waveforms = [tf.TensorSpec([None, None], tf.float32, name="waveforms")]
    return [
        Endpoint("serving_default", transcribe, waveforms),
        Endpoint("serve_beam", transcribe_beam, waveforms),
        Endpoint("serve_wav", transcribe_wav, [tf.TensorSpec([None], tf.string, name="wav_bytes")]),
    ]


def chunk_starts(samples, window, overlap):
    """Where each window of a long clip starts, and which of its logit rows to keep.

    Windows of `window` samples start every `window - 2 * overlap` samples
    (the last one ends at the clip's end). Two neighbours hand over in the
    middle of the audio they share, so every 40 ms output row comes from a
    window that heard about `overlap` samples or more on both sides of it.
    Starts are multiples of one output frame (640 samples), so rows line up.

    Returns:
        A list of `(start_sample, first_row, end_row)`.

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
    # Hand-over points, in output rows of the whole clip.
    handovers = [(b + a + window) // 2 // frame for a, b in zip(starts, starts[1:], strict=False)]
    chunks = []
    for index, start in enumerate(starts):
        first = 0 if index == 0 else handovers[index - 1] - start // frame
        end = rows if index == len(starts) - 1 else handovers[index] - start // frame
        chunks.append((start, first, end))
    return chunks


def chunked_logits(run, audio, window, overlap=int(CHUNK_OVERLAP_SECONDS * SAMPLE_RATE)):
    """Logits of a clip of any length, from `run(waveforms (1, window)) -> logits`.

    Cuts `audio` into overlapping windows (`chunk_starts`), zero-pads the
    last, and joins the middle rows of each window's logits.
    """
    pieces = []
    for start, first, end in chunk_starts(len(audio), window, overlap):
        piece = np.zeros((1, window), "float32")
        clip = audio[start : start + window]
        piece[0, : len(clip)] = clip
        pieces.append(np.asarray(run(piece))[0, first:end])
    return np.concatenate(pieces)[None]
