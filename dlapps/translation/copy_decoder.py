"""The pointer-generator output layer: generate a token, or copy one from the source.

A summary is mostly copied: names, numbers, whole clauses. A small model
trained from scratch cannot learn to *generate* a name it saw twice, but it
can learn *where to look*. This layer (See et al., 2017, "Get To The Point")
mixes two distributions over the shared source/target vocabulary:

    p(w) = g * p_vocabulary(w) + (1 - g) * sum_{i: source_i = w} a_i

where `a` is an attention over the source tokens (from the decoder state),
`p_vocabulary` a softmax over the first `generator_vocabulary_size` tokens
and `g = sigmoid(w . [state; context])` a learned gate. A token outside the
generator's vocabulary (one rare in training summaries) can still be
produced, by copying it from the source: the generator's vocabulary plus
the source's tokens is the extended vocabulary.

It returns log-probabilities, which work as logits: `MaskedCrossEntropy`
(softmax of log-probabilities that sum to one is the same distribution) and
the decoders in `decoding` take them unchanged.

Example:

>>> head = PointerGenerator(vocabulary_size=50, hidden_dim=16)
>>> log_probs = head(np.zeros((2, 3, 16)), np.zeros((2, 7, 16)), np.ones((2, 7), "int32"))
>>> log_probs.shape
(2, 3, 50)
"""

import keras
import tensorflow as tf

from dlapps.translation.tokenizer import PAD_ID

EPSILON = 1e-9


@keras.saving.register_keras_serializable(package="dlapps")
class PointerGenerator(keras.layers.Layer):
    """Log-probabilities mixing generation and copying, gated per position.

    Args:
        vocabulary_size: size of the shared source/target vocabulary.
        hidden_dim: width of the decoder states and the encoder memory.
        generator_vocabulary_size: the generator's softmax covers token ids
            below this (default: all); ids above can only be copied.
    """

    # `decoding` passes the encoder memory and source ids to such a head.
    copies_source = True

    def __init__(self, vocabulary_size, hidden_dim, generator_vocabulary_size=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.generator_vocabulary_size = generator_vocabulary_size or vocabulary_size
        self.generator = keras.layers.Dense(self.generator_vocabulary_size, name="generator")
        self.query = keras.layers.Dense(hidden_dim, use_bias=False, name="copy_query")
        self.key = keras.layers.Dense(hidden_dim, use_bias=False, name="copy_key")
        self.gate = keras.layers.Dense(1, name="copy_gate")

    def build(self, x_shape, memory_shape=None, source_ids_shape=None):
        self.generator.build(x_shape)
        self.query.build(x_shape)
        self.key.build(memory_shape)
        self.gate.build((*x_shape[:-1], 2 * self.hidden_dim))
        self.built = True

    def call(self, x, memory, source_ids, memory_keys=None):
        """`x` (batch, target, hidden), `memory` (batch, source, hidden) -> log-probabilities.

        `memory_keys`: `self.key(memory)`, if computed already (a decoder
        computes it once per source, not once per step).
        """
        memory_keys = self.key(memory) if memory_keys is None else memory_keys
        scores = keras.ops.matmul(self.query(x), keras.ops.transpose(memory_keys, (0, 2, 1)))
        scores = scores / keras.ops.sqrt(keras.ops.cast(self.hidden_dim, scores.dtype))
        present = keras.ops.expand_dims(keras.ops.not_equal(source_ids, PAD_ID), 1)
        attention = keras.ops.softmax(keras.ops.where(present, scores, -1e9), axis=-1)
        context = keras.ops.matmul(attention, memory)
        generate = keras.ops.sigmoid(self.gate(keras.ops.concatenate([x, context], axis=-1)))
        vocabulary = keras.ops.softmax(self.generator(x), axis=-1)
        missing = self.vocabulary_size - self.generator_vocabulary_size
        if missing:
            vocabulary = keras.ops.pad(vocabulary, [[0, 0], [0, 0], [0, missing]])
        copied = _sum_by_token(attention, source_ids, self.vocabulary_size)
        return keras.ops.log(generate * vocabulary + (1.0 - generate) * copied + EPSILON)

    def compute_output_shape(self, x_shape, memory_shape=None, source_ids_shape=None):
        return (*x_shape[:-1], self.vocabulary_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            hidden_dim=self.hidden_dim,
            generator_vocabulary_size=self.generator_vocabulary_size,
        )
        return config


def _sum_by_token(attention, source_ids, vocabulary_size):
    """`(batch, target, vocabulary)`: each source token's total attention.

    A segment sum over (row, token id) rather than a product with one-hot
    source vectors, which would need `batch x source x vocabulary` floats
    (a gigabyte for beam search over long articles). TFLite runs it as the
    builtin UNSORTED_SEGMENT_SUM.
    """
    batch, targets = tf.shape(attention)[0], tf.shape(attention)[1]
    segments = source_ids + tf.range(batch)[:, None] * vocabulary_size  # (batch, source)
    by_source = tf.reshape(tf.transpose(attention, (0, 2, 1)), tf.stack([-1, targets]))
    summed = tf.math.unsorted_segment_sum(
        by_source, tf.reshape(segments, [-1]), batch * vocabulary_size
    )  # (batch * vocabulary, target)
    summed = tf.reshape(summed, tf.stack([batch, vocabulary_size, targets]))
    return tf.transpose(summed, (0, 2, 1))
