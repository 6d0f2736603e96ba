"""Speech-to-text: raw waveform -> log-mel -> convolutions + bidirectional GRUs -> CTC.

A small member of the DeepSpeech2 family (as in the keras-io CTC example):
two 2-D convolutions over the spectrogram, bidirectional GRUs over time
and a per-frame softmax over the characters plus the CTC blank. CTC
(Connectionist Temporal Classification) trains without knowing where each
character is spoken: the loss sums over every alignment of the transcript
to the frames, and greedy decoding takes the best character per frame,
merges repeats and drops blanks.
"""

import keras
import numpy as np
import tensorflow as tf

from dlapps.speech.keyword_spotter import BATCH_NORM_MOMENTUM
from dlapps.speech.log_mel_spectrogram import LogMelSpectrogram
from dlapps.speech.sentence_data import ALPHABET, CLIP_SAMPLES


@keras.saving.register_keras_serializable(package="dlapps")
def ctc_loss(y_true, y_pred):
    """CTC loss of per-frame logits against 0-padded character ids (0 = blank)."""
    y_true = keras.ops.cast(y_true, "int32")
    label_length = keras.ops.sum(keras.ops.cast(y_true != 0, "int32"), axis=-1)
    batch, frames = keras.ops.shape(y_pred)[0], keras.ops.shape(y_pred)[1]
    logit_length = keras.ops.full((batch,), frames, dtype="int32")
    return keras.ops.ctc_loss(y_true, y_pred, label_length, logit_length, mask_index=0)


def build_speech_to_text(clip_samples=CLIP_SAMPLES, rnn_units=128, rnn_layers=2, filters=32):
    """Builds a CTC speech recognizer that takes raw float32 waveforms.

    Args:
        clip_samples: waveform length (3 s at 16 kHz by default).
        rnn_units: GRU units per direction.
        rnn_layers: stacked bidirectional GRUs.
        filters: channels of the two convolutions.

    Returns:
        An uncompiled `keras.Model` from `(batch, clip_samples)` to logits
        `(batch, frames, len(ALPHABET) + 1)`; class 0 is the CTC blank.
        Compile it with `loss=ctc_loss`.

    Example:

    >>> model = build_speech_to_text()
    >>> model.output_shape
    (None, 75, 29)
    """
    inputs = keras.Input((clip_samples,), dtype="float32", name="waveforms")
    x = LogMelSpectrogram(
        frame_length=400, frame_step=160, fft_length=512, num_mel_bins=40, name="log_mel"
    )(inputs)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, axis=2, name="feature_norm")(
        x
    )
    # Two stride-2 convolutions: 298 frames of 10 ms become 75 of 40 ms, still
    # more than twice the characters of a 3 s sentence, as CTC needs.
    for index, kernel in enumerate((11, 5)):
        x = keras.layers.Conv2D(
            filters, kernel, strides=2, padding="same", use_bias=False, name=f"conv{index}"
        )(x)
        x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"conv{index}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{index}_relu")(x)
    frames, bands, channels = x.shape[1:]
    x = keras.layers.Reshape((frames, bands * channels), name="to_sequence")(x)
    for index in range(rnn_layers):
        x = keras.layers.Bidirectional(
            keras.layers.GRU(rnn_units, return_sequences=True), name=f"bigru{index}"
        )(x)
        x = keras.layers.Dropout(0.2, name=f"bigru{index}_dropout")(x)
    outputs = keras.layers.Dense(len(ALPHABET) + 1, name="logits")(x)
    return keras.Model(inputs, outputs, name="speech_to_text")


def greedy_decode(logits):
    """In-graph greedy CTC decoding: logits `(batch, frames, classes)` -> tf.string `(batch,)`."""
    table = tf.constant(["", *ALPHABET])
    ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    previous = tf.pad(ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    keep = tf.logical_and(tf.not_equal(ids, previous), tf.not_equal(ids, 0))
    characters = tf.where(keep, tf.gather(table, ids), "")
    text = tf.strings.reduce_join(characters, axis=-1)
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))


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
