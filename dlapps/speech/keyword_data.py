"""Keyword-spotting data: synthesised voice commands, a WAV folder, or TFDS.

Every source returns a `KeywordData`: one-second 16 kHz clips as int16 per
split, integer labels and the label names. The built-in data follows Speech
Commands: ten keywords, `_silence_` (background noise only) and `_unknown_`
(other words).

Example:

```python
data = load_keyword_data("synthetic")
data.labels[:3], data.train[0].shape
# (['yes', 'no', 'up'], (3600, 16000))
```
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from dlapps.datasets import (
    cached_arrays,
    class_folders,
    load_tfds_splits,
    random_noise,
    stratified_split,
)
from dlapps.errors import UserError
from dlapps.speech import audio as audio_lib
from dlapps.speech.fresh_process import call_in_fresh_process
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
ACCENTS = {
    "train": ("en", "en-us", "en-gb-scotland", "en-gb-x-gbcwmd", "en-029"),
    "validation": ("en-gb-x-gbclan",),
    "test": ("en-us-nyc", "en-gb-x-rp"),
}
CLIP_SAMPLES = SAMPLE_RATE
# Bump when generation changes, so cached files are regenerated.
GENERATOR_VERSION = 2


@dataclasses.dataclass
class KeywordData:
    """One-second clips split three ways, with their label names.

    Attributes:
        train, validation, test: `(clips, labels)`: int16 `(n, 16000)`
            (divide by 32768 for [-1, 1]) and int32 `(n,)`.
        labels: class names; label `i` is `labels[i]`.
        source: where the data came from, for the report.
        voices: for generated data, the voice names of each split.
    """

    train: tuple
    validation: tuple
    test: tuple
    labels: list
    source: str
    voices: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        """Split sizes, classes and held-out voices, for the report."""
        summary = {
            "source": self.source,
            "clip_samples": CLIP_SAMPLES,
            "sample_rate": SAMPLE_RATE,
            "classes": len(self.labels),
            "train": len(self.train[1]),
            "validation": len(self.validation[1]),
            "test": len(self.test[1]),
        }
        if self.voices:
            summary["voices"] = {split: len(names) for split, names in self.voices.items()}
        return summary


def split_voices(synthesizer, seed=0):
    """Assigns every voice to one split, so held-out voices are never trained on.

    Accents are split by `ACCENTS`; variants are shuffled with `seed` and
    split 70/15/15. A split's voices pair its accents with its variants, so
    a validation or test voice shares neither its accent nor its variant
    with any training voice.
    """
    variants = synthesizer.reproducible_variants()
    np.random.default_rng(seed).shuffle(variants)
    cut1, cut2 = int(len(variants) * 0.7), int(len(variants) * 0.85)
    variant_splits = {
        "train": variants[:cut1],
        "validation": variants[cut1:cut2],
        "test": variants[cut2:],
    }
    return {
        split: [Voice(a, v) for a in ACCENTS[split] for v in variant_splits[split]]
        for split in ACCENTS
    }


def _speak_clip(synthesizer, rng, word, voice):
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


def _silence_clip(rng):
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
    progress = keras.utils.Progbar(total, unit_name=description)
    for index, label in enumerate(targets):
        name = labels[label]
        if name == SILENCE:
            clip = _silence_clip(rng)
        else:
            word = rng.choice(UNKNOWN_WORDS) if name == UNKNOWN else name
            clip = _speak_clip(synthesizer, rng, word, voices[rng.integers(len(voices))])
        clips[index] = np.round(np.clip(clip, -1, 1) * 32767)
        if index % 200 == 0 or index == total - 1:
            progress.update(index + 1)
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


def load_synthetic_keywords(
    train_per_class=400, validation_per_class=50, test_per_class=133, seed=0, cache_dir=None
):
    """The built-in keyword data, synthesised with eSpeak NG and cached on disk.

    Generation is deterministic for a seed and takes seconds. It runs in a
    new process (see `fresh_process`), because eSpeak NG's output also
    depends on what it said before. The result is kept in `cache_dir` under
    a name made from every parameter, so changing one regenerates and
    nothing else does. Validation and test voices are
    held out from training (see `split_voices`).
    """
    parameters = {
        "version": GENERATOR_VERSION,
        "train": train_per_class,
        "validation": validation_per_class,
        "test": test_per_class,
        "seed": seed,
        "accents": ACCENTS,
        "unknown_words": UNKNOWN_WORDS,
    }
    voices = split_voices(Synthesizer(), seed)
    labels = [*KEYWORDS, SILENCE, UNKNOWN]
    counts = {"train": train_per_class, "validation": validation_per_class, "test": test_per_class}

    def build():
        return call_in_fresh_process(
            f"{__name__}:generate_keyword_splits",
            counts=counts,
            voices={split: [voice.name for voice in voices[split]] for split in voices},
            seed=seed,
        )

    stored = cached_arrays("speech_keywords", parameters, build, cache_dir)
    splits = {s: (stored[f"{s}_x"], stored[f"{s}_y"]) for s in counts}
    return KeywordData(
        splits["train"],
        splits["validation"],
        splits["test"],
        labels=labels,
        source="synthetic",
        voices={split: [v.name for v in voices[split]] for split in voices},
    )


def load_keyword_folder(directory, seed=0, test_fraction=0.1, validation_fraction=0.1):
    """Loads WAVs in the Speech Commands layout: one sub-folder per label.

    Files of any sample rate are resampled to 16 kHz and padded or cropped
    to one second (see `audio.read_wav`). `directory` may be a URL such as
    gs://bucket/commands (see `dlapps.datasets`). Folders whose name starts with an
    underscore other than `_silence_`/`_unknown_` (such as Speech Commands'
    `_background_noise_`) are skipped.
    """
    layout = "put one sub-folder of WAV files per label in it (e.g. commands/yes/1.wav)"
    folders = class_folders(directory, (".wav",))
    if folders is None:
        raise UserError(f"data folder {directory} does not exist: {layout}")
    files = {
        name: paths
        for name, paths in folders.items()
        if paths and (not name.startswith("_") or name in (SILENCE, UNKNOWN))
    }
    if len(files) < 2:
        raise UserError(
            f"data folder {directory} has {len(files)} label sub-folders with .wav files: "
            f"a classifier needs at least two; {layout}"
        )
    labels = sorted(files)
    paths = [p for name in labels for p in files[name]]
    targets = np.asarray([i for i, name in enumerate(labels) for _ in files[name]], "int32")
    clips = np.empty((len(paths), CLIP_SAMPLES), "int16")
    progress = keras.utils.Progbar(len(paths), unit_name="file")
    for index, path in enumerate(paths):
        clip = audio_lib.fit_length(audio_lib.read_wav(path), CLIP_SAMPLES)
        clips[index] = np.round(np.clip(clip, -1, 1) * 32767)
        if index % 100 == 0 or index == len(paths) - 1:
            progress.update(index + 1)
    splits = stratified_split(clips, targets, test_fraction, validation_fraction, seed)
    return KeywordData(*splits, labels=labels, source=f"folder:{directory}")


def load_keyword_tfds(name="speech_commands", data_dir=None):
    """Loads `tfds:speech_commands` (its own train/validation/test splits)."""
    splits, info = load_tfds_splits(name, ["train", "validation", "test"], data_dir)

    def to_numpy(split):
        clips, labels = [], []
        for audio, label in split:
            audio = audio.numpy()
            if audio.dtype != np.int16:
                audio = np.round(np.clip(audio, -1, 1) * 32767).astype("int16")
            clips.append(audio_lib.fit_length(audio, CLIP_SAMPLES))
            labels.append(int(label))
        if not clips:
            raise UserError(f"TFDS dataset '{name}' has an empty split")
        return np.stack(clips).astype("int16"), np.asarray(labels, "int32")

    names = list(info.features[info.supervised_keys[1]].names)
    return KeywordData(*(to_numpy(s) for s in splits), labels=names, source=f"tfds:{name}")


def load_keyword_data(spec="synthetic", seed=0, cache_dir=None, tfds_data_dir=None, **sizes):
    """Loads keyword data from a `--data` value: "synthetic", "tfds:NAME" or a folder."""
    if spec in (None, "", "synthetic"):
        return load_synthetic_keywords(seed=seed, cache_dir=cache_dir, **sizes)
    if spec.startswith("tfds:"):
        return load_keyword_tfds(spec[5:], data_dir=tfds_data_dir)
    return load_keyword_folder(spec, seed=seed)


def add_noise(waveforms, snr_db, seed=0):
    """Adds white noise at `snr_db` below each clip's RMS (for robustness tests)."""
    rng = np.random.default_rng(seed)
    waveforms = np.asarray(waveforms, "float32")
    rms = np.sqrt(np.mean(waveforms**2, axis=-1, keepdims=True))
    noise = rng.normal(size=waveforms.shape).astype("float32")
    return np.clip(waveforms + noise * rms * 10 ** (-snr_db / 20), -1, 1)


def to_dataset(split, batch_size, shuffle=False, augment=False, seed=0):
    """A batched `tf.data.Dataset` of float32 waveforms in [-1, 1] and labels.

    With `augment`, each training clip gets a random gain (0.5-1.5x), a
    random shift of up to 100 ms and, 80% of the time, white noise 5-30 dB
    under the clip's RMS, drawn afresh every epoch.
    """
    clips, labels = split
    dataset = tf.data.Dataset.from_tensor_slices((clips, labels)).cache()
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def to_float(clips, labels):
        return tf.cast(clips, tf.float32) / 32768.0, labels

    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        dataset = dataset.map(_augment, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _augment(waveforms, labels):
    batch = tf.shape(waveforms)[0]
    shift = tf.random.uniform([], -SAMPLE_RATE // 10, SAMPLE_RATE // 10 + 1, tf.int32)
    waveforms = tf.roll(waveforms, shift, axis=1)
    waveforms *= tf.random.uniform([batch, 1], 0.5, 1.5)
    rms = tf.sqrt(tf.reduce_mean(tf.square(waveforms), axis=1, keepdims=True))
    snr_db = tf.random.uniform([batch, 1], 5.0, 30.0)
    noisy = tf.cast(tf.random.uniform([batch, 1]) < 0.8, tf.float32)
    noise = tf.random.normal(tf.shape(waveforms)) * rms * tf.pow(10.0, -snr_db / 20) * noisy
    return tf.clip_by_value(waveforms + noise, -1.0, 1.0), labels
