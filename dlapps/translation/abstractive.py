"""The abstractive summarizer: translation's Transformer with a copy head, beam search.

The article is read as one token sequence (its sentences tokenized one by
one, joined by spaces, cut to `source_length` tokens); the decoder writes the
summary with a `copy_decoder.PointerGenerator` head, so names and numbers
of the article can be copied rather than generated. Decoding is
`decoding.beam_search` with length normalisation and no repeated trigram,
inside the exported graph.

Example:

```python
sequences = prepare_sequences(data)  # data: summarization_app.SummarizationData
model = build_abstractive(data)
ids = decode(model, sequences.source_ids("test"), beam_width=4)
data.tokenizer.detokenize_numpy(ids)  # the summaries
```
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from dlapps.translation import decoding, seq2seq
from dlapps.translation.tokenizer import PAD_ID

MAX_INPUT_TOKENS, MAX_SUMMARY_TOKENS = 400, 96
SUMMARY_CHARACTERS = 1500  # summaries are tokenized whole (up to 2000 bytes)
NO_REPEAT_NGRAM = 3
LENGTH_PENALTY = 0.6


@dataclasses.dataclass
class Sequences:
    """Article and summary token ids for the abstractive model.

    Attributes:
        ids: split -> `(article ids, summary ids)` int32 `tf.RaggedTensor`s
            (no `[START]`/`[END]`), as `translation_app.make_datasets` takes.
        source_length, target_length: what the model reads and writes.
        lengths: pairs left out of training for a too long summary.
    """

    ids: dict
    source_length: int
    target_length: int
    lengths: dict

    def source_ids(self, split):
        """int32 `(documents, source_length)`, 0-padded."""
        return self.ids[split][0].to_tensor(PAD_ID, shape=[None, self.source_length]).numpy()


def encode_articles(articles, tokenizer, source_length=None):
    """tf.string articles -> int32 token ids: ragged, or `(batch, source_length)` padded.

    The tokenizer matches a whole string at once (up to 2000 bytes), so each
    sentence is tokenized on its own, all but the first of a document with
    the space before it, and the pieces joined. Every op has a TFLite
    builtin or a tensorflow-text TFLite kernel (`summarization_strings.tflite`):
    sentences come from `sentence_splitter`, and the space is put in front
    of a sentence by joining it to the one before with tensorflow-text's
    `ngrams` (`STRING_JOIN`, width 2) and cutting " sentence" out of the pair.
    """
    import tensorflow_text as tf_text

    from dlapps.translation import sentence_splitter
    from dlapps.translation.summarization_app import SENTENCE_CHARACTERS

    articles = tf.convert_to_tensor(articles, tf.string)
    # The blanks below are cut from the last article.
    tf.debugging.assert_positive(tf.size(articles), "give at least one article")
    found = sentence_splitter.sentence_offsets(articles, SENTENCE_CHARACTERS)
    cut = sentence_splitter.substrings(
        articles, found.row_splits, found.starts, found.cut_ends, blanks=2
    )
    count = tf.shape(found.starts)[0]
    # Pair j: sentence j, a space, sentence j + 1 (or a blank); two blanks
    # at the end, so that the row is never shorter than an n-gram (which
    # crashes tensorflow-text's kernel).
    pairs = tf_text.ngrams(
        tf.RaggedTensor.from_row_splits(
            cut, tf.cast(tf.stack([0, count + 2]), tf.int64), validate=False
        ),
        2,
        reduction_type=tf_text.Reduction.STRING_JOIN,
        string_separator=" ",
    ).flat_values
    lengths = found.cut_ends - found.starts
    later = found.index > 0
    before = tf.gather(lengths, tf.maximum(tf.range(count) - 1, 0))
    # A first sentence is the start of its own pair; a later one, with its
    # space, the end of the pair before it.
    starts = tf.where(later, before, 0)
    ends = starts + lengths + tf.cast(later, tf.int32)
    # Sentences before pair k: those before k, and sentence k if it is a later one.
    splits = tf.minimum(tf.range(count + 2), count)
    splits += tf.cast(tf.concat([later, [False, False]], 0), tf.int32)
    pieces = sentence_splitter.substrings(pairs, tf.cast(splits, tf.int64), starts, ends)
    tokens = tokenizer.tokenize(pieces)
    document_splits = tf.gather(tokens.row_splits, found.row_splits)
    ids = tf.RaggedTensor.from_row_splits(tokens.flat_values, document_splits, validate=False)
    if source_length is None:
        return ids
    return ids.to_tensor(PAD_ID, shape=[None, source_length])


def prepare_sequences(
    data, max_input_tokens=MAX_INPUT_TOKENS, max_summary_tokens=MAX_SUMMARY_TOKENS
):
    """Token ids of every split's articles and summaries, with the lengths the model takes."""
    ids = {}
    for split in ("train", "validation", "test"):
        articles, summaries = getattr(data.documents, split)
        sources = tf.concat(
            [
                encode_articles(tf.constant(articles[i : i + 512]), data.tokenizer)
                for i in range(0, len(articles), 512)
            ],
            axis=0,
        )
        targets = data.tokenizer.tokenize(tf.constant([s[:SUMMARY_CHARACTERS] for s in summaries]))
        ids[split] = (sources, targets)
    source_counts = ids["train"][0].row_lengths().numpy()
    target_counts = ids["train"][1].row_lengths().numpy() + 1  # [END]
    source_length = int(max(4, min(max_input_tokens, source_counts.max())))
    target_length = int(
        max(
            4,
            min(
                max_summary_tokens,
                target_counts.max(),
                math.ceil(np.percentile(target_counts, 99) * 1.2),
            ),
        )
    )
    lengths = {"articles_cut": int(np.sum(source_counts > source_length))}
    for split in ("train", "validation"):
        sources, targets = ids[split]
        keep = targets.row_lengths() + 1 <= target_length
        lengths[f"{split}_pairs_left_out"] = int(np.sum(~keep.numpy()))
        ids[split] = (
            tf.ragged.boolean_mask(sources[:, :source_length], keep),
            tf.ragged.boolean_mask(targets, keep),
        )
    ids["test"] = (ids["test"][0][:, :source_length], ids["test"][1])
    return Sequences(ids, source_length, target_length, lengths)


def build_abstractive(
    vocabulary_size, source_length, target_length, num_layers=2, hidden_dim=128, num_heads=4
):
    """The encoder-decoder Transformer of translation with a pointer-generator head."""
    return seq2seq.build_transformer(
        vocabulary_size,
        vocabulary_size,
        source_length,
        target_length,
        num_layers=num_layers,
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        intermediate_dim=hidden_dim * 2,
        copy_mechanism=True,
    )


def beam_decoder(model, beam_width):
    """`ids -> summary ids`: beam search, length-normalised, no repeated trigram."""
    if beam_width < 2:
        return lambda ids: decoding.greedy_decode(model, ids, no_repeat_ngram_size=NO_REPEAT_NGRAM)
    return lambda ids: decoding.beam_search(
        model, ids, beam_width, LENGTH_PENALTY, no_repeat_ngram_size=NO_REPEAT_NGRAM
    )


def decode(model, source_ids, beam_width=4, batch_size=64):
    """Summary ids `(documents, target_length - 1)` of 0-padded article ids, in batches."""
    run = tf.function(
        beam_decoder(model, beam_width), input_signature=[tf.TensorSpec([None, None], tf.int32)]
    )
    source_ids = np.asarray(source_ids, np.int32)
    outputs = []
    for start in range(0, len(source_ids), batch_size):
        batch = source_ids[start : start + batch_size]
        longest = max(1, int((batch != PAD_ID).sum(axis=1).max()))
        outputs.append(run(tf.constant(batch[:, :longest])).numpy())
    return np.concatenate(outputs)
