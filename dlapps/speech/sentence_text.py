"""Open-vocabulary English text for speech-to-text training, made offline.

The sentences a speech recognizer learns from decide what it can transcribe:
trained on a small grammar, a model memorises its sentences instead of
learning to spell what it hears. So the built-in text covers what people
dictate, from packages that ship their data:

- numbers of every size, ordinals, decimals and years (`num2words`);
- dates and times (Babel's CLDR month and weekday names), money and measures;
- names of countries and languages (Babel) and common first names;
- commands and requests to a device;
- general English: sequences over the most frequent English words in the
  `wordfreq` package's lists (its `top_n_list("en", ..., wordlist="small")`), minus a
  blocklist, so no sentence is one the model could have memorised.

A list of held-out words (`held_out_words`) never appears in training text
(`sentences(..., exclude_words=...)` drops any sentence holding one), so a
test split of sentences with those words measures spelling what was heard.

Example:

```python
generator = SentenceGenerator(seed=0)
generator.sentence("numbers")
# 'seven thousand two hundred and twelve'
```
"""

import datetime
import functools
import re
import zlib

import numpy as np

from dlapps.errors import UserError

ALPHABET_PATTERN = re.compile(r"[a-z']+")
VOCABULARY_SIZE = 6000
# Kinds of sentence and how often the training text draws each.
KINDS = {
    "numbers": 0.2,
    "dates": 0.1,
    "money": 0.1,
    "names": 0.1,
    "commands": 0.1,
    "general": 0.4,
}
# Words wordfreq ranks high that a demo should not say.
_BLOCKLIST = {
    "porn", "sex", "sexy", "fuck", "fucking", "fucked", "shit", "bitch", "dick", "ass",
    "damn", "hell", "gay", "nude", "naked", "cock", "pussy", "cum", "xxx", "rape", "slut",
    "whore", "nigga", "fag", "tits", "boobs", "horny", "dildo", "milf", "anal", "lol", "lmao",
    "omg", "wtf", "bullshit", "crap", "piss", "bastard", "asshole", "penis", "vagina",
}  # fmt: skip
_FIRST_NAMES = [
    "anna",
    "david",
    "maria",
    "peter",
    "sarah",
    "james",
    "john",
    "mary",
    "robert",
    "linda",
    "michael",
    "emma",
    "olivia",
    "noah",
    "liam",
    "sophia",
    "lucas",
    "mia",
    "ethan",
    "amelia",
    "oliver",
    "harper",
    "henry",
    "ella",
    "jack",
    "grace",
    "leo",
    "chloe",
    "daniel",
    "laura",
    "thomas",
    "julia",
    "paul",
    "rachel",
    "mark",
    "susan",
    "george",
    "helen",
    "frank",
    "alice",
    "samuel",
    "ruth",
]
_DEVICES = [
    "lights",
    "lamp",
    "radio",
    "music",
    "heating",
    "fan",
    "television",
    "alarm",
    "oven",
    "kettle",
    "door",
    "window",
]
_ROOMS = [
    "kitchen",
    "bedroom",
    "garage",
    "office",
    "hallway",
    "garden",
    "bathroom",
    "living",
    "room",
    "basement",
]
_UNITS = [
    "meters",
    "kilometers",
    "miles",
    "feet",
    "inches",
    "grams",
    "kilograms",
    "pounds",
    "liters",
    "degrees",
    "percent",
    "seconds",
    "minutes",
    "hours",
    "days",
    "weeks",
    "months",
    "years",
]
_CURRENCIES = ("dollars", "euros", "pounds", "yen", "rupees", "francs")
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_COMMANDS = (
    "turn on the {device}",
    "turn off the {room} {device}",
    "set a timer for {small} {unit}",
    "remind me to {word} the {word} at {time}",
    "call {name} at {time}",
    "send a message to {name} saying {general}",
    "play {word} {word} in the {room}",
    "what is the weather in {country} on {weekday}",
    "add {word} and {word} to my shopping list",
    "how far is {country} from {country}",
    "translate {word} into {language}",
    "open the {room} {device}",
    "schedule a meeting with {name} on {date}",
    "navigate to {number} {word} street",
    "search for {general}",
)
_GENERAL_FRAMES = (
    "{w} {w} {w}",
    "the {w} is {w}",
    "i think the {w} {w} {w}",
    "we {w} the {w} and the {w}",
    "{name} said the {w} was {w} {w}",
    "can you {w} the {w} {w}",
    "there is a {w} {w} in {country}",
    "{w} {w} {w} {w} {w}",
    "my {w} {w} {w} {w}",
)


@functools.cache
def vocabulary(size=VOCABULARY_SIZE):
    """The `size` most frequent English words (wordfreq) in the model's alphabet.

    Example:

    >>> vocabulary()[:5]
    ('the', 'to', 'and', 'of', 'a')
    """
    try:
        import wordfreq
    except ImportError:
        raise UserError(
            "built-in speech-to-text text needs the wordfreq package: pip install wordfreq"
        ) from None
    words = []
    for word in wordfreq.top_n_list("en", size * 2, wordlist="small"):
        allowed = ALPHABET_PATTERN.fullmatch(word) and word not in _BLOCKLIST
        if allowed and word.strip("'") and (len(word) > 1 or word in ("a", "i")):
            words.append(word)
        if len(words) == size:
            break
    return tuple(words)


@functools.cache
def _structured_words():
    """Every word the non-general kinds can say: never held out."""
    from num2words import num2words

    words = set(" ".join(_COMMANDS + _GENERAL_FRAMES).replace("{", " ").replace("}", " ").split())
    for name in (*_countries(), *_languages()):
        words.update(name.split())
    for value in (*range(1, 1001), 10**6, 10**9, 1999, 2024, 1.5):
        words.update(_normalize(num2words(value)).split())
        if isinstance(value, int):
            words.update(_normalize(num2words(value, to="ordinal")).split())
    words.update(_FIRST_NAMES + _DEVICES + _ROOMS + _UNITS + list(_CURRENCIES))
    words.update(
        _MONTHS
        + _WEEKDAYS
        + ["am", "pm", "o'clock", "oh", "the", "of", "in", "on", "at", "it", "is", "morning"]
    )
    words.update(
        [
            "evening",
            "meeting",
            "born",
            "costs",
            "and",
            "cents",
            "point",
            "pay",
            "lives",
            "speak",
            "flight",
        ]
    )
    words.update(["to", "from", "flew", "call"])
    return frozenset(words)


@functools.cache
def held_out_words(count=150):
    """Words that training text never holds, for the "new words" test split.

    Chosen by a hash of the word (so the list does not depend on a seed)
    among vocabulary ranks 300-6000, never a word the numbers, dates,
    money, names or command sentences need.

    Example:

    >>> len(held_out_words()), "the" in held_out_words()
    (150, False)
    """
    structured = _structured_words()
    candidates = [
        w for w in vocabulary()[300:] if w not in structured and len(w) >= 4 and "'" not in w
    ]
    candidates.sort(key=lambda w: zlib.crc32(w.encode()))
    return tuple(sorted(candidates[:count]))


@functools.cache
def _countries():
    from babel import Locale

    names = Locale("en").territories
    return tuple(
        _normalize(names[code])
        for code in sorted(names)
        if len(code) == 2
        and code.isalpha()
        and code not in ("XA", "XB", "ZZ", "EU", "UN", "EZ")
        and len(names[code].split()) <= 3
    )


@functools.cache
def _languages():
    from babel import Locale

    languages = Locale("en").languages
    common = "en es fr de it pt ru zh ja ko ar hi nl sv pl tr el he fi da no cs hu ro th vi id"
    return tuple(_normalize(languages[c]) for c in common.split() if c in languages)


def _normalize(text):
    text = re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " "))
    return " ".join(text.split())


class SentenceGenerator:
    """Draws sentences of each kind in `KINDS` with a seeded NumPy generator.

    Args:
        seed: the random seed.
        exclude_words: words no sentence may hold (default: the held-out
            words); `sentence()` draws again until none is present.
    """

    def __init__(self, seed=0, exclude_words=None):
        from num2words import num2words

        self.rng = np.random.default_rng(seed)
        self._num2words = num2words
        self.exclude = frozenset(held_out_words() if exclude_words is None else exclude_words)
        self._words = [w for w in vocabulary() if w not in self.exclude]
        # Zipf weights flattened (rank^-0.5): common words often, rare ones too.
        weights = 1.0 / np.sqrt(np.arange(1, len(self._words) + 1))
        self._weights = weights / weights.sum()

    def sentence(self, kind=None):
        """One normalised sentence of `kind` (default: drawn with `KINDS`' weights)."""
        if kind is None:
            kinds = list(KINDS)
            kind = kinds[self.rng.choice(len(kinds), p=list(KINDS.values()))]
        for _ in range(100):
            text = _normalize(getattr(self, f"_{kind}")())
            if not self.exclude.intersection(text.split()):
                return text
        raise RuntimeError(f"could not draw a {kind} sentence without excluded words")

    def _pick(self, items):
        return items[self.rng.integers(len(items))]

    def _word(self):
        return self._words[self.rng.choice(len(self._words), p=self._weights)]

    def words(self, count):
        """`count` words from the vocabulary, frequent ones more often."""
        return " ".join(self._word() for _ in range(count))

    def number(self):
        """A cardinal number of a random size, spelt out."""
        digits = self.rng.integers(1, 8)
        value = int(self.rng.integers(10 ** (digits - 1) if digits > 1 else 0, 10**digits))
        return self._num2words(value)

    def _small(self):
        return self._num2words(int(self.rng.integers(1, 60)))

    def _time(self):
        hour, minute = (
            int(self.rng.integers(1, 13)),
            int(self.rng.choice([0, 15, 30, 45, *range(60)])),
        )
        if minute == 0:
            spoken = f"{self._num2words(hour)} o'clock"
        elif minute < 10:
            spoken = f"{self._num2words(hour)} oh {self._num2words(minute)}"
        else:
            spoken = f"{self._num2words(hour)} {self._num2words(minute)}"
        return spoken + self._pick(["", " am", " pm", " in the morning", " in the evening"])

    def _date(self):
        date = datetime.date(1900, 1, 1) + datetime.timedelta(days=int(self.rng.integers(0, 60000)))
        day = self._num2words(date.day, to="ordinal")
        month, year = _MONTHS[date.month - 1], self._num2words(date.year, to="year")
        style = self.rng.integers(4)
        if style == 0:
            return f"{_WEEKDAYS[date.weekday()]} {month} {day}"
        if style == 1:
            return f"{month} {day} {year}"
        if style == 2:
            return f"the {day} of {month} {year}"
        return f"{month} {year}"

    def _numbers(self):
        style = self.rng.integers(7)
        if style == 0:
            return self._num2words(int(self.rng.integers(1, 1000)), to="ordinal")
        if style == 1:
            return self._num2words(
                round(float(self.rng.uniform(0, 100)), int(self.rng.integers(1, 3)))
            )
        if style == 2:
            return " ".join(self._num2words(int(d)) for d in self.rng.integers(0, 10, 7))
        if style == 3:
            return self._num2words(int(self.rng.integers(1100, 2100)), to="year")
        if style == 4:
            return f"{self.words(int(self.rng.integers(1, 3)))} {self.number()}"
        return self.number()

    def _dates(self):
        frames = (
            "{date}",
            "on {date}",
            "at {time}",
            "{weekday} at {time}",
            "it is {time}",
            "the meeting is on {date} at {time}",
            "born on {date}",
        )
        return self._pick(frames).format(
            date=self._date(), time=self._time(), weekday=self._pick(_WEEKDAYS)
        )

    def _money(self):
        amount = self.number()
        style = self.rng.integers(5)
        if style == 0:
            return f"{amount} {self._pick(_CURRENCIES)} and {self._small()} cents"
        if style == 1:
            return f"it costs {amount} {self._pick(_CURRENCIES)}"
        if style == 2:
            return f"{amount} {self._pick(_UNITS)}"
        if style == 3:
            digit = self._num2words(int(self.rng.integers(0, 10)))
            return f"{self._small()} point {digit} {self._pick(_UNITS)}"
        return f"pay {self._pick(_FIRST_NAMES)} {amount} {self._pick(_CURRENCIES)}"

    def _names(self):
        frames = (
            "{name} lives in {country}",
            "{name} and {name} speak {language}",
            "{name} {name}",
            "a flight to {country}",
            "{name} flew from {country} to {country}",
            "{country}",
            "call {name}",
        )
        return self._pick(frames).format_map(_Slots(self))

    def _commands(self):
        return self._pick(_COMMANDS).format_map(_Slots(self))

    def _general(self):
        frame = self._pick(_GENERAL_FRAMES)
        if self.rng.random() < 0.4:
            return self.words(int(self.rng.integers(2, 9)))
        return frame.format_map(_Slots(self))


class _Slots(dict):
    """Fills `{slot}` with a fresh random value each time it appears."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def __missing__(self, key):
        g = self.generator
        fill = {
            "w": g._word,
            "word": g._word,
            "name": lambda: g._pick(_FIRST_NAMES),
            "country": lambda: g._pick(_countries()),
            "language": lambda: g._pick(_languages()),
            "device": lambda: g._pick(_DEVICES),
            "room": lambda: g._pick(_ROOMS),
            "unit": lambda: g._pick(_UNITS),
            "small": g._small,
            "time": g._time,
            "date": g._date,
            "weekday": lambda: g._pick(_WEEKDAYS),
            "number": g.number,
            "general": lambda: g.words(int(g.rng.integers(2, 5))),
        }[key]
        return fill()


def training_sentences(count, seed=0):
    """`count` distinct training sentences; none holds a held-out word.

    Example:

    >>> texts = training_sentences(1000)
    >>> len(set(texts)), any(w in held_out_words() for t in texts for w in t.split())
    (1000, False)
    """
    generator = SentenceGenerator(seed)
    texts, seen = [], set()
    while len(texts) < count:
        text = generator.sentence()
        if text and text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def test_sentences(training, count, seed):
    """Held-out sentences for each honest test split.

    Args:
        training: the training sentences (none of them is repeated here).
        count: sentences per split.
        seed: the random seed (use one the training text did not).

    Returns:
        `{"unseen": ..., "new_words": ..., "numbers": ...}`:
        - `unseen`: new sentences of every kind, only with words the
          training text holds (unless the training text is too small to
          find `count` such sentences in `50 * count` draws);
        - `new_words`: general sentences, each with one or two held-out words;
        - `numbers`: number phrases that no training sentence holds.
    """
    seen_sentences = set(training)
    seen_words = {w for t in training for w in t.split()}
    generator = SentenceGenerator(seed)
    splits = {"unseen": [], "new_words": [], "numbers": []}
    held_out = held_out_words()
    attempts = 0
    while min(len(v) for v in splits.values()) < count:
        attempts += 1
        text = generator.sentence()
        new = text not in seen_sentences and text not in splits["unseen"]
        # A tiny training text (a test's dozen sentences) rarely covers a new
        # sentence's words: after many tries, any new sentence will do.
        known = set(text.split()) <= seen_words or attempts > 50 * count
        if len(splits["unseen"]) < count and new and known:
            splits["unseen"].append(text)
        number = _normalize(generator._num2words(int(generator.rng.integers(1000, 10**7))))
        if len(splits["numbers"]) < count and not any(number in t for t in seen_sentences):
            splits["numbers"].append(number)
        if len(splits["new_words"]) < count:
            words = generator.words(int(generator.rng.integers(2, 6))).split()
            for _ in range(int(generator.rng.integers(1, 3))):
                position = int(generator.rng.integers(len(words) + 1))
                words.insert(position, held_out[generator.rng.integers(len(held_out))])
            splits["new_words"].append(" ".join(words))
    return splits
