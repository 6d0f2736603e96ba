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
import math
import re
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from dlapps.datasets import (
    cached_arrays,
    class_folders,
    load_tfds_splits,
    stratified_split,
)
from dlapps.errors import UserError
from dlapps.speech import audio as audio_lib
from dlapps.speech.fresh_process import call_in_fresh_process
from dlapps.speech.keyword_synthesis import (  # noqa: F401 (re-exported)
    KEYWORDS,
    SILENCE,
    UNKNOWN,
    UNKNOWN_WORDS,
    generate_keyword_splits,
    generate_keywords,
    silence_clip,
    speak_clip,
)
from dlapps.speech.synthesizer import SAMPLE_RATE, Synthesizer, Voice

ACCENTS = {
    "train": ("en", "en-us", "en-gb-scotland", "en-gb-x-gbcwmd", "en-029"),
    "validation": ("en-gb-x-gbclan",),
    "test": ("en-us-nyc", "en-gb-x-rp"),
}
CLIP_SAMPLES = SAMPLE_RATE
# Speech Commands names files <speaker>_nohash_<n>.wav.
SPEECH_COMMANDS_SPEAKER = r"^(?P<speaker>[0-9a-zA-Z]+)_nohash_"
OFFICIAL_LISTS = ("validation_list.txt", "testing_list.txt")
# Speaking rates of different people differ by about a fifth either way;
# 0.8-1.25 is symmetric in log speed.
SPEED_RANGE = (0.8, 1.25)
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
        split: how the splits were made, for the report (e.g. "by speaker").
        speakers: for folders split by speaker, the speakers of each split.
        noise: int16 `(n, 16000)` background noise for augmentation (a
            folder's `_background_noise_` WAVs cut into seconds), or None.
        augment: whether training augments the clips (see `to_dataset`).
        speed_range: the speed perturbation's lowest and highest factor.
    """

    train: tuple
    validation: tuple
    test: tuple
    labels: list
    source: str
    voices: dict = dataclasses.field(default_factory=dict)
    split: str = "by voice: validation and test voices never speak in training"
    speakers: dict = dataclasses.field(default_factory=dict)
    noise: np.ndarray | None = None
    augment: bool = True
    speed_range: tuple = SPEED_RANGE

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
        summary["split"] = self.split
        if self.speakers:
            summary["speakers"] = {split: len(names) for split, names in self.speakers.items()}
            summary["test_speakers"] = list(self.speakers["test"])[:20]
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
            "dlapps.speech.keyword_synthesis:generate_keyword_splits",
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


def load_keyword_folder(
    directory, seed=0, test_fraction=0.1, validation_fraction=0.1, speaker_pattern=None
):
    """Loads WAVs in the Speech Commands layout: one sub-folder per label.

    Files of any sample rate are resampled to 16 kHz and padded or cropped
    to one second (see `audio.read_wav`). `directory` may be a URL such as
    gs://bucket/commands (see `dlapps.datasets`). Folders whose name starts
    with an underscore other than `_silence_`/`_unknown_` are skipped;
    `_background_noise_` WAVs become noise for augmentation.

    The split (see `split_files`) uses the folder's `validation_list.txt`
    and `testing_list.txt` when present; else it holds out whole speakers
    when file names say who spoke (`<speaker>_nohash_<n>.wav`, or
    `speaker_pattern`); else, and said so in the report, single files.
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
    clips = _read_clips(paths)
    (train, validation, test), how, speakers = split_files(
        directory, paths, targets, seed, test_fraction, validation_fraction, speaker_pattern
    )
    noise_paths = folders.get("_background_noise_", [])
    noise = None
    if noise_paths:
        seconds = [audio_lib.read_wav(p) for p in noise_paths]
        pieces = [
            a[i : i + CLIP_SAMPLES]
            for a in seconds
            for i in range(0, len(a) - CLIP_SAMPLES + 1, CLIP_SAMPLES // 2)
        ]
        if pieces:
            noise = np.round(np.clip(np.stack(pieces), -1, 1) * 32767).astype("int16")
    return KeywordData(
        *((clips[i], targets[i]) for i in (train, validation, test)),
        labels=labels,
        source=f"folder:{directory}",
        split=how,
        speakers=speakers,
        noise=noise,
    )


def _read_clips(paths):
    clips = np.empty((len(paths), CLIP_SAMPLES), "int16")
    progress = keras.utils.Progbar(len(paths), unit_name="file")
    for index, path in enumerate(paths):
        clip = audio_lib.fit_length(audio_lib.read_wav(path), CLIP_SAMPLES)
        clips[index] = np.round(np.clip(clip, -1, 1) * 32767)
        if index % 100 == 0 or index == len(paths) - 1:
            progress.update(index + 1)
    return clips


def split_files(
    directory, paths, targets, seed, test_fraction, validation_fraction, speaker_pattern=None
):
    """Train, validation and test indices of a keyword folder, and how they were made.

    In order of preference:

    1. The folder's official lists (Speech Commands' `validation_list.txt`
       and `testing_list.txt`, lines such as `yes/0a7c2a8d_nohash_0.wav`).
    2. By speaker: the speaker is the `speaker` group (or first group) of
       `speaker_pattern` searched in each file name (default: Speech
       Commands' `<speaker>_nohash_<n>.wav`). About `test_fraction` of the
       speakers (at least one) are held out for test; validation is
       `validation_fraction` of the other speakers' files (within-speaker).
    3. By file (stratified by label), when names do not say who spoke; the
       returned description says so. `speaker_pattern="none"` forces it.

    Returns:
        `((train, validation, test) index arrays, description, speakers)`:
        `speakers` maps each split to its speaker names (empty unless by speaker).

    Raises:
        UserError: an explicit `speaker_pattern` misses a file or is not a
            valid regular expression.
    """
    names = [str(p).replace("\\", "/") for p in paths]
    relative = ["/".join(n.split("/")[-2:]) for n in names]
    lists = _official_lists(directory)
    if lists is not None:
        validation_set, test_set = lists
        validation = np.asarray([i for i, r in enumerate(relative) if r in validation_set], int)
        test = np.asarray([i for i, r in enumerate(relative) if r in test_set], int)
        train = np.setdiff1d(np.arange(len(paths)), np.concatenate([validation, test]))
        if len(test) and len(validation) and len(train):
            return (
                (train, validation, test),
                "official lists (validation_list.txt, testing_list.txt)",
                {},
            )
    if speaker_pattern != "none":
        speakers = _speakers(names, speaker_pattern)
        if speakers is not None and len(set(speakers)) >= 2:
            return _split_by_speaker(speakers, targets, seed, test_fraction, validation_fraction)
    indices = np.arange(len(paths))
    train, validation, test = stratified_split(
        indices, targets, test_fraction, validation_fraction, seed
    )
    why = (
        "--speaker-pattern none"
        if speaker_pattern == "none"
        else (
            "file names do not say who spoke (name them <speaker>_nohash_<n>.wav or "
            "pass --speaker-pattern)"
        )
    )
    return (
        (train[0], validation[0], test[0]),
        f"by file, not by speaker: {why}; the same speakers may be in train and test, so "
        "test accuracy is optimistic for new speakers",
        {},
    )


def _official_lists(directory):
    if str(directory).startswith(("gs://", "s3://", "ram://", "hdfs://")):
        import tensorflow as tf

        read = lambda name: tf.io.gfile.GFile(f"{str(directory).rstrip('/')}/{name}").read()  # noqa: E731
        exists = lambda name: tf.io.gfile.exists(f"{str(directory).rstrip('/')}/{name}")  # noqa: E731
    else:
        read = lambda name: (Path(directory) / name).read_text(encoding="utf-8")  # noqa: E731
        exists = lambda name: (Path(directory) / name).is_file()  # noqa: E731
    if not exists(OFFICIAL_LISTS[1]):
        return None
    sets = []
    for name in OFFICIAL_LISTS:
        lines = read(name).split() if exists(name) else []
        sets.append({line.strip().replace("\\", "/") for line in lines if line.strip()})
    return sets


def _speakers(names, pattern):
    explicit = pattern is not None
    try:
        regex = re.compile(pattern or SPEECH_COMMANDS_SPEAKER)
    except re.error as error:
        raise UserError(
            f"--speaker-pattern {pattern!r} is not a regular expression: {error}"
        ) from None
    speakers = []
    for name in names:
        match = regex.search(name.split("/")[-1])
        if match is None:
            if explicit:
                raise UserError(
                    f"--speaker-pattern {pattern!r} does not match {name.split('/')[-1]!r}: "
                    "it must find the speaker in every file name, e.g. '^(?P<speaker>[^_]+)_'"
                )
            return None
        groups = match.groupdict()
        speakers.append(
            groups.get("speaker") or (match.group(1) if regex.groups else match.group(0))
        )
    return speakers


def _split_by_speaker(speakers, targets, seed, test_fraction, validation_fraction):
    from sklearn.model_selection import train_test_split

    speakers = np.asarray(speakers)
    names = sorted(set(speakers))
    order = np.random.default_rng(seed).permutation(len(names))
    held = max(1, math.ceil(len(names) * test_fraction))
    held = min(held, len(names) - 1)
    test_speakers = sorted(names[i] for i in order[:held])
    test = np.flatnonzero(np.isin(speakers, test_speakers))
    rest = np.flatnonzero(~np.isin(speakers, test_speakers))
    size = max(1, math.ceil(len(rest) * validation_fraction))
    labels = targets[rest]
    stratify = labels if size >= len(np.unique(labels)) and np.bincount(labels).min() >= 2 else None
    train, validation = train_test_split(rest, test_size=size, stratify=stratify, random_state=seed)
    train_speakers = sorted(set(speakers[train]))
    return (
        (np.sort(train), np.sort(validation), test),
        f"by speaker: {len(test_speakers)} of {len(names)} speakers held out for test; "
        "validation is other files of the training speakers",
        {
            "train": train_speakers,
            "validation": sorted(set(speakers[validation])),
            "test": test_speakers,
        },
    )


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
    return KeywordData(
        *(to_numpy(s) for s in splits),
        labels=names,
        source=f"tfds:{name}",
        split="the dataset's own train/validation/test splits",
    )


def load_keyword_data(
    spec="synthetic", seed=0, cache_dir=None, tfds_data_dir=None, speaker_pattern=None, **sizes
):
    """Loads keyword data from a `--data` value: "synthetic", "tfds:NAME" or a folder."""
    if spec in (None, "", "synthetic"):
        return load_synthetic_keywords(seed=seed, cache_dir=cache_dir, **sizes)
    if spec.startswith("tfds:"):
        return load_keyword_tfds(spec[5:], data_dir=tfds_data_dir)
    return load_keyword_folder(spec, seed=seed, speaker_pattern=speaker_pattern)


def add_noise(waveforms, snr_db, seed=0):
    """Adds white noise at `snr_db` below each clip's RMS (for robustness tests)."""
    rng = np.random.default_rng(seed)
    waveforms = np.asarray(waveforms, "float32")
    rms = np.sqrt(np.mean(waveforms**2, axis=-1, keepdims=True))
    noise = rng.normal(size=waveforms.shape).astype("float32")
    return np.clip(waveforms + noise * rms * 10 ** (-snr_db / 20), -1, 1)


def to_dataset(
    split,
    batch_size,
    shuffle=False,
    augment=False,
    seed=0,
    noise=None,
    repeat=1,
    speed_range=SPEED_RANGE,
):
    """A batched `tf.data.Dataset` of float32 waveforms in [-1, 1] and labels.

    With `augment`, each training clip is changed afresh every epoch in
    ways that carry a model across voices and rooms:

    - speed perturbation: resampled by a factor in `speed_range` (default
      0.8-1.25x) around the clip's centre of energy, so the word stays in
      the second; it moves pitch and formants together with the rate (as
      Kaldi's speed perturbation), so the model hears higher and lower,
      faster and slower voices;
    - a random gain (0.5-1.5x) and shift of up to 100 ms;
    - 80% of the time, noise 0-30 dB under the clip: a random second of
      `noise` (a folder's `_background_noise_`) when given, else white or
      brown noise.

    Frequency warping (formants and pitch moved without the timing) and
    SpecAugment masking are part of the model (see `build_keyword_spotter`).
    `repeat` passes over the clips per epoch, for small folders.
    """
    clips, labels = split
    dataset = tf.data.Dataset.from_tensor_slices((clips, labels)).cache()
    if repeat > 1:
        dataset = dataset.repeat(repeat)
    if shuffle:
        dataset = dataset.shuffle(len(labels) * repeat, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def to_float(clips, labels):
        return tf.cast(clips, tf.float32) / 32768.0, labels

    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        bank = tf.constant(
            np.zeros((0, CLIP_SAMPLES), "float32")
            if noise is None
            else np.asarray(noise, "float32") / 32768.0
        )
        dataset = dataset.map(
            lambda x, y: (_augment(x, bank, speed_range), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def speed_perturb(waveforms, low=0.8, high=1.25):
    """Resamples each clip by a random factor in `[low, high]` (linear interpolation).

    A factor above 1 plays the clip faster (shorter, higher). The clip is
    stretched around its centre of energy (the middle of a silent clip), so
    a word near one end is not pushed out of the second.
    """
    batch, samples = tf.shape(waveforms)[0], tf.shape(waveforms)[1]
    factor = tf.random.uniform([batch, 1], low, high)
    times = tf.range(samples, dtype=tf.float32)[None]
    energy = tf.square(waveforms)
    total = tf.reduce_sum(energy, axis=1, keepdims=True)
    centre = tf.where(
        total > 0,
        tf.reduce_sum(energy * times, axis=1, keepdims=True) / tf.maximum(total, 1e-12),
        tf.cast(samples, tf.float32) / 2,
    )
    source = centre + (times - centre) * factor
    inside = tf.logical_and(source >= 0, source <= tf.cast(samples - 1, tf.float32))
    source = tf.clip_by_value(source, 0.0, tf.cast(samples - 1, tf.float32))
    left = tf.cast(tf.floor(source), tf.int32)
    right = tf.minimum(left + 1, samples - 1)
    weight = source - tf.cast(left, tf.float32)
    a = tf.gather(waveforms, left, batch_dims=1)
    b = tf.gather(waveforms, right, batch_dims=1)
    return tf.where(inside, a * (1 - weight) + b * weight, 0.0)


def _augment(waveforms, noise_bank, speed_range=SPEED_RANGE):
    batch = tf.shape(waveforms)[0]
    waveforms = speed_perturb(waveforms, *speed_range)
    shift = tf.random.uniform([], -SAMPLE_RATE // 10, SAMPLE_RATE // 10 + 1, tf.int32)
    waveforms = tf.roll(waveforms, shift, axis=1)
    waveforms *= tf.random.uniform([batch, 1], 0.5, 1.5)
    rms = tf.sqrt(tf.reduce_mean(tf.square(waveforms), axis=1, keepdims=True))
    snr_db = tf.random.uniform([batch, 1], 0.0, 30.0)
    noisy = tf.cast(tf.random.uniform([batch, 1]) < 0.8, tf.float32)
    white = tf.random.normal(tf.shape(waveforms))
    brown = tf.cumsum(white, axis=1)
    brown -= tf.reduce_mean(brown, axis=1, keepdims=True)
    use_brown = tf.cast(tf.random.uniform([batch, 1]) < 0.5, tf.float32)
    noise = use_brown * brown + (1 - use_brown) * white
    if noise_bank.shape[0]:
        picks = tf.random.uniform([batch], 0, noise_bank.shape[0], tf.int32)
        noise = tf.gather(noise_bank, picks)
    noise_rms = tf.sqrt(tf.reduce_mean(tf.square(noise), axis=1, keepdims=True)) + 1e-9
    noise = noise / noise_rms * rms * tf.pow(10.0, -snr_db / 20) * noisy
    return tf.clip_by_value(waveforms + noise, -1.0, 1.0)
