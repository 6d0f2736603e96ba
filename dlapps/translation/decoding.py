"""Greedy and beam-search decoding inside the TensorFlow graph.

Both take a model from `dlapps.translation.seq2seq` and run its encoder once
and its decoder once per generated token, on a fixed-size `(batch,
target_length)` buffer of ids, so the loop has static shapes: it exports to
a SavedModel and converts to TFLite builtins (a WHILE op) as it is.

For the Transformer, each step runs the decoder on the new token only and
keeps the keys and values of the earlier positions in a cache
(`use_cache=True`, the default), as keras-hub's decoders do; without the
cache each step re-runs every earlier position. Both give the same tokens.

Example:

```python
ids = greedy_decode(model, source_ids)  # int32 (batch, target_length - 1)
tokenizer.detokenize(ids)              # tf.string (batch,)
```
"""

import tensorflow as tf

from dlapps.translation.seq2seq import sequence_lengths
from dlapps.translation.tokenizer import END_ID, PAD_ID, START_ID
from dlapps.translation.transformer_decoder import TransformerDecoder

NEGATIVE_INFINITY = -1e9


class _Stepper:
    """Next-token logits of a `seq2seq` model, one position at a time.

    With a cache (Transformer decoders only), `logits` embeds the last token
    and runs each decoder block's `call_cached`; without, it re-runs the
    decoder on the whole buffer and reads position `index`.
    """

    def __init__(self, model, source_ids, use_cache):
        self.decoder = model.get_layer("decoder")
        self.target_length = sequence_lengths(model)[1]
        self.source_ids = source_ids
        self.memory = model.get_layer("encoder")(source_ids, training=False)
        self.blocks = [
            layer for layer in self.decoder.layers if isinstance(layer, TransformerDecoder)
        ]
        self.cached = bool(use_cache and self.blocks)
        # Projections of the source, made once rather than at every step.
        self.source_keys_values = (
            [block.source_keys_values(self.memory) for block in self.blocks] if self.cached else []
        )
        head = self.decoder.get_layer("logits")
        self.copy_keys = head.key(self.memory) if getattr(head, "copies_source", False) else None

    def empty_cache(self, rows):
        """One zero `(rows, 2, target_length, heads, key_dim)` tensor per decoder block."""
        if not self.cached:
            return []
        return [
            tf.zeros(
                tf.stack(
                    [
                        rows,
                        2,
                        self.target_length,
                        block.num_heads,
                        block.hidden_dim // block.num_heads,
                    ]
                )
            )
            for block in self.blocks
        ]

    def logits(self, index, tokens, cache):
        """`(logits of position index (rows, vocabulary), updated cache)`."""
        if not self.cached:
            return self.decoder([tokens, self.memory, self.source_ids], training=False)[
                :, index
            ], []
        last = tokens[:, index][:, None]
        x = self.decoder.get_layer("embedding")(last, start_index=index)
        memory_mask = tf.not_equal(self.source_ids, PAD_ID)
        updated = []
        for block, block_cache, keys_values in zip(
            self.blocks, cache, self.source_keys_values, strict=True
        ):
            x, block_cache = block.call_cached(
                x, self.memory, memory_mask, block_cache, index, keys_values
            )
            updated.append(block_cache)
        return self.head(x)[:, 0], updated

    def head(self, x):
        """The output layer on decoder states (a copy head also reads the source)."""
        layer = self.decoder.get_layer("logits")
        if getattr(layer, "copies_source", False):
            return layer(x, self.memory, self.source_ids, memory_keys=self.copy_keys)
        return layer(x)


def block_repeated_ngrams(log_probs, tokens, index, size):
    """Forbids tokens that would repeat an n-gram of `size` already in `tokens`.

    At step `index` the next token goes to position `index + 1`; a token
    is forbidden (-1e9) if the `size - 1` tokens before it, followed by it,
    already occur earlier in the row (e.g. no trigram twice, `size=3`, as
    summarizers do against repetition loops). Positions before `index + 1`
    hold the decoded tokens; `[START]` at 0 is not part of any n-gram.

    Args:
        log_probs: `(rows, vocabulary)`.
        tokens: int32 `(rows, length)`.
    """
    length = tokens.shape[1]
    if not size or length is None or length < size + 1:
        return log_probs
    prefix = size - 1
    starts = tf.range(1, length - size + 1)  # candidate n-gram starts j (j >= 1)
    # The n-gram at j is complete (all its tokens decoded) when j + size - 1 <= index.
    matches = starts + prefix <= index
    for offset in range(prefix):
        before = tf.gather(tokens, tf.maximum(index - prefix + 1 + offset, 0), axis=1)
        column = tf.gather(tokens, starts + offset, axis=1)
        matches = tf.logical_and(matches, tf.equal(column, before[:, None]))
    matches = tf.logical_and(matches, index >= prefix)
    banned_ids = tf.gather(tokens, starts + prefix, axis=1)  # (rows, candidates)
    matches = tf.broadcast_to(matches, tf.shape(banned_ids))
    # A segment sum over (row, token id), not a one-hot (rows x candidates x
    # vocabulary floats, most of a beam step's time); TFLite: UNSORTED_SEGMENT_SUM.
    rows, vocabulary_size = tf.shape(log_probs)[0], tf.shape(log_probs)[1]
    segments = banned_ids + tf.range(rows)[:, None] * vocabulary_size
    banned = tf.math.unsorted_segment_sum(
        tf.reshape(tf.cast(matches, tf.float32), [-1]),
        tf.reshape(segments, [-1]),
        rows * vocabulary_size,
    )
    banned = tf.reshape(banned, tf.shape(log_probs))
    return tf.where(banned > 0, NEGATIVE_INFINITY, log_probs)


def greedy_decode(model, source_ids, use_cache=True, no_repeat_ngram_size=0):
    """The most likely next token at each step, until `[END]` or the length limit.

    Args:
        model: a `seq2seq` model (with "encoder" and "decoder" sub-models).
        source_ids: int32 `(batch, source_length)`, any length up to the
            model's.
        use_cache: keep the decoder's keys and values between steps
            (Transformer only; the GRU re-runs its decoder).
        no_repeat_ngram_size: if set, never repeat an n-gram of this size
            (`block_repeated_ngrams`).

    Returns:
        int32 `(batch, target_length - 1)`: the generated ids, `[END]`
        included where one was generated and `PAD_ID` after it.
    """
    source_ids = tf.cast(source_ids, tf.int32)
    stepper = _Stepper(model, source_ids, use_cache)
    target_length = stepper.target_length
    batch = tf.shape(source_ids)[0]
    tokens = tf.concat(
        [tf.fill([batch, 1], START_ID), tf.zeros([batch, target_length - 1], tf.int32)], axis=1
    )
    finished = tf.zeros([batch], tf.bool)

    def step(index, tokens, finished, cache):
        logits, cache = stepper.logits(index, tokens, cache)
        logits = block_repeated_ngrams(logits, tokens, index, no_repeat_ngram_size)
        next_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        next_ids = tf.where(finished, PAD_ID, next_ids)
        tokens += tf.one_hot(index + 1, target_length, dtype=tf.int32)[None] * next_ids[:, None]
        return index + 1, tokens, tf.logical_or(finished, tf.equal(next_ids, END_ID)), cache

    def not_done(index, tokens, finished, cache):
        return tf.logical_and(index < target_length - 1, tf.logical_not(tf.reduce_all(finished)))

    _, tokens, _, _ = tf.while_loop(
        not_done, step, (tf.constant(0), tokens, finished, stepper.empty_cache(batch))
    )
    return tokens[:, 1:]


def beam_search(
    model, source_ids, beam_width=4, length_penalty=0.6, use_cache=True, no_repeat_ngram_size=0
):
    """Keeps the `beam_width` most likely partial translations at each step.

    Greedy decoding commits to one word at a time; beam search keeps
    several candidates and returns the one with the best total
    log-probability, divided by `length ** length_penalty` (Wu et al.,
    2016) so that longer translations are not penalised for their length.
    With `no_repeat_ngram_size`, no beam repeats an n-gram of that size.

    Returns:
        int32 `(batch, target_length - 1)`, laid out as `greedy_decode`'s.
    """
    source_ids = tf.cast(source_ids, tf.int32)
    batch = tf.shape(source_ids)[0]
    rows = batch * beam_width
    # Every beam of a sentence shares its encoding: (batch * beam, ...).
    stepper = _Stepper(model, tf.repeat(source_ids, beam_width, axis=0), use_cache)
    target_length = stepper.target_length
    tokens = tf.concat(
        [tf.fill([rows, 1], START_ID), tf.zeros([rows, target_length - 1], tf.int32)], axis=1
    )
    # Only the first beam is alive at the start, or all beams would be equal.
    scores = tf.tile(
        tf.constant([[0.0] + [NEGATIVE_INFINITY] * (beam_width - 1)]), tf.stack([batch, 1])
    )
    finished = tf.zeros([rows], tf.bool)
    lengths = tf.zeros([rows], tf.float32)
    tokens_0, scores_0, finished_0 = tokens, scores, finished

    def step(index, tokens, scores, finished, lengths, cache):
        logits, cache = stepper.logits(index, tokens, cache)
        log_probs = tf.nn.log_softmax(logits)
        log_probs = block_repeated_ngrams(log_probs, tokens, index, no_repeat_ngram_size)
        vocabulary_size = tf.shape(log_probs)[-1]
        # A finished beam can only add padding, at no cost.
        pad_only = tf.where(tf.range(vocabulary_size) == PAD_ID, 0.0, NEGATIVE_INFINITY)
        log_probs = tf.where(finished[:, None], pad_only[None], log_probs)
        totals = scores[:, :, None] + tf.reshape(log_probs, [batch, beam_width, -1])
        scores, best = tf.math.top_k(tf.reshape(totals, [batch, -1]), k=beam_width)
        parent = best // vocabulary_size + tf.range(batch)[:, None] * beam_width
        parent = tf.reshape(parent, [-1])
        next_ids = tf.reshape(best % vocabulary_size, [-1])
        tokens = tf.gather(tokens, parent)
        cache = [tf.gather(block_cache, parent) for block_cache in cache]
        tokens += tf.one_hot(index + 1, target_length, dtype=tf.int32)[None] * next_ids[:, None]
        was_finished = tf.gather(finished, parent)
        lengths = tf.gather(lengths, parent) + tf.cast(tf.logical_not(was_finished), tf.float32)
        finished = tf.logical_or(was_finished, tf.equal(next_ids, END_ID))
        for value, initial in ((tokens, tokens_0), (scores, scores_0), (finished, finished_0)):
            value.set_shape(initial.shape)  # gathers lose the static batch size
        lengths.set_shape(finished_0.shape)
        for value, initial in zip(cache, cache_0, strict=True):
            value.set_shape(initial.shape)
        return index + 1, tokens, scores, finished, lengths, cache

    def not_done(index, tokens, scores, finished, lengths, cache):
        return tf.logical_and(index < target_length - 1, tf.logical_not(tf.reduce_all(finished)))

    cache_0 = stepper.empty_cache(rows)
    _, tokens, scores, _, lengths, _ = tf.while_loop(
        not_done, step, (tf.constant(0), tokens, scores, finished, lengths, cache_0)
    )
    normalized = scores / tf.reshape(tf.maximum(lengths, 1.0) ** length_penalty, [batch, -1])
    best = tf.argmax(normalized, axis=-1, output_type=tf.int32) + tf.range(batch) * beam_width
    return tf.gather(tokens, best)[:, 1:]
