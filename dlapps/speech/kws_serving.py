"""The keyword spotter's exported functions: waveforms or WAV bytes in, labels out."""

import tensorflow as tf

from dlapps.export.saved_model import Endpoint
from dlapps.speech.keyword_data import CLIP_SAMPLES
from dlapps.speech.synthesizer import SAMPLE_RATE

# The front-end ops the full-int8 TFLite file keeps in float: framing, FFT,
# power, mel projection, log and the per-band energy normalisation (EXP,
# SUB). An int8 waveform or power spectrum loses quiet speech entirely
# (measured: 0.29 accuracy with everything int8).
FRONT_END_FLOAT_OPS = (
    "STRIDED_SLICE",
    "CONCATENATION",
    "RESHAPE",
    "PAD",
    "MUL",
    "RFFT2D",
    "REAL",
    "IMAG",
    "SQUARE",
    "ADD",
    "SUM",
    "LOG",
    "EXP",
    "SUB",
    "EXPAND_DIMS",
    "SQUEEZE",
)


def serving_endpoints(model, labels):
    """SavedModel signatures of a keyword spotter.

    - `serving_default`: `waveforms`, float32 `(batch, 16000)` in [-1, 1]
      at 16 kHz -> `probabilities` `(batch, classes)`, `class_id` and
      `label` strings.
    - `serve_wav`: `wav_bytes`, a batch of 16-bit 16 kHz WAV files (what
      TF Serving's REST API receives as `{"b64": ...}`) -> the same
      outputs. The audio contract of `dlapps predict`: channels averaged,
      each clip centre-cropped or zero-padded at the end to one second.
    """
    label_table = tf.constant(list(labels))

    def classify(waveforms):
        probabilities = model(waveforms, training=False)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "label": tf.gather(label_table, class_id),
        }

    def decode(wav):
        audio, rate = tf.audio.decode_wav(wav)
        tf.debugging.assert_equal(
            rate, SAMPLE_RATE, message="serve_wav takes 16 kHz WAVs: resample first"
        )
        audio = tf.reduce_mean(audio, axis=1)
        start = tf.maximum(tf.shape(audio)[0] - CLIP_SAMPLES, 0) // 2
        audio = audio[start : start + CLIP_SAMPLES]
        return tf.pad(audio, [[0, CLIP_SAMPLES - tf.shape(audio)[0]]])

    def classify_wav(wav_bytes):
        waveforms = tf.map_fn(
            decode, wav_bytes, fn_output_signature=tf.TensorSpec((CLIP_SAMPLES,), tf.float32)
        )
        return classify(waveforms)

    return [
        Endpoint(
            "serving_default",
            classify,
            [tf.TensorSpec([None, CLIP_SAMPLES], tf.float32, name="waveforms")],
        ),
        Endpoint("serve_wav", classify_wav, [tf.TensorSpec([None], tf.string, name="wav_bytes")]),
    ]


def tflite_endpoint(model):
    """The TFLite graph: float32 waveforms -> probabilities, its one output.

    One float32 `[batch, 16000]` input and one float32 output of class
    scores is the layout MediaPipe's AudioClassifier reads (it takes every
    output as a classification head, so an extra int32 class id would stop
    it loading); the class id is the argmax, which callers take themselves.
    """

    def classify(waveforms):
        return {"probabilities": model(waveforms, training=False)}

    return Endpoint(
        "serving_default",
        classify,
        [tf.TensorSpec([None, CLIP_SAMPLES], tf.float32, name="waveforms")],
    )
