"""Speech-to-text data: synthesised spoken sentences, or a LJSpeech-style folder.

Every source returns a `SentenceData`: clips of a fixed length as int16 per
split, with their transcripts normalised to the model's alphabet (lower-case
letters, apostrophe and space).

Example:

```python
data = load_sentence_data("synthetic")
data.train[1][0]
# 'turn on the kitchen lights'
```
"""

import csv
import dataclasses
import re
from pathlib import Path

import keras
import numpy as np

from dlapps.datasets import cached_arrays, random_noise, stratified_split
from dlapps.errors import UserError
from dlapps.speech import audio as audio_lib
from dlapps.speech.fresh_process import call_in_fresh_process
from dlapps.speech.keyword_data import split_voices
from dlapps.speech.synthesizer import SAMPLE_RATE, Synthesizer, Voice

# Index 0 is the CTC blank; characters are 1..len(ALPHABET).
ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"
CLIP_SECONDS = 3
CLIP_SAMPLES = CLIP_SECONDS * SAMPLE_RATE
GENERATOR_VERSION = 2

_NUMBERS = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "twenty",
    "thirty",
]
_GRAMMAR = {
    "device": ["lights", "lamp", "radio", "music", "heating", "fan", "television", "alarm"],
    "room": ["kitchen", "bedroom", "garage", "office", "hallway", "garden"],
    "direction": ["left", "right", "up", "down", "forward", "back"],
    "name": ["anna", "david", "maria", "peter", "sarah", "james"],
    "unit": ["seconds", "minutes", "hours"],
}
_TEMPLATES = (
    "turn on the {device}",
    "turn off the {device}",
    "turn on the {room} {device}",
    "switch off the {room} {device}",
    "open the {room} door",
    "close the {room} window",
    "set a timer for {number} {unit}",
    "call {name}",
    "send a message to {name}",
    "move {direction} {number} steps",
    "go {direction}",
    "play some music in the {room}",
    "what is the weather like",
    "what time is it",
    "stop the {device}",
    "dim the {room} lights",
    "remind me in {number} {unit}",
)


@dataclasses.dataclass
class SentenceData:
    """Fixed-length clips split three ways, with their transcripts.

    Attributes:
        train, validation, test: `(clips, texts)`: int16 `(n, samples)`
            (divide by 32768 for [-1, 1]) and a list of n strings.
        source: where the data came from, for the report.
        voices: for generated data, the voice names of each split.
    """

    train: tuple
    validation: tuple
    test: tuple
    source: str
    voices: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        """Split sizes, clip length and held-out voices, for the report."""
        summary = {
            "source": self.source,
            "clip_samples": int(self.train[0].shape[1]),
            "sample_rate": SAMPLE_RATE,
            "train": len(self.train[1]),
            "validation": len(self.validation[1]),
            "test": len(self.test[1]),
        }
        if self.voices:
            summary["voices"] = {split: len(names) for split, names in self.voices.items()}
        return summary


def normalize_text(text):
    """Lower-cases `text` and keeps only the alphabet, single-spaced.

    Example:

    >>> normalize_text("Turn ON the lights, please!")
    'turn on the lights please'
    """
    text = re.sub(f"[^{re.escape(ALPHABET)}]", " ", text.lower().replace("-", " "))
    return " ".join(text.split())


def encode_text(text):
    """Character ids of a normalised text (1-based; 0 is the CTC blank)."""
    return [ALPHABET.index(c) + 1 for c in text]


def random_sentence(rng):
    """One sentence from the built-in command grammar."""
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
    values = {key: words[rng.integers(len(words))] for key, words in _GRAMMAR.items()}
    values["number"] = _NUMBERS[rng.integers(len(_NUMBERS))]
    return template.format(**values)


def generate_sentences(count, voices, seed, synthesizer, description="sentence"):
    """Synthesises `count` sentences with random voices, rates, pitches and noise."""
    rng = np.random.default_rng(seed)
    clips = np.zeros((count, CLIP_SAMPLES), "int16")
    texts = []
    progress = keras.utils.Progbar(count, unit_name=description)
    for index in range(count):
        text = random_sentence(rng)
        voice = voices[rng.integers(len(voices))]
        rate = rng.uniform(150, 210)
        for _ in range(4):
            spoken = synthesizer.speak(text, voice, rate=rate, pitch=rng.uniform(25, 75))
            loud = np.flatnonzero(np.abs(spoken) > 0.02 * (np.abs(spoken).max() + 1e-9))
            spoken = spoken[loud[0] : loud[-1] + 1] if len(loud) else spoken
            if len(spoken) <= CLIP_SAMPLES - SAMPLE_RATE // 10:
                break
            rate += 50  # too long for the clip: say it faster
        spoken = spoken[: CLIP_SAMPLES - SAMPLE_RATE // 10]
        spoken = spoken / (np.abs(spoken).max() + 1e-9) * rng.uniform(0.3, 0.9)
        start = rng.integers(0, CLIP_SAMPLES - len(spoken) + 1)
        clip = np.zeros(CLIP_SAMPLES, "float32")
        clip[start : start + len(spoken)] = spoken
        rms = np.sqrt(np.mean(spoken**2))
        clip += random_noise(rng, CLIP_SAMPLES, rms * 10 ** (-rng.uniform(25, 45) / 20))
        clips[index] = np.round(np.clip(clip, -1, 1) * 32767)
        texts.append(text)
        if index % 100 == 0 or index == count - 1:
            progress.update(index + 1)
    return clips, texts


def generate_sentence_splits(sizes, voices, seed):
    """Train, validation and test sentences, for `call_in_fresh_process`.

    Args:
        sizes: sentences in each split, by split name.
        voices: voice names ("accent+variant") for each split name.
        seed: the data seed; split `i` uses `seed * 3 + i + 100`.

    Returns:
        `{"train_x": clips, "train_y": texts, ...}` as NumPy arrays.
    """
    synthesizer = Synthesizer()
    arrays = {}
    for offset, split in enumerate(sizes):
        clips, texts = generate_sentences(
            sizes[split],
            [Voice.from_name(name) for name in voices[split]],
            seed * 3 + offset + 100,
            synthesizer,
            split,
        )
        arrays[f"{split}_x"], arrays[f"{split}_y"] = clips, np.asarray(texts)
    return arrays


def load_synthetic_sentences(
    train_size=2000, validation_size=150, test_size=300, seed=0, cache_dir=None
):
    """The built-in sentences, spoken by eSpeak NG voices and cached on disk.

    Validation and test voices share neither accent nor variant with any
    training voice (see `keyword_data.split_voices`). Deterministic for a
    seed: generated in a new process (see `fresh_process`), and regenerated
    only when a parameter changes.
    """
    parameters = {
        "version": GENERATOR_VERSION,
        "sizes": [train_size, validation_size, test_size],
        "seed": seed,
        "templates": _TEMPLATES,
        "grammar": _GRAMMAR,
    }
    voices = split_voices(Synthesizer(), seed)
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}

    def build():
        return call_in_fresh_process(
            f"{__name__}:generate_sentence_splits",
            sizes=sizes,
            voices={split: [voice.name for voice in voices[split]] for split in voices},
            seed=seed,
        )

    stored = cached_arrays("speech_sentences", parameters, build, cache_dir)
    splits = {s: (stored[f"{s}_x"], [str(t) for t in stored[f"{s}_y"]]) for s in sizes}
    return SentenceData(
        splits["train"],
        splits["validation"],
        splits["test"],
        source="synthetic",
        voices={split: [v.name for v in voices[split]] for split in voices},
    )


def load_ljspeech_folder(directory, seed=0, clip_seconds=10, test_fraction=0.1):
    """Loads a folder in LJSpeech's layout: `metadata.csv` and `wavs/<id>.wav`.

    `metadata.csv` has `id|transcript|normalized transcript` lines (the last
    column is used when present). Clips are padded or cut to
    `clip_seconds`; transcripts are normalised to the model's alphabet.
    """
    directory = Path(directory)
    metadata = directory / "metadata.csv"
    if not metadata.is_file():
        raise UserError(
            f"{directory} has no metadata.csv: use LJSpeech's layout, "
            "metadata.csv with 'id|transcript' lines and wavs/<id>.wav"
        )
    rows = []
    with open(metadata, encoding="utf-8", newline="") as file:
        for line_number, row in enumerate(csv.reader(file, delimiter="|", quoting=3), 1):
            if len(row) < 2 or not row[0]:
                raise UserError(f"{metadata} line {line_number}: expected 'id|transcript'")
            rows.append((row[0], normalize_text(row[-1])))
    if len(rows) < 3:
        raise UserError(f"{metadata} lists {len(rows)} clips: need at least 3 to split")
    samples = int(clip_seconds * SAMPLE_RATE)
    clips = np.zeros((len(rows), samples), "int16")
    for index, (clip_id, _) in enumerate(rows):
        audio = audio_lib.read_wav(directory / "wavs" / f"{clip_id}.wav")
        clips[index] = np.round(np.clip(audio_lib.fit_length(audio, samples), -1, 1) * 32767)
    texts = np.asarray([text for _, text in rows])
    groups = np.zeros(len(rows), "int32")  # one "class": a plain random split
    train, validation, test = stratified_split(
        np.arange(len(rows)), groups, test_fraction, test_fraction, seed
    )
    return SentenceData(
        *((clips[i], [str(t) for t in texts[i]]) for i, _ in (train, validation, test)),
        source=f"ljspeech:{directory}",
    )


def load_sentence_data(spec="synthetic", seed=0, cache_dir=None, **sizes):
    """Loads sentence data from a `--data` value: "synthetic" or a LJSpeech-style folder."""
    if spec in (None, "", "synthetic"):
        return load_synthetic_sentences(seed=seed, cache_dir=cache_dir, **sizes)
    return load_ljspeech_folder(spec, seed=seed)
