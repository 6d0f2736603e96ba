"""The speech-to-text application: a few seconds of audio in, the transcript out."""

from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps import report
from dlapps.application import Application
from dlapps.errors import UserError
from dlapps.export import Endpoint, ExportSpec, TFLiteModel, load_saved_model
from dlapps.export.tflite import is_tflite, unrolled_copy
from dlapps.speech import audio as audio_lib
from dlapps.speech import sentence_data
from dlapps.speech.speech_to_text import (
    build_speech_to_text,
    ctc_loss,
    error_rates,
    greedy_decode,
    greedy_decode_numpy,
)

# Full int8 is left out: CTC's per-frame logits do not survive 8-bit
# activations through the recurrent layers (see benchmarks/RESULTS.md).
TFLITE_FORMATS = ("tflite_float32", "tflite_float16", "tflite_dynamic")


class SpeechToTextApp(Application):
    """Speech-to-text with CTC: convolutions and bidirectional GRUs on log-mel features.

    Data: `synthetic` (built in: spoken commands and requests by eSpeak NG
    voices, validation and test voices held out) or a folder in LJSpeech's
    layout (`metadata.csv` + `wavs/`). The exported SavedModel takes float32
    waveforms and returns the transcript as a string.
    """

    name = "speech_stt"
    description = "speech-to-text (conv + BiGRU, CTC): 3 s of 16 kHz audio in, transcript out"
    defaults = {
        "data": "synthetic",
        # About 36 s an epoch on 2 cores: the cosine schedule ends inside the budget.
        "epochs": 15,
        "batch_size": 32,
        "optimizer": "adam",
        "learning_rate": 2e-3,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "clipnorm": 5.0,
        "monitor": "val_loss",
        "monitor_mode": "min",
        "patience": 8,
        "time_budget": 540,
    }

    def add_arguments(self, parser):
        group = parser.add_argument_group("speech_stt")
        group.add_argument(
            "--sentences",
            type=int,
            default=2000,
            help="synthetic training sentences (default: 2000)",
        )
        group.add_argument(
            "--rnn-units", type=int, default=128, help="GRU units per direction (default: 128)"
        )
        group.add_argument(
            "--cache-dir",
            default=None,
            help="where synthetic data is kept (default: $DLAPPS_CACHE or ~/.cache/dlapps)",
        )

    def load_data(self, config):
        options = config.options
        sentences = options.get("sentences", 2000)
        if sentences < 3:
            raise UserError(f"--sentences {sentences} is too small: use at least 3")
        return sentence_data.load_sentence_data(
            config.data,
            seed=config.seed,
            cache_dir=options.get("cache_dir"),
            train_size=sentences,
            validation_size=max(2, sentences // 12),
            test_size=max(2, sentences // 6),
        )

    def datasets(self, data, batch_size, seed):
        max_length = max(len(t) for split in (data.train, data.validation) for t in split[1])
        return (
            _to_dataset(data.train, batch_size, max_length, shuffle=True, seed=seed),
            _to_dataset(data.validation, batch_size, max_length),
        )

    def num_train_examples(self, data):
        return len(data.train[1])

    def build_model(self, config, data):
        return build_speech_to_text(
            clip_samples=data.train[0].shape[1], rnn_units=config.options.get("rnn_units", 128)
        )

    def compile_arguments(self, config, data):
        return {"loss": ctc_loss}

    def evaluate(self, model, data, figures_dir):
        waveforms, texts = _waveforms(data.test), data.test[1]
        hypotheses = greedy_decode_numpy(model.predict(waveforms, batch_size=64, verbose=0))
        metrics = error_rates(texts, hypotheses)
        metrics["exact_match"] = float(
            np.mean([h == t for h, t in zip(hypotheses, texts, strict=False)])
        )
        titles = [f"{t}\n-> {h}" for t, h in zip(texts[:4], hypotheses[:4], strict=True)]
        figure = report.plot_spectrograms(
            model, waveforms[:4], titles, Path(figures_dir) / "spectrograms.png", columns=2
        )
        examples = [
            {"reference": t, "hypothesis": h} for t, h in zip(texts[:20], hypotheses, strict=False)
        ]
        return metrics, {"examples": examples}, [figure]

    def export_spec(self, model, data):
        waveforms, texts = _waveforms(data.test), data.test[1]
        samples = waveforms.shape[1]
        signature = [tf.TensorSpec([None, samples], tf.float32, name="waveforms")]

        def transcribe(waveforms):
            logits = model(waveforms, training=False)
            return {"transcript": greedy_decode(logits), "logits": logits}

        unrolled = unrolled_copy(model)

        def logits_only(waveforms):
            return {"logits": unrolled(waveforms, training=False)}

        def score(logits):
            return error_rates(texts, greedy_decode_numpy(logits))

        return ExportSpec(
            app=self.name,
            model=model,
            serving=[Endpoint("serving_default", transcribe, signature)],
            tflite=Endpoint("serving_default", logits_only, signature, models=(unrolled,)),
            output_key="logits",
            test_inputs={"waveforms": waveforms},
            reference=model.predict(waveforms, batch_size=64, verbose=0),
            score=score,
            representative_data=None,
            labels=["<blank>", *sentence_data.ALPHABET],
            tflite_formats=TFLITE_FORMATS,
            inputs={
                "waveforms": {
                    "dtype": "float32",
                    "shape": [None, samples],
                    "note": "16 kHz mono in [-1, 1], zero-padded to this length",
                }
            },
            outputs={
                "transcript": {"dtype": "string", "shape": [None], "formats": ["saved_model"]},
                "logits": {
                    "dtype": "float32",
                    "shape": [None, None, len(sentence_data.ALPHABET) + 1],
                    "note": "per-frame CTC logits; class 0 is the blank, class i is "
                    "line i of labels.txt; decode greedily",
                },
            },
        )

    def predict(self, model_path, inputs, options):
        if not inputs:
            raise UserError("give one or more WAV files to transcribe")
        model_path = Path(model_path)
        if is_tflite(model_path):
            model = TFLiteModel(model_path)
            samples = int(model.inputs["waveforms"]["shape"][1])

            def transcribe(waveforms):
                return greedy_decode_numpy(model({"waveforms": waveforms})["logits"])
        else:
            signature = load_saved_model(model_path).signatures["serving_default"]
            samples = signature.structured_input_signature[1]["waveforms"].shape[1]

            def transcribe(waveforms):
                texts = signature(waveforms=tf.constant(waveforms))["transcript"].numpy()
                return [t.decode("utf-8") for t in texts]

        lines = []
        for path in inputs:
            clip = audio_lib.fit_length(audio_lib.read_wav(path), samples)
            lines.append(f"{path}: {transcribe(clip[None].astype('float32'))[0]}")
        return lines


def _waveforms(split):
    return split[0].astype("float32") / 32768.0


def _to_dataset(split, batch_size, max_length, shuffle=False, seed=0):
    """Batches of (float32 waveforms, 0-padded character ids)."""
    clips, texts = split
    labels = np.zeros((len(texts), max_length), "int32")
    for row, text in enumerate(texts):
        ids = sentence_data.encode_text(text)[:max_length]
        labels[row, : len(ids)] = ids
    dataset = tf.data.Dataset.from_tensor_slices((clips, labels)).cache()
    if shuffle:
        dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)

    def to_float(clips, labels):
        return tf.cast(clips, tf.float32) / 32768.0, labels

    return (
        dataset.batch(batch_size)
        .map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
