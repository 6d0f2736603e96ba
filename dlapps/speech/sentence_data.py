"""Speech-to-text data: synthesised spoken sentences, or a folder of the user's recordings.

Every source returns a `SentenceData`: clips of any length as int16 per
split, with their transcripts normalised to the model's alphabet (lower-case
letters, apostrophe and space). The built-in data speaks open-vocabulary
text (see `sentence_text`) with eSpeak NG voices, and holds out voices,
sentences, words and numbers for its test splits.

Example:

```python
data = load_sentence_data("synthetic")
data.train[1][0]
# 'seven hundred and fifty six thousand six hundred and eighty nine'
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
from dlapps.speech import sentence_text
from dlapps.speech.fresh_process import call_in_fresh_process
from dlapps.speech.keyword_data import split_voices
from dlapps.speech.synthesizer import SAMPLE_RATE, Synthesizer, Voice

# Index 0 is the CTC blank; characters are 1..len(ALPHABET).
ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"
# The longest clip the exported model takes in one piece (longer audio is
# transcribed in overlapping chunks by `dlapps predict` and the edge runner).
MAX_SECONDS = 30
MAX_SAMPLES = MAX_SECONDS * SAMPLE_RATE
# Built-in sentences are at most this long (faster speech when needed).
SPOKEN_SECONDS = 6
# The fixed length of the TFLite files and of the export's parity clips.
CLIP_SECONDS = 3
CLIP_SAMPLES = CLIP_SECONDS * SAMPLE_RATE
GENERATOR_VERSION = 3
TEST_SPLITS = ("test", "test_numbers", "test_new_words")


@dataclasses.dataclass
class SentenceData:
    """Clips of any length split several ways, with their transcripts.

    Attributes:
        train, validation, test: `(clips, texts)`: a list of int16 1-D
            arrays (divide by 32768 for [-1, 1]) and a list of strings.
            `test` holds unseen sentences (by unseen voices, for
            generated data).
        extra_tests: more test splits by name (generated data:
            "test_numbers", number phrases no training sentence holds;
            "test_new_words", sentences with words no training sentence
            holds).
        source: where the data came from, for the report.
        voices: for generated data, the voice names of each split.
        train_words: the words of the training transcripts.
    """

    train: tuple
    validation: tuple
    test: tuple
    source: str
    voices: dict = dataclasses.field(default_factory=dict)
    extra_tests: dict = dataclasses.field(default_factory=dict)

    @property
    def train_words(self):
        return {w for t in self.train[1] for w in t.split()}

    def test_splits(self):
        """`{name: (clips, texts)}` of every test split, "test" first."""
        return {"test": self.test, **self.extra_tests}

    def summary(self):
        """Split sizes, clip lengths and held-out voices, for the report."""
        lengths = np.asarray([len(c) for c in self.train[0]]) / SAMPLE_RATE
        summary = {
            "source": self.source,
            "sample_rate": SAMPLE_RATE,
            "train": len(self.train[1]),
            "distinct_train_sentences": len(set(self.train[1])),
            "train_vocabulary": len(self.train_words),
            "train_seconds": {"mean": float(lengths.mean()), "max": float(lengths.max())},
            "validation": len(self.validation[1]),
            **{name: len(split[1]) for name, split in self.test_splits().items()},
        }
        if self.voices:
            summary["voices"] = {split: len(names) for split, names in self.voices.items()}
        return summary


def pad_batch(clips, length=None):
    """Stacks int16 or float clips into float32 `(n, length)` in [-1, 1], zero-padded at the end.

    Zero padding is what the model ignores (see `speech_to_text`).
    """
    length = length or max(len(c) for c in clips)
    batch = np.zeros((len(clips), length), "float32")
    for row, clip in enumerate(clips):
        clip = clip[:length]
        batch[row, : len(clip)] = clip / 32768.0 if clip.dtype == np.int16 else clip
    return batch


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


def speak_sentence(synthesizer, rng, text, voice, max_samples=SPOKEN_SECONDS * SAMPLE_RATE):
    """One sentence as int16: random rate, pitch and gain, 50-300 ms of room noise each side."""
    rate = rng.uniform(140, 210)
    for _ in range(6):
        spoken = synthesizer.speak(text, voice, rate=rate, pitch=rng.uniform(25, 75))
        loud = np.flatnonzero(np.abs(spoken) > 0.02 * (np.abs(spoken).max() + 1e-9))
        spoken = spoken[loud[0] : loud[-1] + 1] if len(loud) else spoken
        if len(spoken) <= max_samples:
            break
        rate += 40  # too long: say it faster
    spoken = spoken[:max_samples]
    spoken = spoken / (np.abs(spoken).max() + 1e-9) * rng.uniform(0.3, 0.9)
    before, after = (int(rng.uniform(0.05, 0.3) * SAMPLE_RATE) for _ in range(2))
    clip = np.concatenate([np.zeros(before, "float32"), spoken, np.zeros(after, "float32")])
    rms = np.sqrt(np.mean(spoken**2))
    clip += random_noise(rng, len(clip), rms * 10 ** (-rng.uniform(25, 45) / 20))
    return np.round(np.clip(clip, -1, 1) * 32767).astype("int16")


def generate_sentence_splits(texts, voices, seed):
    """Speaks each split's sentences with its voices, for `call_in_fresh_process`.

    Args:
        texts: sentences of each split, by split name.
        voices: voice names ("accent+variant") for each split name.
        seed: the data seed; split `i` uses `seed * 7 + i + 100`.

    Returns:
        `{"<split>_audio": all clips end to end (int16), "<split>_lengths": ...}`.
    """
    synthesizer = Synthesizer()
    arrays = {}
    for offset, split in enumerate(texts):
        rng = np.random.default_rng(seed * 7 + offset + 100)
        split_voices = [Voice.from_name(name) for name in voices[split]]
        clips = []
        progress = keras.utils.Progbar(len(texts[split]), unit_name=split)
        for index, text in enumerate(texts[split]):
            voice = split_voices[rng.integers(len(split_voices))]
            clips.append(speak_sentence(synthesizer, rng, text, voice))
            if index % 200 == 0 or index == len(texts[split]) - 1:
                progress.update(index + 1)
        arrays[f"{split}_audio"] = np.concatenate(clips)
        arrays[f"{split}_lengths"] = np.asarray([len(c) for c in clips], "int64")
    return arrays


def sentence_splits(train_size, validation_size, test_size, seed=0):
    """The built-in text of each split (see `sentence_text`).

    Training text never holds a held-out word; "validation" and "test" are
    sentences that training does not hold, made only of training words;
    "test_numbers" are number phrases no training sentence holds;
    "test_new_words" holds one or two held-out words per sentence.
    """
    train = sentence_text.training_sentences(train_size, seed=seed)
    held_out = sentence_text.test_sentences(
        train, validation_size + test_size, seed=seed + 1_000_003
    )
    return {
        "train": train,
        "validation": held_out["unseen"][:validation_size],
        "test": held_out["unseen"][validation_size:],
        "test_numbers": held_out["numbers"][:test_size],
        "test_new_words": held_out["new_words"][:test_size],
    }


def load_synthetic_sentences(
    train_size=8000, validation_size=200, test_size=300, seed=0, cache_dir=None
):
    """The built-in sentences, spoken by eSpeak NG voices and cached on disk.

    Validation and test voices share neither accent nor variant with any
    training voice (see `keyword_data.split_voices`); every test split
    uses the test voices. Deterministic for a seed: generated in a new
    process (see `fresh_process`), and regenerated only when a parameter
    changes.
    """
    texts = sentence_splits(train_size, validation_size, test_size, seed)
    parameters = {
        "version": GENERATOR_VERSION,
        "seed": seed,
        "texts": texts,
        "spoken_seconds": SPOKEN_SECONDS,
    }
    voices = split_voices(Synthesizer(), seed)
    split_voice = {s: "test" if s.startswith("test") else s for s in texts}
    voice_names = {s: [v.name for v in voices[split_voice[s]]] for s in texts}

    def build():
        return call_in_fresh_process(
            f"{__name__}:generate_sentence_splits", texts=texts, voices=voice_names, seed=seed
        )

    stored = cached_arrays("speech_sentences", parameters, build, cache_dir)
    splits = {}
    for split in texts:
        offsets = np.cumsum([0, *stored[f"{split}_lengths"]])
        audio = stored[f"{split}_audio"]
        clips = [audio[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        splits[split] = (clips, list(texts[split]))
    return SentenceData(
        splits["train"],
        splits["validation"],
        splits["test"],
        source="synthetic",
        voices={split: [v.name for v in voices[split]] for split in voices},
        extra_tests={s: splits[s] for s in TEST_SPLITS[1:]},
    )


def _read_clip(path):
    """A recording as int16 at 16 kHz (WAV; MP3 through soundfile), at most `MAX_SECONDS`."""
    mp3 = str(path).lower().endswith(".mp3")
    audio = _read_mp3(path) if mp3 else audio_lib.read_wav(path)
    if len(audio) > MAX_SAMPLES:
        raise UserError(
            f"{path} is {len(audio) / SAMPLE_RATE:.1f} s long: training clips must be at most "
            f"{MAX_SECONDS} s; split it into sentences"
        )
    return np.round(np.clip(audio, -1, 1) * 32767).astype("int16")


def _read_mp3(path):
    try:
        import soundfile
    except ImportError:
        raise UserError(
            f"{path} is an MP3 file: decoding MP3 needs the soundfile package with "
            "libsndfile 1.1 or newer (pip install soundfile), or convert the clips to WAV "
            "first (ffmpeg -i clip.mp3 -ar 16000 -ac 1 clip.wav)"
        ) from None
    from dlapps.speech.synthesizer import resample

    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError, ...
        raise UserError(
            f"could not decode {path} ({str(error).splitlines()[0]}): soundfile decodes MP3 "
            "with libsndfile 1.1 or newer; or convert the clips to WAV with ffmpeg"
        ) from None
    return resample(audio.mean(axis=1), rate)


def _split_rows(rows, seed, test_fraction, source):
    """A random train/validation/test split of `(clip, text)` rows."""
    if len(rows) < 3:
        raise UserError(f"{source} lists {len(rows)} clips: need at least 3 to split")
    groups = np.zeros(len(rows), "int32")  # one "class": a plain random split
    train, validation, test = stratified_split(
        np.arange(len(rows)), groups, test_fraction, test_fraction, seed
    )
    return [
        ([rows[i][0] for i in indices], [rows[i][1] for i in indices])
        for indices, _ in (train, validation, test)
    ]


def load_ljspeech_folder(directory, seed=0, test_fraction=0.1):
    """Loads a folder in LJSpeech's layout: `metadata.csv` and `wavs/<id>.wav`.

    `metadata.csv` has `id|transcript|normalized transcript` lines (the last
    column is used when present). Clips keep their length (at most
    `MAX_SECONDS`); transcripts are normalised to the model's alphabet.
    """
    directory = Path(directory)
    metadata = directory / "metadata.csv"
    if not metadata.is_file():
        raise UserError(
            f"{directory} has no metadata.csv: use LJSpeech's layout, "
            "metadata.csv with 'id|transcript' lines and wavs/<id>.wav "
            "(or Common Voice's: a .tsv with path and sentence columns and clips/)"
        )
    rows = []
    with open(metadata, encoding="utf-8", newline="") as file:
        for line_number, row in enumerate(csv.reader(file, delimiter="|", quoting=3), 1):
            if len(row) < 2 or not row[0]:
                raise UserError(f"{metadata} line {line_number}: expected 'id|transcript'")
            rows.append((row[0], normalize_text(row[-1])))
    if len(rows) < 3:
        raise UserError(f"{metadata} lists {len(rows)} clips: need at least 3 to split")
    rows = [(_read_clip(directory / "wavs" / f"{clip_id}.wav"), text) for clip_id, text in rows]
    train, validation, test = _split_rows(rows, seed, test_fraction, metadata)
    return SentenceData(train, validation, test, source=f"ljspeech:{directory}")


def load_common_voice(path, seed=0, test_fraction=0.1):
    """Loads Common Voice's layout: a TSV with `path` and `sentence` columns, audio in `clips/`.

    `path` may be a .tsv file (e.g. `validated.tsv`) or the folder holding
    one (`validated.tsv`, else `train.tsv`, else the only .tsv). Audio files
    are looked up in `clips/` beside the TSV, then beside it; MP3 needs the
    soundfile package (libsndfile 1.1+), WAV nothing more.
    """
    path = Path(path)
    if path.is_dir():
        tables = sorted(path.glob("*.tsv"))
        named = [path / n for n in ("validated.tsv", "train.tsv") if (path / n).is_file()]
        table = named[0] if named else (tables[0] if len(tables) == 1 else None)
        if table is None:
            raise UserError(f"{path} has {len(tables)} .tsv files: name the one to train on")
    else:
        table = path
    with open(table, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not {"path", "sentence"} <= set(reader.fieldnames or ()):
            raise UserError(
                f"{table} has columns {reader.fieldnames}: Common Voice's layout needs "
                "'path' and 'sentence'"
            )
        entries = [(row["path"], normalize_text(row["sentence"] or "")) for row in reader]
    rows = []
    for name, text in entries:
        audio = table.parent / "clips" / name
        audio = audio if audio.is_file() else table.parent / name
        rows.append((_read_clip(audio), text))
    train, validation, test = _split_rows(rows, seed, test_fraction, table)
    return SentenceData(train, validation, test, source=f"common_voice:{table}")


def load_sentence_data(spec="synthetic", seed=0, cache_dir=None, **sizes):
    """Loads sentence data from a `--data` value.

    "synthetic", a folder in LJSpeech's layout (metadata.csv), or Common
    Voice's (a .tsv file, or a folder holding one).
    """
    if spec in (None, "", "synthetic"):
        return load_synthetic_sentences(seed=seed, cache_dir=cache_dir, **sizes)
    path = Path(spec)
    if path.suffix == ".tsv" or (
        path.is_dir() and not (path / "metadata.csv").exists() and any(path.glob("*.tsv"))
    ):
        return load_common_voice(path, seed=seed)
    return load_ljspeech_folder(spec, seed=seed)
