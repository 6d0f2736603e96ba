"""A lossless subword tokenizer that runs in TensorFlow, in TFLite and in plain Python.

Each sentence is cut into *units*: a word with the white space before it
(" mil"), or one punctuation mark (","). The vocabulary holds the units seen
in training (the first unit of a sentence as is, later ones as "##" pieces,
WordPiece's continuation marker) and every character seen, as a fallback
for unseen words. Tokenizing is WordPiece's greedy longest match over the
whole sentence (tensorflow-text's `FastWordpieceTokenizer` with
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
    def build(cls, sentences, max_size=8000):
        """A tokenizer whose vocabulary is built from `sentences`."""
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
