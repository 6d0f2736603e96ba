"""Greedy and beam-search decoding inside the TensorFlow graph.

Both take a model from `dlapps.translation.seq2seq` and run its encoder once
and its decoder once per generated token, on a fixed-size `(batch,
target_length)` buffer of ids, so the loop has static shapes: it exports to
a SavedModel and converts to TFLite builtins (a WHILE op) as it is.

Example:

```python
ids = greedy_decode(model, source_ids)  # int32 (batch, target_length - 1)
tokenizer.detokenize(ids)              # tf.string (batch,)
```
"""

import tensorflow as tf

from dlapps.translation.tokenizer import END_ID, PAD_ID, START_ID

NEGATIVE_INFINITY = -1e9


def greedy_decode(model, source_ids):
    """The most likely next token at each step, until `[END]` or the length limit.

    Args:
        model: a `seq2seq` model (with "encoder" and "decoder" sub-models).
        source_ids: int32 `(batch, source_length)`.

    Returns:
        int32 `(batch, target_length - 1)`: the generated ids, `[END]`
        included where one was generated and `PAD_ID` after it.
    """
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    target_length = decoder.inputs[0].shape[1]
    source_ids = tf.cast(source_ids, tf.int32)
    memory = encoder(source_ids, training=False)
    batch = tf.shape(source_ids)[0]
    tokens = tf.concat(
        [tf.fill([batch, 1], START_ID), tf.zeros([batch, target_length - 1], tf.int32)], axis=1
    )
    finished = tf.zeros([batch], tf.bool)

    def step(index, tokens, finished):
        logits = decoder([tokens, memory, source_ids], training=False)[:, index]
        next_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        next_ids = tf.where(finished, PAD_ID, next_ids)
        tokens += tf.one_hot(index + 1, target_length, dtype=tf.int32)[None] * next_ids[:, None]
        return index + 1, tokens, tf.logical_or(finished, tf.equal(next_ids, END_ID))

    def not_done(index, tokens, finished):
        return tf.logical_and(index < target_length - 1, tf.logical_not(tf.reduce_all(finished)))

    _, tokens, _ = tf.while_loop(not_done, step, (tf.constant(0), tokens, finished))
    return tokens[:, 1:]


def beam_search(model, source_ids, beam_width=4, length_penalty=0.6):
    """Keeps the `beam_width` most likely partial translations at each step.

    Greedy decoding commits to one word at a time; beam search keeps
    several candidates and returns the one with the best total
    log-probability, divided by `length ** length_penalty` (Wu et al.,
    2016) so that longer translations are not penalised for their length.

    Returns:
        int32 `(batch, target_length - 1)`, laid out as `greedy_decode`'s.
    """
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    target_length = decoder.inputs[0].shape[1]
    source_ids = tf.cast(source_ids, tf.int32)
    batch = tf.shape(source_ids)[0]
    rows = batch * beam_width
    # Every beam of a sentence shares its encoding: (batch * beam, ...).
    source_ids = tf.repeat(source_ids, beam_width, axis=0)
    memory = encoder(source_ids, training=False)
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

    def step(index, tokens, scores, finished, lengths):
        logits = decoder([tokens, memory, source_ids], training=False)[:, index]
        log_probs = tf.nn.log_softmax(logits)
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
        tokens += tf.one_hot(index + 1, target_length, dtype=tf.int32)[None] * next_ids[:, None]
        was_finished = tf.gather(finished, parent)
        lengths = tf.gather(lengths, parent) + tf.cast(tf.logical_not(was_finished), tf.float32)
        finished = tf.logical_or(was_finished, tf.equal(next_ids, END_ID))
        for value, initial in ((tokens, tokens_0), (scores, scores_0), (finished, finished_0)):
            value.set_shape(initial.shape)  # gathers lose the static batch size
        lengths.set_shape(finished_0.shape)
        return index + 1, tokens, scores, finished, lengths

    def not_done(index, tokens, scores, finished, lengths):
        return tf.logical_and(index < target_length - 1, tf.logical_not(tf.reduce_all(finished)))

    _, tokens, scores, _, lengths = tf.while_loop(
        not_done, step, (tf.constant(0), tokens, scores, finished, lengths)
    )
    normalized = scores / tf.reshape(tf.maximum(lengths, 1.0) ** length_penalty, [batch, -1])
    best = tf.argmax(normalized, axis=-1, output_type=tf.int32) + tf.range(batch) * beam_width
    return tf.gather(tokens, best)[:, 1:]
