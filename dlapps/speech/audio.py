"""Reading WAV files into the 16 kHz mono float32 the speech models take."""

from pathlib import Path

import numpy as np

from dlapps.datasets import is_url, readable
from dlapps.errors import UserError
from dlapps.speech.synthesizer import SAMPLE_RATE, resample


def read_wav(path, sample_rate=SAMPLE_RATE):
    """Reads a WAV file as mono float32 in [-1, 1] at `sample_rate`.

    Conversions, all documented rather than refused: 8/16/24/32-bit integer
    and 32/64-bit float WAVs are scaled to [-1, 1]; stereo and multichannel
    files are averaged to mono; other sample rates are resampled (polyphase,
    anti-aliased).

    Raises:
        UserError: the file is missing, empty, not a WAV, or has no samples.

    Example:

    >>> audio = read_wav("yes.wav")
    >>> audio.dtype, audio.ndim
    (dtype('float32'), 1)
    """
    from scipy.io import wavfile

    if is_url(path):
        import tensorflow as tf

        exists = tf.io.gfile.exists(str(path)) and not tf.io.gfile.isdir(str(path))
        size = tf.io.gfile.stat(str(path)).length if exists else 0
    else:
        path = Path(path)
        exists = path.is_file()
        size = path.stat().st_size if exists else 0
    if not exists:
        raise UserError(f"audio file {path} does not exist")
    if size == 0:
        raise UserError(f"audio file {path} is empty (0 bytes): remove or replace it")
    try:
        rate, samples = wavfile.read(readable(path))
    except (ValueError, OSError, EOFError) as error:
        raise UserError(
            f"could not read {path} as a WAV file ({error}): convert it to WAV, "
            "e.g. ffmpeg -i input -ar 16000 -ac 1 output.wav"
        ) from None
    if samples.size == 0:
        raise UserError(f"WAV file {path} holds no samples: remove or replace it")
    audio = _to_float(samples)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return resample(audio, rate, sample_rate)


def _to_float(samples):
    if samples.dtype == np.uint8:
        return (samples.astype("float32") - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype("float32") / float(np.iinfo(samples.dtype).max + 1)
    return samples.astype("float32")


def fit_length(audio, samples):
    """Zero-pads or centre-crops 1-D `audio` to exactly `samples` long."""
    if len(audio) >= samples:
        start = (len(audio) - samples) // 2
        return audio[start : start + samples]
    return np.pad(audio, (0, samples - len(audio)))


def write_wav(path, audio, sample_rate=SAMPLE_RATE):
    """Writes float audio in [-1, 1] as a 16-bit PCM WAV file."""
    from scipy.io import wavfile

    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("int16")
    wavfile.write(path, sample_rate, pcm)
