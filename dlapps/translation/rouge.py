"""ROUGE scores, sentence splitting and greedy oracle labels for summarization.

ROUGE is computed by `rouge-score` (Google's re-implementation of
ROUGE-1.5.5) with Porter stemming: ROUGE-1/2 are the F1 of unigram/bigram
overlap with the reference, ROUGE-L the F1 of their longest common
subsequence.

Sentences are split by one rule, written twice: `split_sentences` in
TensorFlow on the documents' bytes (`sentence_splitter`: training data, the
SavedModel and the strings TFLite file) and `split_sentences_python` with
regular expressions (the edge runner): a line break, or `.`/`!`/`?` (and
closing quotes or brackets) before white space, ends a sentence.

Example:

>>> rouge_scores(["the cat sat"], ["the cat sat down"])["rougeL"]
0.857...
>>> oracle_labels(["Rain today.", "Tarvo won 3-1.", "Tickets were cheap."], "Tarvo won 3-1.")
[0, 1, 0]
"""

import collections
import functools
import re

SENTENCE_SEPARATOR = "\x1e"  # ASCII record separator: never in ordinary text
LINE_BREAK = r"[ \t\r\f\v]*\n[ \t\r\n\f\v]*"
SENTENCE_END = r"([.!?][\"'\)\]]*)[ \t\r\n\f\v]+"
WHITE_SPACE = " \t\r\n\f\v"  # what tf.strings.strip removes
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

_scorers = {}


def scorer():
    """The shared `rouge_scorer.RougeScorer` (ROUGE-1/2/L, stemming on)."""
    from rouge_score import rouge_scorer

    if "default" not in _scorers:
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
        # The Porter stemmer is most of ROUGE's time; a word always stems the same.
        scorer._tokenizer._stemmer = _CachedStemmer(scorer._tokenizer._stemmer)
        _scorers["default"] = scorer
    return _scorers["default"]


class _CachedStemmer:
    """A stemmer that remembers its words' stems (news repeats its words)."""

    def __init__(self, stemmer):
        self.stem = functools.lru_cache(maxsize=200_000)(stemmer.stem)


def rouge_scores(hypotheses, references):
    """Mean ROUGE-1/2/L F1 of hypotheses against references (0..1 each)."""
    totals = collections.Counter()
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        scores = scorer().score(reference, hypothesis)
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    count = max(1, len(hypotheses))
    return {name: totals[name] / count for name in ROUGE_TYPES}


def split_sentences_python(document):
    """The sentences of a document (plain Python), as `split_sentences` finds them."""
    text = re.sub(LINE_BREAK, SENTENCE_SEPARATOR, document.strip(WHITE_SPACE))
    text = re.sub(SENTENCE_END, r"\1" + SENTENCE_SEPARATOR, text)
    sentences = (s.strip(WHITE_SPACE) for s in text.split(SENTENCE_SEPARATOR))
    return [s for s in sentences if s]


def split_sentences(documents):
    """tf.string `(batch,)` documents -> tf.string `tf.RaggedTensor` `(batch, None)` sentences."""
    from dlapps.translation import sentence_splitter

    return sentence_splitter.split_sentences(documents)


def _ngrams(tokens, n):
    return collections.Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _f1(candidate, reference):
    overlap = sum((candidate & reference).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(candidate.values()), overlap / sum(reference.values())
    return 2 * precision * recall / (precision + recall)


def oracle_labels(sentences, reference, max_sentences=None):
    """Greedy-ROUGE oracle: which sentences a summary should extract (1) or not (0).

    Adds, one at a time, the sentence that most raises ROUGE-1 F1 + ROUGE-2
    F1 of the selection against the reference, until no sentence raises it
    (Nallapati et al., 2017; Liu and Lapata, 2019). Tokens are the ROUGE
    scorer's own (lower case, stemmed).
    """
    tokenize = scorer()._tokenizer.tokenize
    reference_tokens = tokenize(reference)
    target = (_ngrams(reference_tokens, 1), _ngrams(reference_tokens, 2))
    grams = [(_ngrams(t, 1), _ngrams(t, 2)) for t in map(tokenize, sentences)]
    chosen, best = [], 0.0
    selection = (collections.Counter(), collections.Counter())
    limit = len(sentences) if max_sentences is None else min(max_sentences, len(sentences))
    while len(chosen) < limit:
        candidate, candidate_score = None, best
        for index, (unigrams, bigrams) in enumerate(grams):
            if index in chosen:
                continue
            score = _f1(selection[0] + unigrams, target[0]) + _f1(selection[1] + bigrams, target[1])
            if score > candidate_score:
                candidate, candidate_score = index, score
        if candidate is None:
            break
        chosen.append(candidate)
        best = candidate_score
        selection = (selection[0] + grams[candidate][0], selection[1] + grams[candidate][1])
    return [int(i in chosen) for i in range(len(sentences))]
