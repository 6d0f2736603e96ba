"""One Transformer encoder block: self-attention and a feed-forward network."""

import keras

from dlapps.translation.multi_head_attention import MultiHeadAttention


@keras.saving.register_keras_serializable(package="dlapps")
class TransformerEncoder(keras.layers.Layer):
    """Self-attention over the source, then a position-wise feed-forward network.

    Each sub-layer is residual and followed by layer normalisation, as in
    "Attention Is All You Need". Padding positions are masked out of the
    attention by `padding_mask` (True where there is a token).

    Example:

    >>> block = TransformerEncoder(hidden_dim=32, num_heads=4, intermediate_dim=64)
    >>> block(np.zeros((2, 10, 32)), np.ones((2, 10), bool)).shape
    (2, 10, 32)
    """

    def __init__(self, hidden_dim, num_heads, intermediate_dim, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.attention = MultiHeadAttention(
            num_heads, hidden_dim // num_heads, dropout=dropout, name="self_attention"
        )
        self.attention_norm = keras.layers.LayerNormalization(name="self_attention_norm")
        self.hidden = keras.layers.Dense(intermediate_dim, activation="relu", name="ffn_hidden")
        self.projection = keras.layers.Dense(hidden_dim, name="ffn_output")
        self.ffn_norm = keras.layers.LayerNormalization(name="ffn_norm")
        self.dropout_layer = keras.layers.Dropout(dropout)

    def build(self, x_shape, padding_mask_shape=None):
        self.attention.build(x_shape, x_shape)
        self.attention_norm.build(x_shape)
        self.hidden.build(x_shape)
        self.projection.build((*x_shape[:-1], self.intermediate_dim))
        self.ffn_norm.build(x_shape)
        self.built = True

    def call(self, x, padding_mask, training=None):
        mask = keras.ops.expand_dims(padding_mask, axis=1)  # (batch, 1, source)
        attended = self.attention(x, x, attention_mask=mask, training=training)
        x = self.attention_norm(x + self.dropout_layer(attended, training=training))
        transformed = self.projection(self.hidden(x))
        return self.ffn_norm(x + self.dropout_layer(transformed, training=training))

    def compute_output_shape(self, x_shape, padding_mask_shape=None):
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
