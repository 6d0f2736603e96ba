"""A lossless subword tokenizer that runs in TensorFlow, in TFLite and in plain Python.

Each sentence is cut into *units*: a word with the white space before it
(" mil"), or one punctuation mark (","). Two vocabularies are built from the
training sentences:

- `build_vocabulary` ("units"): the units seen in training (the first unit
  of a sentence as is, later ones as "##" pieces, WordPiece's continuation
  marker), most frequent first, and every character seen, as a fallback
  for unseen words. Best for a closed vocabulary such as numbers and dates,
  where every word is seen in training.
- `learn_wordpiece_vocabulary` ("wordpiece"): subwords learned from the
  units by tensorflow-text's WordPiece vocabulary learner (the algorithm of
  `bert_vocab_from_dataset`), so that a word never seen in training is cut
  into a few frequent pieces (" trans", "##lat", "##ed") instead of one
  token per character. For real text with an open vocabulary.

Both vocabularies hold every character seen. Tokenizing is WordPiece's
greedy longest match over the whole sentence (tensorflow-text's `FastWordpieceTokenizer` with
`no_pretokenization=True`), so detokenizing is exact concatenation: spaces
and punctuation come back as they were ("lunes, 1 de enero"), with no
joining rules to get wrong.

The same vocabulary and algorithm run in three places: `tokenize` and
`detokenize` here (in a SavedModel's graph), tensorflow-text's TFLite custom
ops, and `export/edge/translate.py` in plain Python on a device.

Example:

```python
tokenizer = SubwordTokenizer.build(["veintiuno", "ciento veintiuno mil"])
ids = tokenizer.tokenize(["veintiuno mil"])  # int32 ragged, no [START]/[END]
tokenizer.detokenize(ids)  # [b'veintiuno mil']
```
"""

import collections
import re

import tensorflow as tf

PAD, UNKNOWN, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
RESERVED = (PAD, UNKNOWN, START, END)
PAD_ID, UNKNOWN_ID, START_ID, END_ID = range(4)
CONTINUATION = "##"
# A word with the white space before it, or one other character.
UNIT = re.compile(r"\s*[^\W_]+|\s*[\W_]")
# Bytes the tokenizer considers at once: here the whole sentence.
MAX_BYTES = 2000
VOCABULARIES = ("units", "wordpiece")
# Characters a learned vocabulary always holds, seen in training or not: an
# unknown character makes the whole sentence [UNK] (the tokenizer matches
# the whole sentence), and a user's sentence may hold a letter that no
# training sentence had. Printable ASCII and Latin-1 cover English and
# Western European text.
COMMON_CHARACTERS = "".join(chr(c) for c in (*range(0x20, 0x7F), *range(0xA1, 0x100)))


def split_units(sentence):
    """The units of a sentence; `"".join(split_units(s)) == s`."""
    return UNIT.findall(sentence)


def build_vocabulary(sentences, max_size=8000, min_count=1):
    """Vocabulary of `sentences`: reserved tokens, every character, then frequent units.

    Characters (as first and as "##" pieces) always fit, so anything made of
    seen characters tokenizes; units fill the rest by frequency.

    Returns:
        A list of tokens; id i is the token at index i.
    """
    units, characters = collections.Counter(), set()
    for sentence in sentences:
        for index, unit in enumerate(split_units(sentence)):
            units[unit if index == 0 else CONTINUATION + unit] += 1
        for character in sentence:
            characters.update((character, CONTINUATION + character))
    vocabulary = [*RESERVED, *sorted(characters)]
    known = set(vocabulary)
    for unit, count in sorted(units.items(), key=lambda item: (-item[1], item[0])):
        if len(vocabulary) >= max_size or count < min_count:
            break
        if unit not in known:
            vocabulary.append(unit)
            known.add(unit)
    return vocabulary


def learn_wordpiece_vocabulary(sentences, max_size=8000, min_count=3, max_passes=6):
    """Vocabulary of `sentences` with subwords learned by tensorflow-text's WordPiece learner.

    The learner (`tensorflow_text.tools.wordpiece_vocab`, which
    `bert_vocab_from_dataset` runs) reads every unit as a word, without the
    space before it, and keeps the pieces that cover at least a threshold
    of their words' occurrences; the threshold is searched (at most
    `max_passes` passes of the learner) for the largest vocabulary within
    `max_size`. A word-start piece ("trans") is kept in three forms: as a
    sentence's first token, as a "##" piece (after punctuation, "¿qué") and
    with the space before it ("## trans"), since in this tokenizer only the
    sentence's first token has no "##". Concatenating the pieces still gives
    the sentence back exactly.

    Returns:
        A list of tokens, starting with `RESERVED`, then every character
        (those seen and `COMMON_CHARACTERS`).
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    words, characters = collections.Counter(), set(COMMON_CHARACTERS)
    for sentence in sentences:
        words.update(unit.lstrip() for unit in split_units(sentence))
        characters.update(sentence)
    params = learner.Params(
        upper_thresh=10**7,
        lower_thresh=min_count,
        num_iterations=4,
        max_input_tokens=5_000_000,
        max_token_length=50,
        max_unique_chars=10_000,
        vocab_size=max_size,
        slack_ratio=0.05,
        include_joiner_token=True,
        joiner=CONTINUATION,
        reserved_tokens=[],
    )
    base = [*RESERVED, *sorted(characters), *(CONTINUATION + c for c in sorted(characters))]

    def vocabulary_at(threshold):
        vocabulary, known = list(base), set(base)
        for piece in learner.learn_with_thresh(words.items(), threshold, params):
            if piece.startswith(CONTINUATION):
                forms = [piece]
            else:  # starts a sentence, follows punctuation ("¿qué") or a space
                forms = [piece, CONTINUATION + piece, CONTINUATION + " " + piece]
            for form in forms:
                if form not in known:
                    vocabulary.append(form)
                    known.add(form)
        return vocabulary

    # Larger thresholds give smaller vocabularies: find the smallest that fits.
    low, high = min_count, max(min_count, max(words.values(), default=min_count))
    best = vocabulary_at(high)
    for _ in range(max_passes):
        if low >= high:
            break
        middle = int(round((low * high) ** 0.5))  # counts are spread geometrically
        middle = min(max(middle, low), high - 1)
        vocabulary = vocabulary_at(middle)
        if len(vocabulary) <= max_size:
            best, high = vocabulary, middle
        else:
            low = middle + 1
    return best[:max_size] if len(best) > max_size else best


class SubwordTokenizer:
    """Strings <-> token ids with a `build_vocabulary` vocabulary, in the TF graph.

    Args:
        vocabulary: list of tokens, starting with `RESERVED`.
    """

    def __init__(self, vocabulary):
        import tensorflow_text as tf_text

        if tuple(vocabulary[: len(RESERVED)]) != RESERVED:
            raise ValueError(f"a vocabulary starts with {', '.join(RESERVED)}")
        self.vocabulary = list(vocabulary)
        self._tokenizer = tf_text.FastWordpieceTokenizer(
            self.vocabulary,
            suffix_indicator=CONTINUATION,
            max_bytes_per_word=MAX_BYTES,
            token_out_type=tf.int32,
            unknown_token=UNKNOWN,
            no_pretokenization=True,
            support_detokenization=True,
        )

    @classmethod
    def build(cls, sentences, max_size=8000, vocabulary="units"):
        """A tokenizer whose vocabulary is built from `sentences`.

        Args:
            vocabulary: "units" (`build_vocabulary`) or "wordpiece"
                (`learn_wordpiece_vocabulary`).
        """
        if vocabulary not in VOCABULARIES:
            raise ValueError(
                f"unknown vocabulary {vocabulary!r}: choose one of {', '.join(VOCABULARIES)}"
            )
        if vocabulary == "wordpiece":
            return cls(learn_wordpiece_vocabulary(sentences, max_size))
        return cls(build_vocabulary(sentences, max_size))

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def tokenize(self, sentences):
        """tf.string `(batch,)` -> int32 `tf.RaggedTensor` `(batch, None)` of ids."""
        return self._tokenizer.tokenize(sentences)

    def encode(self, sentences, length, add_start=False, add_end=False):
        """Token ids padded with `PAD_ID` (or cut) to `length` per sentence.

        Returns:
            int32 `tf.Tensor` `(batch, length)`; with `add_start`/`add_end`
            the ids are wrapped in `[START]`/`[END]` before padding (a cut
            sentence loses its `[END]`).
        """
        ids = self.tokenize(sentences)
        rows = ids.nrows()
        if add_start:
            ids = tf.concat([tf.fill([rows, 1], START_ID), ids], axis=1)
        if add_end:
            ids = tf.concat([ids, tf.fill([rows, 1], END_ID)], axis=1)
        return ids.to_tensor(default_value=PAD_ID, shape=[None, length])

    def detokenize(self, ids):
        """int32 ids `(batch, length)`, padded or not, -> tf.string `(batch,)`.

        Decoding stops at the first `[END]`; `[PAD]`, `[START]` and `[END]`
        produce no text.
        """
        ids = tf.convert_to_tensor(ids, tf.int32)
        keep = tf.cast(tf.equal(tf.cumsum(tf.cast(ids == END_ID, tf.int32), axis=1), 0), tf.int32)
        keep *= tf.cast(ids > START_ID, tf.int32)
        ragged = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(ids, keep > 0), tf.reduce_sum(tf.cast(keep, tf.int64), axis=1)
        )
        return self._tokenizer.detokenize(ragged)

    def detokenize_numpy(self, ids):
        """The same as `detokenize`, in plain Python: a list of str."""
        texts = []
        for row in ids:
            pieces = []
            for token_id in row:
                if token_id == END_ID:
                    break
                if token_id > START_ID:
                    token = self.vocabulary[token_id]
                    pieces.append(token.removeprefix(CONTINUATION))
            texts.append("".join(pieces))
        return texts
