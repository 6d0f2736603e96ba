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
    from .language_model import END, START, NgramLanguageModel  # in dlapps.speech
except ImportError:  # the edge kit's folder, run as scripts: language_model.py sits beside
    from language_model import END, START, NgramLanguageModel

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
        )

    @classmethod
    def from_texts(cls, texts, labels, order=3, spelling_order=5, **settings):
        """A decoder whose language models are built from `texts` (training transcripts only)."""
        words = NgramLanguageModel.fit(texts, order)
        spelling = NgramLanguageModel.fit(
            [" ".join(w) for w in sorted(words.vocabulary)], spelling_order
        )
        return cls(labels, words, spelling, **settings)

    def word_score(self, history, word):
        """`alpha * log p(word | history) + beta`: what completing `word` adds to a prefix."""
        if self.words is None:
            return 0.0
        key = (history, word)
        score = self._cache.get(key)
        if score is None:
            log_prob = self.words.log_prob(word, history)
            if word != END and word not in self.words.vocabulary and self.spelling is not None:
                log_prob += self.spelling.sentence_log_prob(tuple(word))
            score = self.alpha * log_prob + (self.beta if word != END else 0.0)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = score
        return score

    def spelling_score(self, letters):
        """`alpha * log p(letters...)` of a word's first letters: what a word in progress costs.

        Charging words as they are spelled keeps a prefix in the middle of a
        word from looking cheaper than one that has just paid for a whole
        word; `word_score` replaces the charge when the word is complete.
        """
        if self.words is None or self.spelling is None or not letters:
            return 0.0
        score = self._spelling_cache.get(letters)
        if score is None:
            log_prob = self.spelling.log_prob(letters[-1], (START, *letters[:-1]))
            score = self.spelling_score(letters[:-1]) + self.alpha * log_prob
            if len(self._spelling_cache) > 200_000:
                self._spelling_cache.clear()
            self._spelling_cache[letters] = score
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
        # prefix -> [log p(alignments ending in a blank), ... ending in its last character]
        beams = {"": [0.0, NEGATIVE]}
        # prefix -> (language model score of its completed words, their last words,
        # the charge for the word in progress)
        fused = {"": (0.0, (START,), 0.0)}
        for row in log_probs:
            order = np.argsort(row[1:])[::-1][: self.candidates] + 1
            tried = [int(c) for c in order if row[c] >= self.prune]
            blank = row[0]
            following = {}
            for prefix, (blank_end, char_end) in beams.items():
                total = _add(blank_end, char_end)
                state = following.setdefault(prefix, [NEGATIVE, NEGATIVE])
                state[0] = _add(state[0], total + blank)
                last = prefix[-1] if prefix else None
                for index in tried:
                    character, log_p = self.labels[index], row[index]
                    if character == " " and last in (None, " "):
                        # A space that starts the text or follows one: the text is unchanged.
                        state[1] = _add(state[1], total + log_p)
                        continue
                    if character == last:
                        # A repeat merges unless a blank separates the two.
                        state[1] = _add(state[1], char_end + log_p)
                        source = blank_end
                    else:
                        source = total
                    extended = prefix + character
                    target = following.setdefault(extended, [NEGATIVE, NEGATIVE])
                    target[1] = _add(target[1], source + log_p)
                    if extended not in fused:
                        score, history, _ = fused[prefix]
                        word = extended.rsplit(" ", 1)[-1]
                        if index == space:
                            word = prefix.rsplit(" ", 1)[-1]
                            score += self.word_score(history, word)
                            history = (*history, word)[-history_length:] if history_length else ()
                            word = ""
                        fused[extended] = (score, history, self.spelling_score(word))
            ranked = sorted(
                following.items(),
                key=lambda item: -(_add(*item[1]) + fused[item[0]][0] + fused[item[0]][2]),
            )
            beams = dict(ranked[: self.beam_width])
        best, best_score = "", NEGATIVE
        for prefix, (blank_end, char_end) in beams.items():
            score, history, _ = fused[prefix]
            word = prefix.rsplit(" ", 1)[-1]
            if word:
                score += self.word_score(history, word)
                history = (*history, word)[-history_length:] if history_length else ()
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
        keys = ("alpha", "beta", "beam_width", "prune", "candidates")
        values = {key: settings[key] for key in keys if key in settings}
        return cls(labels, **models, **{**values, **overrides})


def _add(a, b):
    """log(exp(a) + exp(b)) of two Python floats."""
    if a < b:
        a, b = b, a
    if b == NEGATIVE:
        return a
    return a + math.log1p(math.exp(b - a))
