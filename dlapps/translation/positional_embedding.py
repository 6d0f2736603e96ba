"""Token embeddings plus learned position embeddings."""

import keras


@keras.saving.register_keras_serializable(package="dlapps")
class PositionalEmbedding(keras.layers.Layer):
    """Maps token ids `(batch, length)` to vectors `(batch, length, hidden_dim)`.

    Self-attention does not know where a token is; adding a learned vector
    per position tells it. `sequence_length` is the longest input it takes;
    shorter ones (a batch padded to its own longest sentence) take the first
    positions.

    Example:

    >>> embedding = PositionalEmbedding(vocabulary_size=100, sequence_length=16, hidden_dim=32)
    >>> embedding(np.zeros((2, 16), "int32")).shape
    (2, 16, 32)
    """

    def __init__(self, vocabulary_size, sequence_length, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.hidden_dim = hidden_dim
        self.token_embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, name="tokens")
        self.position_embedding = keras.layers.Embedding(
            sequence_length, hidden_dim, name="positions"
        )

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build((input_shape[-1],))
        self.built = True

    def call(self, token_ids, start_index=0):
        """Embeds `token_ids`, the first of which sits at position `start_index`.

        `start_index` (an int or a scalar tensor) lets a decoder with a
        key/value cache embed one new token at its place in the sentence.
        """
        length = keras.ops.shape(token_ids)[-1]
        positions = self.position_embedding(keras.ops.arange(length) + start_index)
        return self.token_embedding(token_ids) + positions[None]

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            sequence_length=self.sequence_length,
            hidden_dim=self.hidden_dim,
        )
        return config
