"""One Transformer decoder block: causal self-attention, cross-attention, feed-forward."""

import keras

from dlapps.translation.multi_head_attention import MultiHeadAttention


@keras.saving.register_keras_serializable(package="dlapps")
class TransformerDecoder(keras.layers.Layer):
    """Attends to the target so far (causally), then to the encoded source.

    The causal mask lets position i see positions 0..i only, so one pass
    trains every next-token prediction at once (teacher forcing), and at
    inference the same block runs on the prefix decoded so far.

    Example:

    >>> block = TransformerDecoder(hidden_dim=32, num_heads=4, intermediate_dim=64)
    >>> target, memory = np.zeros((2, 8, 32)), np.zeros((2, 10, 32))
    >>> block(target, memory, np.ones((2, 10), bool)).shape
    (2, 8, 32)
    """

    def __init__(self, hidden_dim, num_heads, intermediate_dim, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        key_dim = hidden_dim // num_heads
        self.self_attention = MultiHeadAttention(
            num_heads, key_dim, dropout=dropout, name="self_attention"
        )
        self.self_attention_norm = keras.layers.LayerNormalization(name="self_attention_norm")
        self.cross_attention = MultiHeadAttention(
            num_heads, key_dim, dropout=dropout, name="cross_attention"
        )
        self.cross_attention_norm = keras.layers.LayerNormalization(name="cross_attention_norm")
        self.hidden = keras.layers.Dense(intermediate_dim, activation="relu", name="ffn_hidden")
        self.projection = keras.layers.Dense(hidden_dim, name="ffn_output")
        self.ffn_norm = keras.layers.LayerNormalization(name="ffn_norm")
        self.dropout_layer = keras.layers.Dropout(dropout)

    def build(self, x_shape, memory_shape=None, memory_mask_shape=None):
        self.self_attention.build(x_shape, x_shape)
        self.self_attention_norm.build(x_shape)
        self.cross_attention.build(x_shape, memory_shape)
        self.cross_attention_norm.build(x_shape)
        self.hidden.build(x_shape)
        self.projection.build((*x_shape[:-1], self.intermediate_dim))
        self.ffn_norm.build(x_shape)
        self.built = True

    def call(self, x, memory, memory_mask, training=None):
        attended = self.self_attention(x, x, use_causal_mask=True, training=training)
        return self._attend_to_source(x, attended, memory, memory_mask, training)

    def source_keys_values(self, memory):
        """The cross-attention's keys and values of `memory`, for `call_cached`.

        The source does not change while a sentence is decoded, so a decoder
        projects it once rather than at every step (the largest part of a
        step's work for long sources, such as the articles a summarizer reads).
        """
        return (
            self.cross_attention._key_dense(memory),
            self.cross_attention._value_dense(memory),
        )

    def call_cached(self, x, memory, memory_mask, cache, index, source_keys_values=None):
        """One decoding step with a key/value cache (inference only).

        The causal self-attention of position `index` needs the keys and
        values of positions 0..index; earlier steps computed them already,
        so they are kept in `cache` and only the new token's are computed,
        as keras-hub's `CachedMultiHeadAttention` does. The output is the
        one `call` gives at that position.

        Args:
            x: `(batch, 1, hidden_dim)`, the embedded token at `index`.
            cache: `(batch, 2, max_length, num_heads, key_dim)`, keys and
                values of the earlier positions (zeros elsewhere).
            index: scalar int, the position of `x`.
            source_keys_values: `source_keys_values(memory)`, if computed
                already (else computed here).

        Returns:
            `(output (batch, 1, hidden_dim), updated cache)`.
        """
        attention = self.self_attention
        query = attention._query_dense(x)
        length = cache.shape[2]
        # Writing by a one-hot mask (not a scatter) keeps TFLite builtin-only.
        slot = keras.ops.one_hot(index, length, dtype=x.dtype)[None, :, None, None]
        keys = cache[:, 0] + slot * attention._key_dense(x)
        values = cache[:, 1] + slot * attention._value_dense(x)
        seen = keras.ops.arange(length) <= index  # (length,)
        mask = keras.ops.broadcast_to(seen[None, None], (keras.ops.shape(x)[0], 1, length))
        attended, _ = attention._compute_attention(query, keys, values, mask, training=False)
        attended = attention._output_dense(attended)
        output = self._attend_to_source(
            x, attended, memory, memory_mask, False, source_keys_values or ()
        )
        return output, keras.ops.stack([keys, values], axis=1)

    def _attend_to_source(self, x, attended, memory, memory_mask, training, keys_values=()):
        x = self.self_attention_norm(x + self.dropout_layer(attended, training=training))
        mask = keras.ops.expand_dims(memory_mask, axis=1)  # (batch, 1, source)
        if keys_values:
            # What MultiHeadAttention's call does, on keys and values projected before.
            cross = self.cross_attention
            attended, _ = cross._compute_attention(
                cross._query_dense(x), *keys_values, mask, training=False
            )
            attended = cross._output_dense(attended)
        else:
            attended = self.cross_attention(x, memory, attention_mask=mask, training=training)
        x = self.cross_attention_norm(x + self.dropout_layer(attended, training=training))
        transformed = self.projection(self.hidden(x))
        return self.ffn_norm(x + self.dropout_layer(transformed, training=training))

    def compute_output_shape(self, x_shape, memory_shape=None, memory_mask_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
        )
        return config
