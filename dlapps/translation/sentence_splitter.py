"""Sentence splitting on bytes, with ops that TFLite runs (builtins and tensorflow-text's).

The rule (the same as `rouge.split_sentences_python` and the edge runner's
regular expressions): a run of white space (space, tab, CR, LF, FF, VT)
ends a sentence when it holds a line break, or when it follows `.`, `!` or
`?` and any closing quotes or brackets (`"`, `'`, `)`, `]`); the ASCII
record separator (0x1E) ends one too. Sentences lose the white space at
their ends, and empty ones are dropped.

TFLite has no builtin for `tf.strings.regex_replace` (the converter keeps
it as the custom op `StaticRegexReplace`, which LiteRT cannot resolve), nor
for `tf.strings.split`, `strip`, `substr` or `length`. So the rule is
written here on the documents' bytes: tensorflow-text's `ByteSplitter`
gives each byte (`TFText>ByteSplitWithOffsets`), cumulative sums, gathers
and comparisons (TFLite builtins) find every sentence's byte offsets, and
`ByteSplitter.split_by_offsets` (`TFText>ByteSplitByOffsets`) cuts the
sentences out. The same graph runs in a SavedModel, in training-data
preparation and in a TFLite file with tensorflow-text's ops registered.

Example:

>>> split_sentences(tf.constant(["It rained. Fans left!\\nThe end"])).to_list()
[[b'It rained.', b'Fans left!', b'The end']]
"""

import dataclasses

import tensorflow as tf

# Bytes of the rule.
SPACE, TAB, CARRIAGE_RETURN, LINE_FEED = 32, 9, 13, 10
RECORD_SEPARATOR = 0x1E
SENTENCE_MARKS = (ord("."), ord("!"), ord("?"))
CLOSERS = (ord('"'), ord("'"), ord(")"), ord("]"))


@dataclasses.dataclass
class SentenceOffsets:
    """Where each document's sentences sit: byte offsets in their document.

    Attributes:
        row_splits: int64 `(documents + 1,)`: document d's sentences are
            `row_splits[d]:row_splits[d + 1]` of the flat tensors below.
        starts: int32 `(sentences,)`: first byte of each sentence.
        ends: int32 `(sentences,)`: one past its last byte.
        cut_ends: int32 `(sentences,)`: one past its last byte when cut to
            `max_characters` UTF-8 characters (or `ends`).
        index: int32 `(sentences,)`: each sentence's place in its document (0, 1, ...).
    """

    row_splits: tf.Tensor
    starts: tf.Tensor
    ends: tf.Tensor
    cut_ends: tf.Tensor
    index: tf.Tensor


def _previous(values, fill):
    """values shifted one place later, `fill` first (no bytes: none)."""
    return tf.concat([tf.fill([1], fill), values], 0)[: tf.shape(values)[0]]


def _next(values, fill):
    """values shifted one place earlier, `fill` last (no bytes: none)."""
    return tf.concat([values, tf.fill([1], fill)], 0)[1:]


def _any_of(values, codes):
    result = tf.equal(values, codes[0])
    for code in codes[1:]:
        result = tf.logical_or(result, tf.equal(values, code))
    return result


def _exclusive_cumsum(flags):
    counts = tf.cast(flags, tf.int32)
    return tf.cumsum(counts) - counts


def _positions_where(flags, positions):
    return tf.boolean_mask(positions, flags)


def sentence_offsets(documents, max_characters=None):
    """tf.string `(documents,)` -> the `SentenceOffsets` of their sentences."""
    import tensorflow_text as tf_text

    documents = tf.convert_to_tensor(documents, tf.string)
    pieces, offsets, _ = tf_text.ByteSplitter().split_with_offsets(documents)
    codes = tf.cast(pieces.flat_values, tf.int32)
    offset = tf.cast(offsets.flat_values, tf.int32)  # each byte's offset in its document
    size = tf.shape(codes)[0]
    positions = tf.range(size)
    first = tf.equal(offset, 0)  # a document's first byte
    white = tf.logical_or(
        tf.equal(codes, SPACE), tf.logical_and(codes >= TAB, codes <= CARRIAGE_RETURN)
    )
    separator = tf.equal(codes, RECORD_SEPARATOR)

    # After a mark: the bytes up to here are [.!?] then closers, in this document.
    barrier = tf.logical_or(tf.logical_not(_any_of(codes, CLOSERS)), first)
    barriers = _positions_where(barrier, positions)
    last_barrier = tf.gather(barriers, tf.cumsum(tf.cast(barrier, tf.int32)) - 1)
    marked = tf.gather(_any_of(codes, SENTENCE_MARKS), last_barrier)
    not_first = tf.logical_not(first)
    after_mark = tf.logical_and(_previous(marked, False), not_first)

    # Runs of white space; a run ends a sentence if it holds a line break or follows a mark.
    after_white = tf.logical_and(_previous(white, False), not_first)
    run_start = tf.logical_and(white, tf.logical_not(after_white))
    last = _next(first, True)
    run_end = tf.logical_and(white, tf.logical_or(last, tf.logical_not(_next(white, False))))
    starts, ends = _positions_where(run_start, positions), _positions_where(run_end, positions)
    line_breaks = tf.cumsum(tf.cast(tf.equal(codes, LINE_FEED), tf.int32))
    breaks_before = _exclusive_cumsum(tf.equal(codes, LINE_FEED))
    run_breaks = tf.logical_or(
        tf.gather(line_breaks, ends) > tf.gather(breaks_before, starts),
        tf.gather(after_mark, starts),
    )
    run_breaks = tf.concat([run_breaks, tf.fill([1], False)], 0)  # never empty
    run = tf.maximum(tf.cumsum(tf.cast(run_start, tf.int32)) - 1, 0)
    breaking = tf.logical_or(separator, tf.logical_and(white, tf.gather(run_breaks, run)))

    # Sentences: the text between breaks (and document starts), without its white space.
    content = tf.logical_not(tf.logical_or(white, separator))
    boundary = tf.logical_or(breaking, first)
    segment = tf.cumsum(tf.cast(boundary, tf.int32)) - 1
    segment_starts = _positions_where(boundary, positions)
    segment_ends = _positions_where(_next(boundary, True), positions)
    before = _exclusive_cumsum(content)
    through = tf.cumsum(tf.cast(content, tf.int32))
    opens = tf.logical_and(
        content, tf.equal(before, tf.gather(before, tf.gather(segment_starts, segment)))
    )
    closes = tf.logical_and(
        content, tf.equal(through, tf.gather(through, tf.gather(segment_ends, segment)))
    )
    sentence_starts = _positions_where(opens, positions)
    sentence_ends = _positions_where(closes, positions) + 1
    local_starts = tf.gather(offset, sentence_starts)
    local_ends = local_starts + (sentence_ends - sentence_starts)
    opened = tf.concat([tf.zeros([1], tf.int32), tf.cumsum(tf.cast(opens, tf.int32))], 0)
    row_splits = tf.gather(opened, tf.cast(pieces.row_splits, tf.int32))
    # Sentences opened before this one, less those opened before its document's first byte.
    index = tf.gather(opened, sentence_starts) - tf.gather(opened, sentence_starts - local_starts)

    cut_ends = local_ends
    if max_characters is not None:
        # UTF-8: every byte but a continuation byte (10xxxxxx) starts a character.
        character = tf.logical_or(codes < 128, codes >= 192)
        characters = tf.concat([_positions_where(character, positions), tf.reshape(size, [1])], 0)
        last = tf.gather(_exclusive_cumsum(character), sentence_starts) + max_characters
        cut = tf.gather(characters, tf.minimum(last, tf.shape(characters)[0] - 1))
        cut_ends = local_starts + (tf.minimum(cut, sentence_ends) - sentence_starts)
    return SentenceOffsets(tf.cast(row_splits, tf.int64), local_starts, local_ends, cut_ends, index)


def substrings(documents, row_splits, starts, ends, blanks=0):
    """The byte ranges `starts:ends` of each document: tf.string `(sentences,)`.

    `blanks` empty strings are added at the end (gather targets for "no
    sentence"), cut from the last document (of which there must be one).
    """
    import tensorflow_text as tf_text

    if blanks:
        zero = tf.zeros([blanks], starts.dtype)
        starts, ends = tf.concat([starts, zero], 0), tf.concat([ends, zero], 0)
        row_splits = tf.concat([row_splits[:-1], row_splits[-1:] + blanks], 0)
    ragged = tf_text.ByteSplitter().split_by_offsets(
        documents,
        tf.RaggedTensor.from_row_splits(starts, row_splits, validate=False),
        tf.RaggedTensor.from_row_splits(ends, row_splits, validate=False),
    )
    return ragged.flat_values


def split_sentences(documents, max_characters=None):
    """tf.string `(batch,)` documents -> tf.string `tf.RaggedTensor` `(batch, None)` sentences.

    With `max_characters`, each sentence is cut to that many UTF-8 characters.
    """
    documents = tf.convert_to_tensor(documents, tf.string)
    found = sentence_offsets(documents, max_characters)
    ends = found.ends if max_characters is None else found.cut_ends
    flat = substrings(documents, found.row_splits, found.starts, ends)
    return tf.RaggedTensor.from_row_splits(flat, found.row_splits, validate=False)
