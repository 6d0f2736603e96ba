"""Synthesised voice commands, made without TensorFlow (for a fresh process).

The built-in keyword data is spoken by eSpeak NG voices in a new Python
process (see `fresh_process`), so that a dataset depends only on its
parameters. That process imports this module alone: NumPy and the
synthesizer, no TensorFlow, so it starts in about a second rather than the
several seconds a TensorFlow import takes.

Example:

```python
synthesizer = Synthesizer()
rng = np.random.default_rng(0)
clip = speak_clip(synthesizer, rng, "yes", Voice("en-us", "f2"))
clip.shape  # (16000,) float32: the word at a random rate, pitch, gain and place
```
"""

import sys

import numpy as np

from dlapps.datasets import random_noise
from dlapps.speech.synthesizer import SAMPLE_RATE, Synthesizer, Voice

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
# Speech Commands' auxiliary words: what `_unknown_` is made of.
UNKNOWN_WORDS = (
    "bed",
    "bird",
    "cat",
    "dog",
    "eight",
    "five",
    "four",
    "happy",
    "house",
    "marvin",
    "nine",
    "one",
    "seven",
    "sheila",
    "six",
    "three",
    "tree",
    "two",
    "wow",
    "zero",
    "backward",
    "forward",
    "follow",
    "learn",
    "visual",
)
CLIP_SAMPLES = SAMPLE_RATE


def speak_clip(synthesizer, rng, word, voice):
    """One word at a random rate, pitch, gain and position in a 1 s clip."""
    rate = rng.uniform(130, 230)
    for _ in range(4):
        audio = synthesizer.speak(word, voice, rate=rate, pitch=rng.uniform(20, 80))
        loud = np.flatnonzero(np.abs(audio) > 0.02 * (np.abs(audio).max() + 1e-9))
        if len(loud):
            audio = audio[loud[0] : loud[-1] + 1]
        if 0 < len(audio) <= CLIP_SAMPLES:
            break
        rate += 60  # too long for one second: say it faster
    audio = audio[:CLIP_SAMPLES] / (np.abs(audio).max() + 1e-9) * rng.uniform(0.2, 0.9)
    clip = np.zeros(CLIP_SAMPLES, "float32")
    start = rng.integers(0, CLIP_SAMPLES - len(audio) + 1)
    clip[start : start + len(audio)] = audio
    # A recording's noise floor, 25-45 dB under the speech.
    speech_rms = np.sqrt(np.mean(audio**2))
    return clip + random_noise(rng, CLIP_SAMPLES, speech_rms * 10 ** (-rng.uniform(25, 45) / 20))


def silence_clip(rng):
    """One second of white or brown noise at a random level (the `_silence_` label)."""
    return random_noise(rng, CLIP_SAMPLES, 10 ** rng.uniform(-4, -1.5))


def generate_keywords(clips_per_class, voices, seed, synthesizer, description="clips"):
    """Synthesises `clips_per_class` clips of each label with the given voices.

    Returns:
        `(clips int16 (n, 16000), labels int32 (n,))`, in label order.
    """
    labels = [*KEYWORDS, SILENCE, UNKNOWN]
    rng = np.random.default_rng(seed)
    total = clips_per_class * len(labels)
    clips = np.empty((total, CLIP_SAMPLES), "int16")
    targets = np.repeat(np.arange(len(labels), dtype="int32"), clips_per_class)
    for index, label in enumerate(targets):
        name = labels[label]
        if name == SILENCE:
            clip = silence_clip(rng)
        else:
            word = rng.choice(UNKNOWN_WORDS) if name == UNKNOWN else name
            clip = speak_clip(synthesizer, rng, word, voices[rng.integers(len(voices))])
        clips[index] = np.round(np.clip(clip, -1, 1) * 32767)
        if index % 200 == 0 or index == total - 1:
            print(f"\r{description}s: {index + 1}/{total}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return clips, targets


def generate_keyword_splits(counts, voices, seed):
    """Train, validation and test clips, for `call_in_fresh_process`.

    Args:
        counts: clips per class for each split name.
        voices: voice names ("accent+variant") for each split name.
        seed: the data seed; split `i` uses `seed * 3 + i`.

    Returns:
        `{"train_x": ..., "train_y": ..., ...}`, as `generate_keywords` gives.
    """
    synthesizer = Synthesizer()
    arrays = {}
    for offset, split in enumerate(counts):
        arrays[f"{split}_x"], arrays[f"{split}_y"] = generate_keywords(
            counts[split],
            [Voice.from_name(name) for name in voices[split]],
            seed * 3 + offset,
            synthesizer,
            f"{split} clip",
        )
    return arrays
