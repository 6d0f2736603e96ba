"""CTC prefix beam search with a word n-gram language model (shallow fusion).

The recognizer's logits say, frame by frame, how likely each character
is; a language model says how likely each word is after the words before
it. Prefix beam search (Hannun et al. 2014, "First-pass large vocabulary
continuous speech recognition using bi-directional recurrent DNNs") keeps
the `beam_width` best transcript prefixes; each carries the log
probability of all the alignments that end in a blank and of those that
end in its last character, so the repeats that CTC merges are counted
once. When a prefix completes a word (at a space, and at the end of the
clip) it gains

    alpha * log p_lm(word | previous words) + beta

where alpha weighs the language model against the acoustics and beta, a
bonus per word, keeps the language model's cost per word from favouring
short transcripts. A word the word model has never seen is not forbidden:
it scores as the model's `<unk>` times the probability of its spelling
under a character n-gram model of the training words, so a new name costs
more than a known word but can still win when the audio says it clearly.

Without a language model (`words=None`) this is plain CTC prefix beam
search. This module needs only numpy and `language_model.py` beside it:
the edge runner (`export/edge/transcribe.py`) imports both as they are.

Example:

>>> import numpy as np
>>> labels = ["<blank>", " ", "'", *"abcdefghijklmnopqrstuvwxyz"]
>>> logits = np.full((3, len(labels)), -5.0)
>>> logits[[0, 1, 2], [labels.index("h"), labels.index("i"), 0]] = 5.0
>>> CTCDecoder(labels).decode(logits[None])
['hi']
"""

import json
import math
from pathlib import Path

import numpy as np

try:
    from .language_model import END, START, UNKNOWN, NgramLanguageModel  # in dlapps.speech
except ImportError:  # the edge kit's folder, run as scripts: language_model.py sits beside
    from language_model import END, START, UNKNOWN, NgramLanguageModel

SETTINGS_FILE = "decoder.json"
WORDS_FILE = "words.arpa"
SPELLING_FILE = "spelling.arpa"
NEGATIVE = -math.inf


class CTCDecoder:
    """Decodes CTC logits to text by prefix beam search, optionally with a word language model.

    Args:
        labels: class names; class 0 is the CTC blank, one class is `" "`.
        words: an `NgramLanguageModel` over words, or None for no language model.
        spelling: an `NgramLanguageModel` over the letters of words (tokens
            are characters), scoring words `words` does not know; None
            gives them `<unk>`'s probability alone.
        alpha: language model weight (0: acoustics only).
        beta: bonus per word, in nats.
        beam_width: prefixes kept after each frame.
        prune: characters whose log probability in a frame is below this
            are not tried in that frame (the blank always is).
        candidates: at most this many characters tried per frame.
        threshold: prefixes scoring this far (nats) below the best are dropped.
    """

    def __init__(
        self,
        labels,
        words=None,
        spelling=None,
        alpha=0.0,
        beta=0.0,
        beam_width=32,
        prune=-10.0,
        candidates=8,
        threshold=25.0,
    ):
        labels = list(labels)
        if " " not in labels:
            raise ValueError("the labels have no space (' '): not a character CTC model")
        self.labels = labels
        self.words = words
        self.spelling = spelling
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.beam_width = int(beam_width)
        self.prune = float(prune)
        self.candidates = int(candidates)
        self.threshold = float(threshold)
        self._cache, self._spelling_cache = {}, {}

    def with_weights(self, alpha, beta):
        """The same decoder (and language models) with other weights."""
        return CTCDecoder(
            self.labels,
            self.words,
            self.spelling,
            alpha,
            beta,
            self.beam_width,
            self.prune,
            self.candidates,
            self.threshold,
        )

    @classmethod
    def from_texts(cls, texts, labels, order=3, spelling_order=5, **settings):
        """A decoder whose language models are built from `texts` (training transcripts only)."""
        words = NgramLanguageModel.fit(texts, order)
        spelling = NgramLanguageModel.fit(
            [" ".join(w) for w in sorted(words.vocabulary)], spelling_order
        )
        return cls(labels, words, spelling, **settings)

    def word_score(self, history, word, spelled=None):
        """`alpha * log p(word | history) + beta`: what completing `word` adds to a prefix.

        A word outside the vocabulary scores as `<unk>` plus its spelling;
        `spelled` is what its letters were charged already (`spelling_score`
        summed), computed here when not given.
        """
        if self.words is None:
            return 0.0
        known = word == END or word in self.words.vocabulary
        key = (history, word if known else UNKNOWN)
        score = self._cache.get(key)
        if score is None:
            score = self.alpha * self.words.log_prob(key[1], history)
            score += self.beta if word != END else 0.0
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = score
        if not known and self.spelling is not None:
            if spelled is None:
                spelled = sum(self.spelling_score(word[:i], word[i]) for i in range(len(word)))
            score += spelled + self.spelling_score(word, END)
        return score

    def spelling_score(self, word, letter):
        """`alpha * log p(letter | word so far)` by the spelling model: a word in progress's cost.

        Charging words as they are spelled keeps a prefix in the middle of a
        word from looking cheaper than one that has just paid for a whole
        word; `word_score` replaces the charges when the word is complete.
        """
        if self.words is None or self.spelling is None or self.alpha == 0.0:
            return 0.0
        context = (START, *word)[-(self.spelling.order - 1) :] if self.spelling.order > 1 else ()
        key = (context, letter)
        score = self._spelling_cache.get(key)
        if score is None:
            score = self.alpha * self.spelling.log_prob(letter, context)
            self._spelling_cache[key] = score
        return score

    def decode(self, logits):
        """Logits `(batch, frames, classes)` -> one transcript per row (a list of strings)."""
        logits = np.asarray(logits, np.float64)
        if logits.ndim != 3 or logits.shape[-1] != len(self.labels):
            raise ValueError(
                f"logits of shape {logits.shape} do not fit {len(self.labels)} labels: "
                "expected (batch, frames, classes)"
            )
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return [self._search(row) for row in log_probs]

    def _search(self, log_probs):
        space = self.labels.index(" ")
        history_length = self.words.order - 1 if self.words is not None else 0

        def completed(history, word):
            return (*history, word)[-history_length:] if history_length else ()

        # prefix -> [log p(alignments ending in a blank), ... ending in its last character]
        beams = {"": [0.0, NEGATIVE]}
        # prefix -> (language model score of its completed words, their last words,
        # the word in progress, the score of the prefix with that word's charge)
        fused = {"": (0.0, (START,), "", 0.0)}
        for row in log_probs:
            order = np.argsort(row[1:])[::-1][: self.candidates] + 1
            tried = [(int(c), self.labels[c], float(row[c])) for c in order if row[c] >= self.prune]
            blank = float(row[0])
            following, extensions = {}, []
            for prefix, (blank_end, char_end) in beams.items():
                total = _add(blank_end, char_end)
                state = following.get(prefix)
                if state is None:
                    state = following[prefix] = [NEGATIVE, NEGATIVE]
                state[0] = _add(state[0], total + blank)
                last = prefix[-1:]
                charged = fused[prefix][3]
                for index, character, log_p in tried:
                    if character == " " and last in ("", " "):
                        # A space that starts the text or follows one: the text is unchanged.
                        state[1] = _add(state[1], total + log_p)
                    elif character == last:
                        # A repeat merges unless a blank separates the two.
                        state[1] = _add(state[1], char_end + log_p)
                        if blank_end > NEGATIVE:
                            log_p += blank_end
                            extensions.append((log_p + charged, prefix, index, log_p))
                    else:
                        log_p += total
                        extensions.append((log_p + charged, prefix, index, log_p))
            if len(extensions) > 2 * self.beam_width:
                # Only the likeliest new prefixes are scored (the rest are unlikely to stay).
                extensions.sort(reverse=True)
                extensions = extensions[: 2 * self.beam_width]
            for _, prefix, index, log_p in extensions:
                character = self.labels[index]
                extended = prefix + character
                target = following.get(extended)
                if target is None:
                    following[extended] = [NEGATIVE, log_p]
                else:
                    target[1] = _add(target[1], log_p)
                if extended not in fused:
                    score, history, word, charged = fused[prefix]
                    if index == space:
                        score += self.word_score(history, word, charged - score)
                        fused[extended] = (score, completed(history, word), "", score)
                    else:
                        charged += self.spelling_score(word, character)
                        fused[extended] = (score, history, word + character, charged)
            scored = [
                (_add(*state) + fused[prefix][3], prefix) for prefix, state in following.items()
            ]
            scored.sort(reverse=True)
            floor = scored[0][0] - self.threshold
            beams = {
                prefix: following[prefix]
                for score, prefix in scored[: self.beam_width]
                if score >= floor
            }
        best, best_score = "", NEGATIVE
        for prefix, (blank_end, char_end) in beams.items():
            score, history, word, charged = fused[prefix]
            if word:
                score += self.word_score(history, word, charged - score)
                history = completed(history, word)
            score += self.word_score(history, END)
            total = _add(blank_end, char_end) + score
            if total > best_score:
                best, best_score = prefix, total
        return " ".join(best.split())

    def save(self, directory):
        """Writes `decoder.json`, `words.arpa` and `spelling.arpa` into `directory`."""
        directory = Path(directory)
        for name, text in self.files().items():
            (directory / name).write_text(text, encoding="utf-8")

    def files(self, **facts):
        """`{file name: text}` of the decoder's settings (plus `facts`) and language models."""
        settings = {
            "alpha": self.alpha,
            "beta": self.beta,
            "beam_width": self.beam_width,
            "prune": self.prune,
            "candidates": self.candidates,
            "threshold": self.threshold,
            "words": WORDS_FILE if self.words is not None else None,
            "spelling": SPELLING_FILE if self.spelling is not None else None,
            "note": "CTC prefix beam search with a word n-gram language model (shallow "
            "fusion): a word completed after history h adds alpha * ln p(word | h) + beta; "
            "words outside the vocabulary score as <unk> times their spelling's probability "
            "under the character model. Both models are built from training text only.",
            **facts,
        }
        files = {SETTINGS_FILE: json.dumps(settings, indent=1) + "\n"}
        if self.words is not None:
            files[WORDS_FILE] = self.words.to_arpa()
        if self.spelling is not None:
            files[SPELLING_FILE] = self.spelling.to_arpa()
        return files

    @classmethod
    def load(cls, directory, labels, **overrides):
        """The decoder saved in `directory` (see `save`); `overrides` replace its settings."""
        directory = Path(directory)
        try:
            settings = json.loads((directory / SETTINGS_FILE).read_text(encoding="utf-8"))
            models = {
                key: NgramLanguageModel.from_arpa(
                    (directory / settings[key]).read_text(encoding="utf-8")
                )
                if settings.get(key)
                else None
                for key in ("words", "spelling")
            }
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"could not read the language model in {directory}: {error}") from None
        keys = ("alpha", "beta", "beam_width", "prune", "candidates", "threshold")
        values = {key: settings[key] for key in keys if key in settings}
        return cls(labels, **models, **{**values, **overrides})


def _add(a, b):
    """log(exp(a) + exp(b)) of two Python floats."""
    if a < b:
        a, b = b, a
    if b == NEGATIVE:
        return a
    return a + math.log1p(math.exp(b - a))
