"""A word (or character) n-gram language model with interpolated Kneser-Ney smoothing.

Built from training text, saved as an ARPA file (the plain-text format
that SRILM, KenLM and most speech decoders read), and queried for
`log p(word | previous words)`. The speech-to-text decoder
(`ctc_decoder.CTCDecoder`) adds it to the acoustic score of each word a beam
completes ("shallow fusion"); the same class over the letters of words
spells the words the word model has never seen.

This module needs only Python's standard library: the edge runner
(`export/edge/transcribe.py`) imports it as it is, without TensorFlow,
numpy or dlapps.

Example:

>>> model = NgramLanguageModel.fit(["turn the light on", "turn the light off"], order=3)
>>> model.log_prob("light", ("turn", "the")) > model.log_prob("on", ("turn", "the"))
True
>>> copy = NgramLanguageModel.from_arpa(model.to_arpa())
>>> abs(copy.log_prob("on", ("the", "light")) - model.log_prob("on", ("the", "light"))) < 1e-4
True
"""

import collections
import math

START, END, UNKNOWN = "<s>", "</s>", "<unk>"
LOG10 = math.log(10.0)


class NgramLanguageModel:
    """Interpolated Kneser-Ney n-gram model, stored in ARPA backoff form.

    `log_prob(word, history)` is the natural log of the probability of
    `word` after the words of `history` (a tuple, oldest first; `"<s>"` for
    the start of a sentence is added by `sentence_log_prob`, not needed by
    callers that pass a history starting with it). Words outside the
    vocabulary score as `<unk>`, whose probability is the Good-Turing
    estimate of meeting a new word (words seen once / all words).

    Args:
        entries: `{ngram tuple: (log10 prob, log10 backoff)}`, as in an ARPA file.
        order: the longest n-gram.
    """

    def __init__(self, entries, order):
        self.order = order
        self.entries = entries
        self.vocabulary = {g[0] for g in entries if len(g) == 1} - {START, END, UNKNOWN}

    @classmethod
    def fit(cls, sentences, order=3):
        """Counts n-grams of whitespace-separated tokens and smooths them (interpolated Kneser-Ney).

        Args:
            sentences: iterable of strings, tokens separated by spaces.
            order: the longest n-gram (3: trigram).

        Returns:
            An `NgramLanguageModel`.
        """
        if order < 1:
            raise ValueError(f"order {order} is too small: use at least 1")
        padded = [(START, *s.split(), END) for s in sentences if s.split()]
        if not padded:
            raise ValueError("no text to build a language model from")
        # Raw counts of the longest n-grams; lower orders count how many different
        # words precede an n-gram (Kneser-Ney continuation counts), except those
        # that start with <s>, which nothing can precede.
        counts = [collections.Counter() for _ in range(order + 1)]
        for tokens in padded:
            for n in range(1, order + 1):
                for i in range(len(tokens) - n + 1):
                    counts[n][tokens[i : i + n]] += 1
        adjusted = [None] * (order + 1)
        adjusted[order] = counts[order]
        for n in range(order - 1, 0, -1):
            left = collections.Counter(g[1:] for g in counts[n + 1])
            adjusted[n] = collections.Counter(
                {g: (c if g[0] == START else left.get(g, 0)) for g, c in counts[n].items()}
            )
            adjusted[n] = collections.Counter({g: c for g, c in adjusted[n].items() if c > 0})
        adjusted[1].pop((START,), None)
        tokens_seen = sum(len(t) - 1 for t in padded)  # every token after <s>, </s> included
        singletons = sum(1 for c in counts[1].values() if c == 1)
        unknown = min(max(singletons / tokens_seen, 1e-6), 0.5)

        probabilities, backoffs = {}, {}
        vocabulary_size = len(adjusted[1])
        for n in range(1, order + 1):
            table = adjusted[n]
            discount = _discount(table.values())
            totals, types = collections.Counter(), collections.Counter()
            for g, c in table.items():
                totals[g[:-1]] += c
                types[g[:-1]] += 1
            for context in totals:
                backoffs[context] = discount * types[context] / totals[context]
            for g, c in table.items():
                # Lower orders are complete before higher ones use them.
                lower = (1.0 - unknown) / vocabulary_size if n == 1 else probabilities[g[1:]]
                scale = (1.0 - unknown) if n == 1 else 1.0
                probabilities[g] = (
                    scale * max(c - discount, 0.0) / totals[g[:-1]] + backoffs[g[:-1]] * lower
                )
        probabilities[(UNKNOWN,)] = unknown
        entries = {}
        for g, p in probabilities.items():
            backoff = backoffs.get(g)
            entries[g] = (math.log10(p), math.log10(backoff) if backoff else 0.0)
        entries[(START,)] = (-99.0, math.log10(backoffs[(START,)]) if order > 1 else 0.0)
        return cls(entries, order)

    def log_prob(self, word, history=()):
        """Natural log of p(word | history); `history` is a tuple of earlier tokens."""
        entries = self.entries
        if (word,) not in entries:
            word = UNKNOWN
        # A context holding an unknown word is in no table: it backs off like <unk>.
        history = tuple(history)[max(0, len(history) - self.order + 1) :] if self.order > 1 else ()
        total = 0.0
        for start in range(len(history) + 1):
            context = history[start:]
            entry = entries.get((*context, word))
            if entry is not None:
                return (total + entry[0]) * LOG10
            known = entries.get(context)
            if known is not None:
                total += known[1]
        raise AssertionError("unreachable: every word has a unigram")  # pragma: no cover

    def sentence_log_prob(self, tokens):
        """Natural log of a whole sentence's probability, `</s>` included."""
        history, total = (START,), 0.0
        for token in (*tokens, END):
            total += self.log_prob(token, history)
            history = (*history, token)
        return total

    def to_arpa(self):
        """The model as ARPA text (log10 probabilities and backoff weights)."""
        by_order = collections.defaultdict(list)
        for g, entry in self.entries.items():
            by_order[len(g)].append((g, entry))
        lines = ["\\data\\"]
        lines += [f"ngram {n}={len(by_order[n])}" for n in range(1, self.order + 1)]
        for n in range(1, self.order + 1):
            lines += ["", f"\\{n}-grams:"]
            for g, (prob, backoff) in sorted(by_order[n]):
                row = f"{prob:.6f}\t{' '.join(g)}"
                lines.append(row + (f"\t{backoff:.6f}" if n < self.order else ""))
        return "\n".join([*lines, "", "\\end\\", ""])

    @classmethod
    def from_arpa(cls, text):
        """Reads ARPA text (as written by `to_arpa`, SRILM or KenLM)."""
        entries, order, section = {}, 0, None
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("ngram ") or line in ("\\data\\", "\\end\\"):
                continue
            if line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:].split("-")[0])
                order = max(order, section)
                continue
            if section is None:
                continue  # text before \data\ (comments) is ignored
            fields = line.split()
            try:
                prob = float(fields[0])
                words = tuple(fields[1 : 1 + section])
                backoff = float(fields[1 + section]) if len(fields) > 1 + section else 0.0
            except (ValueError, IndexError):
                raise ValueError(
                    f"line {number} of the ARPA file is not an n-gram: {line!r}"
                ) from None
            if len(words) != section:
                raise ValueError(f"line {number} of the ARPA file is not an n-gram: {line!r}")
            entries[words] = (prob, backoff)
        if not order or not any(len(g) == 1 for g in entries):
            raise ValueError("not an ARPA language model: no \\1-grams: section")
        if (UNKNOWN,) not in entries:
            entries[(UNKNOWN,)] = (-7.0, 0.0)  # a model built without <unk>: rare new words
        return cls(entries, order)


def _discount(counts):
    """Kneser-Ney's absolute discount D = n1 / (n1 + 2 n2) of one order's counts."""
    histogram = collections.Counter(c for c in counts if c <= 2)
    n1, n2 = histogram[1], histogram[2]
    if n1 == 0 or n2 == 0:
        return 0.5
    return min(max(n1 / (n1 + 2 * n2), 0.1), 0.9)
