"""Parallel sentences for translation: generated numbers and dates, a TSV file, or TFDS.

Every source returns a `ParallelData`: (source, target) string pairs for
train, validation and test, where no test source sentence is in training.

The built-in data needs no download: `num2words` writes numbers out and
Babel's CLDR data formats dates, in many languages:

```python
data = load_parallel_data("numbers", source_lang="en", target_lang="es")
data.train[0][0]  # 'four hundred and two thousand, seven hundred and eighty'
data.train[1][0]  # 'cuatrocientos dos mil setecientos ochenta'
```
"""

import dataclasses
import datetime
from pathlib import Path

import numpy as np

from dlapps.errors import UserError

BUILT_IN = ("synthetic", "numbers", "dates")
# num2words and Babel both write these; `dlapps train translation --help` lists them.
LANGUAGES = ("de", "en", "es", "fr", "it", "nl", "pt")
MAX_NUMBER_DIGITS = 6
FIRST_DATE = datetime.date(1900, 1, 1)
LAST_DATE = datetime.date(2099, 12, 31)


@dataclasses.dataclass
class ParallelData:
    """Sentence pairs split three ways.

    Attributes:
        train, validation, test: `(sources, targets)`, two lists of strings
            of equal length.
        source: where the data came from, for the report.
        source_lang, target_lang: language codes (or column names).
        kinds: for the built-in data, "numbers" or "dates" per test pair, so
            that each kind is scored on its own.
        skipped: lines a file loader could not use, by reason, for the report.
    """

    train: tuple
    validation: tuple
    test: tuple
    source: str
    source_lang: str = ""
    target_lang: str = ""
    kinds: list = dataclasses.field(default_factory=list)
    skipped: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        """Split sizes and languages, for the report."""
        summary = {
            "source": self.source,
            "languages": f"{self.source_lang}->{self.target_lang}",
            "train": len(self.train[0]),
            "validation": len(self.validation[0]),
            "test": len(self.test[0]),
        }
        if self.skipped:
            summary["skipped"] = dict(self.skipped)
        return summary


def load_parallel_data(
    name,
    source_lang="en",
    target_lang="es",
    seed=0,
    train_size=24000,
    validation_size=500,
    test_size=1000,
    tfds_data_dir=None,
):
    """Loads sentence pairs from a built-in generator, a TSV file or TFDS.

    Args:
        name: "synthetic" (numbers and dates, two to one), "numbers",
            "dates", a TSV file (`source<TAB>target[<TAB>...]`, UTF-8, as
            Anki/Tatoeba exports are), or "tfds:NAME" with a translation
            dataset such as "tfds:ted_hrlr_translate/pt_to_en".
        source_lang, target_lang: for the built-in data, any two of
            `LANGUAGES`. Ignored for files and TFDS, whose order is kept.
        seed: seeds the generated numbers and dates and file splits.
        train_size, validation_size, test_size: pairs per split for the
            built-in data (the validation and test sizes are also used to
            split a file).

    Raises:
        UserError: an unknown name or language, a missing or malformed file.
    """
    if name in BUILT_IN:
        return _generate(
            name, source_lang, target_lang, seed, train_size, validation_size, test_size
        )
    if name.startswith("tfds:"):
        return _load_tfds(name[len("tfds:") :], tfds_data_dir)
    path = Path(name)
    if path.is_file():
        return load_tsv(path, seed, validation_size, test_size)
    raise UserError(
        f"unknown translation data {name!r}: use one of {', '.join(BUILT_IN)}, "
        "a TSV file of sentence pairs, or tfds:NAME"
    )


def sample_numbers(count, rng, exclude=()):
    """`count` distinct numbers below 10**6 whose digit counts are equally common.

    Uniform sampling over 0..999999 would make numbers below 10,000 one
    percent of the data, and a model trained on it never learns them; here
    each length from 1 to 6 digits is drawn as often, and duplicates are
    drawn again.
    """
    chosen, excluded = [], set(exclude)
    capacity = 10**MAX_NUMBER_DIGITS - len(excluded)
    if count > capacity:
        raise UserError(f"asked for {count} distinct numbers, but only {capacity} are left")
    while len(chosen) < count:
        digits = rng.integers(1, MAX_NUMBER_DIGITS + 1, size=count)
        low = np.where(digits == 1, 0, 10 ** (digits - 1))
        for number in rng.integers(low, 10**digits):
            if number not in excluded:
                excluded.add(int(number))
                chosen.append(int(number))
                if len(chosen) == count:
                    break
    return chosen


def sample_dates(count, rng, exclude=()):
    """`count` distinct dates between 1900 and 2099, uniformly."""
    span = (LAST_DATE - FIRST_DATE).days + 1
    chosen, excluded = [], set(exclude)
    while len(chosen) < count:
        for offset in rng.integers(0, span, size=count):
            date = FIRST_DATE + datetime.timedelta(days=int(offset))
            if date not in excluded:
                excluded.add(date)
                chosen.append(date)
                if len(chosen) == count:
                    break
    return chosen


def number_sentence(number, lang):
    """The number written out in `lang`, e.g. (21, "es") -> "veintiuno"."""
    from num2words import num2words

    return num2words(number, lang=lang)


def date_sentence(date, lang):
    """The date in CLDR's full format, e.g. "Monday, January 1, 2024" for "en"."""
    from babel.dates import format_date

    return format_date(date, format="full", locale=lang)


def _generate(name, source_lang, target_lang, seed, train_size, validation_size, test_size):
    for lang in (source_lang, target_lang):
        if lang not in LANGUAGES:
            raise UserError(
                f"unknown language {lang!r} for the built-in data: "
                f"choose from {', '.join(LANGUAGES)}"
            )
    if source_lang == target_lang:
        raise UserError(f"source and target language are both {source_lang!r}: choose two")
    sizes = {"test": test_size, "validation": validation_size, "train": train_size}
    shares = {"numbers": {"numbers": 1.0}, "dates": {"dates": 1.0}}.get(
        name, {"numbers": 2 / 3, "dates": 1 / 3}
    )
    rng = np.random.default_rng(seed)
    splits = {split: ([], [], []) for split in sizes}
    for kind, share in shares.items():
        sample = sample_numbers if kind == "numbers" else sample_dates
        write = number_sentence if kind == "numbers" else date_sentence
        counts = {
            split: (int(round(size * share)) if share < 1 else size)
            for split, size in sizes.items()
        }
        # 0..9 always train: "zero" occurs in no other number, so a model
        # that never saw it could not translate it.
        always_train = list(range(10)) if kind == "numbers" else []
        # One pool of distinct values, split at random: every split has the
        # same mix of lengths, and no test or validation value is trained on.
        pool = sample(sum(counts.values()) - len(always_train), rng, exclude=always_train)
        pool = [pool[i] for i in rng.permutation(len(pool))]
        start = 0
        for split, count in counts.items():
            extra = always_train[:count] if split == "train" else []
            values = extra + pool[start : start + count - len(extra)]
            start += count - len(extra)
            sources, targets, kinds = splits[split]
            sources += [write(v, source_lang) for v in values]
            targets += [write(v, target_lang) for v in values]
            kinds += [kind] * count
    if name == "synthetic":  # interleave the kinds
        for split, (sources, targets, kinds) in splits.items():
            order = rng.permutation(len(sources))
            splits[split] = tuple(
                [column[i] for i in order] for column in (sources, targets, kinds)
            )
    return ParallelData(
        train=splits["train"][:2],
        validation=splits["validation"][:2],
        test=splits["test"][:2],
        source=f"{name} (num2words {_version('num2words')}, Babel {_version('babel')})",
        source_lang=source_lang,
        target_lang=target_lang,
        kinds=splits["test"][2],
    )


def load_tsv(path, seed=0, validation_size=500, test_size=1000):
    """Sentence pairs from a UTF-8 TSV file: `source<TAB>target[<TAB>anything]` per line.

    Blank lines are skipped; a line without a tab or with an empty side is
    an error naming its line number. Repeated source sentences are kept
    together in one split, so no test source is seen in training.

    Raises:
        UserError: the file is not UTF-8, has a malformed line or too few
            pairs to split.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path} is not UTF-8 text (byte {error.start}): save it as UTF-8"
        ) from None
    pairs, blank = [], 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            blank += 1
            continue
        columns = line.split("\t")
        if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
            raise UserError(
                f"{path}, line {number}: expected 'source<TAB>target', got {line[:60]!r}"
            )
        pairs.append((columns[0].strip(), columns[1].strip()))
    held_out = validation_size + test_size
    unique_sources = sorted({source for source, _ in pairs})
    if len(unique_sources) < 3:
        raise UserError(f"{path} has {len(unique_sources)} distinct sentences: use at least 3")
    if held_out >= len(unique_sources):  # a small file: hold out a fifth
        validation_size = test_size = max(1, len(unique_sources) // 10)
    order = np.random.default_rng(seed).permutation(len(unique_sources))
    split_of = {}
    for rank, index in enumerate(order):
        split_of[unique_sources[index]] = (
            "test"
            if rank < test_size
            else "validation"
            if rank < test_size + validation_size
            else "train"
        )
    splits = {"train": ([], []), "validation": ([], []), "test": ([], [])}
    for source, target in pairs:
        sources, targets = splits[split_of[source]]
        sources.append(source)
        targets.append(target)
    return ParallelData(
        **splits,
        source=f"tsv:{path}",
        source_lang="column 1",
        target_lang="column 2",
        skipped={"blank_lines": blank} if blank else {},
    )


def _load_tfds(name, data_dir):
    from dlapps.datasets import load_tfds_splits

    (train, validation, test), info = load_tfds_splits(
        name, ["train", "validation", "test"], data_dir=data_dir
    )
    source_lang, target_lang = info.supervised_keys

    def pairs(dataset):
        sources, targets = [], []
        for source, target in dataset.as_numpy_iterator():
            sources.append(source.decode("utf-8"))
            targets.append(target.decode("utf-8"))
        return sources, targets

    return ParallelData(
        train=pairs(train),
        validation=pairs(validation),
        test=pairs(test),
        source=f"tfds:{name}",
        source_lang=source_lang,
        target_lang=target_lang,
    )


def _version(package):
    from importlib.metadata import version

    return version(package)
