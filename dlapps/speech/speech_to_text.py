"""Speech-to-text: raw waveform -> log-mel -> convolutions + bidirectional GRUs -> CTC.

A small member of the DeepSpeech2 family (as in the keras-io CTC example):
two stride-2 convolutions over the spectrogram, bidirectional GRUs over
time and a per-frame softmax over the characters plus the CTC blank. CTC
(Connectionist Temporal Classification) trains without knowing where each
character is spoken: the loss is the negative log-likelihood of the
transcript, summed over every alignment of it to the frames. Greedy
decoding takes the best class per frame, merges repeats and drops blanks;
beam search keeps the most probable prefixes instead.

The model takes zero-padded batches of waveforms of any length: each clip's
real length is found in the graph (`FrameCounts`), padding frames are zeroed
after every layer (`FrameMask`), masked out of the recurrence and forced to
the blank at the output (`BlankPadding`), so padding never changes a
transcript.
"""

import keras
import numpy as np
import tensorflow as tf

from dlapps.speech.blank_padding import BlankPadding
from dlapps.speech.frame_counts import FrameCounts
from dlapps.speech.frame_mask import FrameMask
from dlapps.speech.keyword_spotter import BATCH_NORM_MOMENTUM
from dlapps.speech.log_mel_spectrogram import LogMelSpectrogram
from dlapps.speech.reverse_sequence import ReverseSequence
from dlapps.speech.sentence_data import ALPHABET
from dlapps.speech.spec_augment import SpecAugment

FRAME_LENGTH, FRAME_STEP = 400, 160  # 25 ms windows every 10 ms
# Two stride-2 convolutions: one output frame per 40 ms of audio.
DOWNSAMPLE = 4
SAMPLES_PER_OUTPUT_FRAME = FRAME_STEP * DOWNSAMPLE


@keras.saving.register_keras_serializable(package="dlapps")
def ctc_loss(y_true, y_pred):
    """CTC loss of per-frame logits against 0-padded character ids (0 = blank)."""
    y_true = keras.ops.cast(y_true, "int32")
    label_length = keras.ops.sum(keras.ops.cast(y_true != 0, "int32"), axis=-1)
    batch, frames = keras.ops.shape(y_pred)[0], keras.ops.shape(y_pred)[1]
    logit_length = keras.ops.full((batch,), frames, dtype="int32")
    return keras.ops.ctc_loss(y_true, y_pred, label_length, logit_length, mask_index=0)


def build_speech_to_text(
    clip_samples=None,
    rnn_units=192,
    rnn_layers=3,
    filters=32,
    mel_bins=40,
    dropout=0.2,
    unroll=False,
):
    """Builds a CTC speech recognizer that takes raw float32 waveforms.

    Args:
        clip_samples: waveform length, or None for any length (zero-padded
            batches). TFLite needs a fixed length (and `unroll=True`).
        rnn_units: GRU units per direction.
        rnn_layers: stacked bidirectional GRUs.
        filters: channels of the two convolutions.
        mel_bins: mel bands of the log-mel front end.
        dropout: after each recurrent layer, in training.
        unroll: unroll the GRUs over time (fixed lengths only; for TFLite).

    Returns:
        An uncompiled `keras.Model` from `(batch, samples)` to logits
        `(batch, ceil(frames / 4), len(ALPHABET) + 1)`; class 0 is the CTC
        blank. The same weights fit every `clip_samples`, so a fixed-length
        copy for TFLite is `build_speech_to_text(48000, unroll=True, ...)`
        plus `set_weights`. Compile it with `loss=ctc_loss`.

    Example:

    >>> model = build_speech_to_text(48000, rnn_units=16)
    >>> model.output_shape
    (None, 75, 29)
    """
    inputs = keras.Input((clip_samples,), dtype="float32", name="waveforms")
    counts = [
        FrameCounts(FRAME_LENGTH, FRAME_STEP, downsample=2**i, name=f"frame_counts{i}")(inputs)
        for i in range(3)
    ]
    x = LogMelSpectrogram(
        frame_length=FRAME_LENGTH,
        frame_step=FRAME_STEP,
        fft_length=512,
        num_mel_bins=mel_bins,
        name="log_mel",
    )(inputs)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, axis=2, name="feature_norm")(
        x
    )
    x = FrameMask(name="feature_mask")([x, counts[0]])
    x = SpecAugment(name="spec_augment")(x)
    # Explicit symmetric padding and "valid" stride-2 convolutions: frame i
    # always sees the same neighbours, whatever the sequence's length.
    for index, kernel in enumerate((11, 5)):
        half = kernel // 2
        x = keras.layers.ZeroPadding2D(((half, half), (half, half)), name=f"conv{index}_pad")(x)
        x = keras.layers.Conv2D(filters, kernel, strides=2, use_bias=False, name=f"conv{index}")(x)
        x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"conv{index}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{index}_relu")(x)
        x = FrameMask(name=f"conv{index}_mask")([x, counts[index + 1]])
    bands, channels = x.shape[2:]
    x = keras.layers.Reshape((-1, bands * channels), name="to_sequence")(x)
    mask = FrameMask(as_mask=True, name="sequence_mask")([x, counts[2]])
    for index in range(rnn_layers):
        forward = keras.layers.GRU(
            rnn_units, return_sequences=True, unroll=unroll, name=f"gru{index}_forward"
        )(x, mask=mask)
        backward = keras.layers.GRU(
            rnn_units, return_sequences=True, unroll=unroll, name=f"gru{index}_backward"
        )(ReverseSequence(name=f"gru{index}_reverse")([x, counts[2]]), mask=mask)
        backward = ReverseSequence(name=f"gru{index}_unreverse")([backward, counts[2]])
        x = keras.layers.Concatenate(name=f"bigru{index}")([forward, backward])
        x = keras.layers.Dropout(dropout, name=f"bigru{index}_dropout")(x)
    logits = keras.layers.Dense(len(ALPHABET) + 1, name="logits")(x)
    outputs = BlankPadding(name="blank_padding")([logits, counts[2]])
    return keras.Model(inputs, outputs, name="speech_to_text")


def fixed_length_copy(model, clip_samples, **options):
    """The same recognizer for one clip length, GRUs unrolled: what TFLite converts."""
    copy = build_speech_to_text(clip_samples, unroll=True, **options)
    copy.set_weights(model.get_weights())
    return copy


def _ids_to_text(ids):
    """int32 character ids `(batch, n)` (1-based, <= 0 for nothing) -> tf.string `(batch,)`."""
    table = tf.constant(["", *ALPHABET])
    characters = tf.gather(table, tf.maximum(ids, 0))
    text = tf.strings.reduce_join(characters, axis=-1)
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))


def greedy_decode(logits):
    """In-graph greedy CTC decoding: logits `(batch, frames, classes)` -> tf.string `(batch,)`."""
    ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    previous = tf.pad(ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    keep = tf.logical_and(tf.not_equal(ids, previous), tf.not_equal(ids, 0))
    return _ids_to_text(tf.where(keep, ids, 0))


def beam_search_decode(logits, beam_width=16):
    """In-graph CTC beam search (`tf.nn.ctc_beam_search_decoder`) -> tf.string `(batch,)`.

    TensorFlow's decoder takes the blank as the last class, so class 0 is
    moved to the end first.
    """
    logits = tf.concat([logits[..., 1:], logits[..., :1]], axis=-1)
    time_major = tf.transpose(tf.nn.log_softmax(logits), [1, 0, 2])
    lengths = tf.fill([tf.shape(logits)[0]], tf.shape(logits)[1])
    decoded, _ = tf.nn.ctc_beam_search_decoder(time_major, lengths, beam_width, top_paths=1)
    ids = tf.sparse.to_dense(decoded[0], default_value=-1) + 1
    return _ids_to_text(ids)


def greedy_decode_numpy(logits):
    """The same decoding in numpy, for TFLite outputs: returns a list of strings."""
    texts = []
    for ids in np.argmax(logits, axis=-1):
        previous, characters = -1, []
        for index in ids:
            if index != previous and index != 0:
                characters.append(ALPHABET[index - 1])
            previous = index
        texts.append(" ".join("".join(characters).split()))
    return texts


def error_rates(references, hypotheses):
    """Word and character error rates (jiwer): edits / reference length, over the set."""
    import jiwer

    references = [r if r.strip() else "-" for r in references]
    return {
        "wer": float(jiwer.wer(references, list(hypotheses))),
        "cer": float(jiwer.cer(references, list(hypotheses))),
    }
