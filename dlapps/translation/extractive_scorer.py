"""The extractive summarizer: scores each sentence of a document, keeps the best few.

A sentence is read by the same Transformer encoder blocks as translation's
(`TransformerEncoder` over `PositionalEmbedding`s of its WordPiece ids) and
pooled into one vector (mean over its tokens); a sentence-position
embedding and one more encoder block over the document's sentences let
each score depend on its place and its neighbours; a dense layer gives
one logit per sentence: "belongs in the summary". It trains with binary
cross-entropy on greedy-ROUGE oracle labels (`rouge.oracle_labels`);
`select_sentences` keeps the top-scoring sentences in document order.

Example:

```python
model = build_extractive_scorer(vocabulary_size=500, max_sentences=12, sentence_length=24)
logits = model({"sentence_ids": ids})  # (batch, 12): one score per sentence
selected = select_sentences(logits, ids, count=3)  # (batch, 3) indices, -1 where none
```
"""

import keras
import tensorflow as tf

from dlapps.translation.positional_embedding import PositionalEmbedding
from dlapps.translation.tokenizer import PAD_ID
from dlapps.translation.transformer_encoder import TransformerEncoder


@keras.saving.register_keras_serializable(package="dlapps")
class MaskedBinaryCrossEntropy(keras.losses.Loss):
    """Binary cross-entropy on sentence logits; labels of -1 (padding sentences) are ignored."""

    def __init__(self, name="masked_binary_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        mask = keras.ops.cast(y_true >= 0, y_pred.dtype)
        # keras.ops' binary cross-entropy is elementwise: one value per sentence.
        losses = keras.ops.binary_crossentropy(
            keras.ops.maximum(y_true, 0.0), y_pred, from_logits=True
        )
        return keras.ops.sum(losses * mask, axis=-1) / keras.ops.maximum(
            keras.ops.sum(mask, axis=-1), 1.0
        )


@keras.saving.register_keras_serializable(package="dlapps")
class SentenceRows(keras.layers.Layer):
    """`(batch, sentences, tokens)` ids -> `(batch * sentences, tokens)`: a row per sentence."""

    def call(self, ids):
        return tf.reshape(ids, tf.stack([-1, tf.shape(ids)[-1]]))

    def compute_output_shape(self, ids_shape):
        return (None, ids_shape[-1])


@keras.saving.register_keras_serializable(package="dlapps")
class SentencePositions(keras.layers.Layer):
    """Regroups sentence vectors by document and adds each sentence's position embedding.

    `(batch * sentences, hidden)` vectors and the `(batch, sentences, tokens)`
    ids they came from -> `(batch, sentences, hidden)`.

    Args:
        max_sentences: the most sentences a document has (positions learned).
        hidden_dim: width of the sentence vectors.
    """

    def __init__(self, max_sentences, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.max_sentences = max_sentences
        self.hidden_dim = hidden_dim
        self.positions = keras.layers.Embedding(max_sentences, hidden_dim, name="positions")

    def build(self, vectors_shape, ids_shape=None):
        self.positions.build((None,))
        self.built = True

    def call(self, vectors, ids):
        shape = tf.shape(ids)
        grouped = tf.reshape(vectors, tf.stack([shape[0], shape[1], self.hidden_dim]))
        return grouped + self.positions(tf.range(shape[1]))[None]

    def compute_output_shape(self, vectors_shape, ids_shape=None):
        return (ids_shape[0], ids_shape[1], self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(max_sentences=self.max_sentences, hidden_dim=self.hidden_dim)
        return config


def build_extractive_scorer(
    vocabulary_size,
    max_sentences,
    sentence_length,
    num_layers=2,
    hidden_dim=128,
    num_heads=4,
    intermediate_dim=256,
    dropout=0.1,
):
    """The sentence scorer: `{"sentence_ids": (batch, S, T)}` -> logits `(batch, S)`.

    Args:
        max_sentences: sentences read per document (later ones are never
            selected).
        sentence_length: tokens read per sentence (the rest is cut).
        num_layers: encoder blocks over each sentence's tokens (one more
            runs over the sentences).
    """
    if hidden_dim % num_heads:
        raise ValueError(f"hidden_dim {hidden_dim} is not divisible by num_heads {num_heads}")
    # Any number of sentences and tokens up to the maxima: a training batch is
    # cut to its own longest document and sentence (padding is masked, so the
    # scores do not change); the exported signatures take the full maxima.
    ids = keras.Input((None, None), dtype="int32", name="sentence_ids")
    tokens = SentenceRows(name="sentence_rows")(ids)
    token_mask = keras.ops.not_equal(tokens, PAD_ID)
    x = PositionalEmbedding(vocabulary_size, sentence_length, hidden_dim, name="embedding")(tokens)
    x = keras.layers.Dropout(dropout)(x)
    for index in range(num_layers):
        x = TransformerEncoder(
            hidden_dim, num_heads, intermediate_dim, dropout, name=f"encoder_block{index}"
        )(x, token_mask)
    weights = keras.ops.cast(token_mask, x.dtype)[..., None]
    pooled = keras.ops.sum(x * weights, axis=1) / keras.ops.maximum(
        keras.ops.sum(weights, axis=1), 1.0
    )
    sentence_mask = keras.ops.any(keras.ops.not_equal(ids, PAD_ID), axis=-1)
    y = SentencePositions(max_sentences, hidden_dim, name="sentence_positions")(pooled, ids)
    y = TransformerEncoder(hidden_dim, num_heads, intermediate_dim, dropout, name="document_block")(
        y, sentence_mask
    )
    logits = keras.ops.squeeze(keras.layers.Dense(1, name="sentence_logits")(y), axis=-1)
    return keras.Model({"sentence_ids": ids}, logits, name="extractive_scorer")


def select_sentences(logits, sentence_ids, count, ratio=None):
    """Indices of the best sentences in document order: int32 `(batch, count)`, -1 padded.

    Args:
        logits: `(batch, sentences)` scores.
        sentence_ids: `(batch, sentences, tokens)`: empty sentences are
            never chosen.
        count: most sentences kept.
        ratio: if set, keep `round(ratio * sentences in the document)`
            sentences (at least 1, at most `count`) instead of `count`.
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    present = tf.reduce_any(tf.not_equal(sentence_ids, PAD_ID), axis=-1)
    available = tf.reduce_sum(tf.cast(present, tf.int32), axis=-1)
    keep = tf.fill(tf.shape(available), count)
    if ratio:
        wanted = tf.cast(tf.round(ratio * tf.cast(available, tf.float32)), tf.int32)
        keep = tf.clip_by_value(wanted, 1, count)
    keep = tf.minimum(keep, available)
    masked = tf.where(present, logits, -1e9)
    _, best = tf.math.top_k(masked, k=count)
    sentences = tf.shape(logits)[1]
    chosen = tf.range(count)[None] < keep[:, None]
    best = tf.where(chosen, best, sentences)  # unused slots sort last
    ordered = -tf.math.top_k(-best, k=count).values  # ascending: document order
    return tf.where(ordered >= sentences, -1, ordered)
