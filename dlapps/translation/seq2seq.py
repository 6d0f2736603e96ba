"""Encoder-decoder translation models: a Transformer and a GRU-with-attention baseline.

Both builders return a `keras.Model` with the same interface, so training,
decoding and export are written once:

- inputs `{"source_ids": (batch, source_length), "target_ids": (batch,
  target_length)}`, int32, 0-padded; `target_ids` starts with `[START]`
  (teacher forcing: the decoder sees the reference shifted right). The
  Transformer takes any length up to its maximum, so a batch is padded
  only to its own longest sentence (padding is masked: it never changes
  the output); the GRU baseline takes exactly its lengths (TFLite unrolls
  its loops over them);
- output: logits `(batch, target_length, target_vocabulary)`, where
  position i predicts target token i + 1;
- two sub-models for decoding: `model.get_layer("encoder")` maps source
  ids to a memory, and `model.get_layer("decoder")` maps
  `[target_ids, memory, source_ids]` to logits. Decoding runs the encoder
  once and the decoder once per generated token (the Transformer's
  decoder blocks also decode one token at a time with a key/value cache:
  `TransformerDecoder.call_cached`);
- `sequence_lengths(model)`: the longest source and target it takes.

Example:

```python
model = build_transformer(source_vocabulary_size=400, target_vocabulary_size=420,
                          source_length=16, target_length=12)
model.compile("adam", loss=MaskedCrossEntropy(), metrics=[masked_accuracy])
model.fit(dataset, epochs=10)  # ({"source_ids", "target_ids"}, next tokens)
```
"""

import keras

from dlapps.translation.copy_decoder import PointerGenerator
from dlapps.translation.positional_embedding import PositionalEmbedding
from dlapps.translation.tokenizer import PAD_ID
from dlapps.translation.transformer_decoder import TransformerDecoder
from dlapps.translation.transformer_encoder import TransformerEncoder

ARCHITECTURES = ("transformer", "gru")


def build_transformer(
    source_vocabulary_size,
    target_vocabulary_size,
    source_length,
    target_length,
    num_layers=2,
    hidden_dim=128,
    num_heads=4,
    intermediate_dim=512,
    dropout=0.1,
    copy_mechanism=False,
    generator_vocabulary_size=None,
):
    """An encoder-decoder Transformer ("Attention Is All You Need", post-norm).

    Args:
        num_layers: encoder blocks, and as many decoder blocks.
        hidden_dim: width of every token vector; divisible by `num_heads`.
        intermediate_dim: width of the feed-forward networks' hidden layer.
        copy_mechanism: end in a `copy_decoder.PointerGenerator` (log-
            probabilities that mix generating with copying source tokens;
            summarization) instead of a dense layer over the target
            vocabulary. Source and target then share one vocabulary.
        generator_vocabulary_size: with `copy_mechanism`, the ids the
            generator covers (the rest can only be copied).
    """
    if copy_mechanism and source_vocabulary_size != target_vocabulary_size:
        raise ValueError("a copy mechanism needs one vocabulary for source and target")
    if hidden_dim % num_heads:
        raise ValueError(f"hidden_dim {hidden_dim} is not divisible by num_heads {num_heads}")
    # Lengths are maxima (the position embeddings' size): inputs take any length up to them.
    source = keras.Input((None,), dtype="int32", name="source_ids")
    x = PositionalEmbedding(source_vocabulary_size, source_length, hidden_dim, name="embedding")(
        source
    )
    x = keras.layers.Dropout(dropout)(x)
    padding_mask = keras.ops.not_equal(source, PAD_ID)
    for index in range(num_layers):
        x = TransformerEncoder(
            hidden_dim, num_heads, intermediate_dim, dropout, name=f"encoder_block{index}"
        )(x, padding_mask)
    encoder = keras.Model(source, x, name="encoder")

    target = keras.Input((None,), dtype="int32", name="target_ids")
    memory = keras.Input((None, hidden_dim), name="memory")
    memory_source = keras.Input((None,), dtype="int32", name="source_ids")
    y = PositionalEmbedding(target_vocabulary_size, target_length, hidden_dim, name="embedding")(
        target
    )
    y = keras.layers.Dropout(dropout)(y)
    memory_mask = keras.ops.not_equal(memory_source, PAD_ID)
    for index in range(num_layers):
        y = TransformerDecoder(
            hidden_dim, num_heads, intermediate_dim, dropout, name=f"decoder_block{index}"
        )(y, memory, memory_mask)
    if copy_mechanism:
        head = PointerGenerator(
            target_vocabulary_size, hidden_dim, generator_vocabulary_size, name="logits"
        )
        logits = head(y, memory, memory_source)
    else:
        logits = keras.layers.Dense(target_vocabulary_size, name="logits")(y)
    decoder = keras.Model([target, memory, memory_source], logits, name="decoder")
    return _join(encoder, decoder, None, None, "transformer")


def build_gru_translator(
    source_vocabulary_size,
    target_vocabulary_size,
    source_length,
    target_length,
    units=256,
    embedding_dim=128,
    dropout=0.1,
):
    """The RNN baseline: a bidirectional GRU encoder, a GRU decoder with attention.

    The decoder's GRU reads the target so far; attention (one head, dot
    product, as Luong et al.) then picks the source positions that matter
    for the next word, so nothing has to squeeze the whole sentence into one
    state vector.
    """
    source = keras.Input((source_length,), dtype="int32", name="source_ids")
    x = keras.layers.Embedding(source_vocabulary_size, embedding_dim, name="embedding")(source)
    x = keras.layers.Bidirectional(
        keras.layers.GRU(units // 2, return_sequences=True), name="bigru"
    )(x)
    encoder = keras.Model(source, x, name="encoder")

    target = keras.Input((target_length,), dtype="int32", name="target_ids")
    memory = keras.Input((source_length, units), name="memory")
    memory_source = keras.Input((source_length,), dtype="int32", name="source_ids")
    y = keras.layers.Embedding(target_vocabulary_size, embedding_dim, name="embedding")(target)
    y = keras.layers.GRU(units, return_sequences=True, name="gru")(y)
    mask = keras.ops.expand_dims(keras.ops.not_equal(memory_source, PAD_ID), axis=1)
    context = keras.layers.MultiHeadAttention(1, units, name="attention")(
        y, memory, attention_mask=mask
    )
    y = keras.layers.Concatenate()([y, context])
    y = keras.layers.Dropout(dropout)(y)
    y = keras.layers.Dense(units, activation="tanh", name="combine")(y)
    logits = keras.layers.Dense(target_vocabulary_size, name="logits")(y)
    decoder = keras.Model([target, memory, memory_source], logits, name="decoder")
    return _join(encoder, decoder, source_length, target_length, "gru_translator")


def build_translator(architecture, source_vocabulary_size, target_vocabulary_size, **kwargs):
    """`build_transformer` or `build_gru_translator` by name ("transformer", "gru")."""
    builders = {"transformer": build_transformer, "gru": build_gru_translator}
    if architecture not in builders:
        raise ValueError(
            f"unknown architecture {architecture!r}: choose one of {', '.join(ARCHITECTURES)}"
        )
    return builders[architecture](source_vocabulary_size, target_vocabulary_size, **kwargs)


def sequence_lengths(model):
    """`(source_length, target_length)`: the longest inputs a `build_translator` model takes."""
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    if isinstance(encoder.get_layer("embedding"), PositionalEmbedding):
        return (
            encoder.get_layer("embedding").sequence_length,
            decoder.get_layer("embedding").sequence_length,
        )
    return encoder.inputs[0].shape[1], decoder.inputs[0].shape[1]


def _join(encoder, decoder, source_length, target_length, name):
    source = keras.Input((source_length,), dtype="int32", name="source_ids")
    target = keras.Input((target_length,), dtype="int32", name="target_ids")
    logits = decoder([target, encoder(source), source])
    return keras.Model({"source_ids": source, "target_ids": target}, logits, name=name)
