"""The speech-to-text application: audio of any length in, the transcript out."""

import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps import report
from dlapps.application import Application
from dlapps.errors import UserError
from dlapps.export import Endpoint, ExportSpec, TFLiteModel, load_saved_model
from dlapps.export.tflite import is_tflite
from dlapps.speech import audio as audio_lib
from dlapps.speech import sentence_data, stt_serving
from dlapps.speech.ctc_decoder import SETTINGS_FILE, CTCDecoder
from dlapps.speech.sentence_data import CLIP_SAMPLES, MAX_SAMPLES, pad_batch
from dlapps.speech.speech_to_text import (
    beam_search_decode,
    build_speech_to_text,
    ctc_loss,
    error_rates,
    fixed_length_copy,
    greedy_decode_numpy,
)

# Full int8 is left out: CTC's per-frame logits do not survive 8-bit
# activations through the recurrent layers (see benchmarks/RESULTS.md).
TFLITE_FORMATS = ("tflite_float32", "tflite_float16", "tflite_dynamic")
MODEL_OPTIONS = ("rnn_units", "rnn_layers", "filters")
BEAM_WIDTH = 16
LABELS = ["<blank>", *sentence_data.ALPHABET]
DECODERS = ("greedy", "beam", "lm")
# Language model weight and word bonus tried on the validation split.
ALPHAS = (0.25, 0.5, 0.75, 1.0, 1.5)
BETAS = (0.0, 0.5, 1.0, 2.0, 3.0)
# Weights used when validation is too small to choose them (fewer clips than
# MIN_TUNING_CLIPS): what a 2-epoch model chose on 200 validation sentences.
DEFAULT_ALPHA, DEFAULT_BETA = 0.5, 0.5
MIN_TUNING_CLIPS = 20


class SpeechToTextApp(Application):
    """Speech-to-text with CTC: convolutions and bidirectional GRUs on log-mel features.

    Data: `synthetic` (built in: open-vocabulary English, see
    `sentence_text`, spoken by eSpeak NG voices; validation and test
    voices and sentences held out), a folder in LJSpeech's layout
    (`metadata.csv` + `wavs/`) or Common Voice's (a .tsv with `path` and
    `sentence` + `clips/`). The exported SavedModel takes float32
    waveforms of any length up to 30 s and returns the transcript. The
    version directory also holds a word trigram language model of the
    training transcripts (`words.arpa`, `spelling.arpa`, `decoder.json`,
    weights tuned on validation) for `dlapps predict --decoder lm` and the
    edge runner (`ctc_decoder.CTCDecoder`).
    """

    name = "speech_stt"
    description = "speech-to-text (conv + BiGRU, CTC): 16 kHz audio up to 30 s in, transcript out"
    defaults = {
        "data": "synthetic",
        "epochs": 8,
        "batch_size": 32,
        "optimizer": "adam",
        "learning_rate": 2e-3,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "clipnorm": 5.0,
        "monitor": "val_loss",
        "monitor_mode": "min",
        "patience": 6,
        "time_budget": 4500,
    }

    def add_arguments(self, parser):
        group = parser.add_argument_group("speech_stt")
        group.add_argument(
            "--sentences",
            type=int,
            default=6000,
            help="synthetic training sentences (default: 6000)",
        )
        group.add_argument(
            "--rnn-units", type=int, default=160, help="GRU units per direction (default: 160)"
        )
        group.add_argument(
            "--rnn-layers", type=int, default=3, help="bidirectional GRU layers (default: 3)"
        )
        group.add_argument(
            "--cache-dir",
            default=None,
            help="where synthetic data is kept (default: $DLAPPS_CACHE or ~/.cache/dlapps)",
        )

    def load_data(self, config):
        options = config.options
        sentences = options.get("sentences", 6000)
        if sentences < 3:
            raise UserError(f"--sentences {sentences} is too small: use at least 3")
        return sentence_data.load_sentence_data(
            config.data,
            seed=config.seed,
            cache_dir=options.get("cache_dir"),
            train_size=sentences,
            validation_size=max(2, min(200, sentences // 12)),
            test_size=max(2, min(300, sentences // 6)),
        )

    def datasets(self, data, batch_size, seed):
        return (
            to_dataset(data.train, batch_size, shuffle=True, seed=seed),
            to_dataset(data.validation, batch_size),
        )

    def num_train_examples(self, data):
        return len(data.train[1])

    def build_model(self, config, data):
        options = config.options
        return build_speech_to_text(
            rnn_units=options.get("rnn_units", 160), rnn_layers=options.get("rnn_layers", 3)
        )

    def compile_arguments(self, config, data):
        return {"loss": ctc_loss}

    def evaluate(self, model, data, figures_dir):
        train_words = data.train_words
        decoder, tuning = self.tuned_decoder(model, data)
        metrics = {f"lm_{k}": v for k, v in tuning.items() if isinstance(v, float)}
        details = {"lm_tuning": tuning}
        seconds, clips_decoded = 0.0, 0
        for name, (clips, texts) in data.test_splits().items():
            logits = predict_logits(model, clips)
            greedy = greedy_decode_numpy(logits)
            beam = [t.decode() for t in beam_search_decode(tf.constant(logits), BEAM_WIDTH).numpy()]
            start = time.perf_counter()
            lm = decoder.decode(logits)
            seconds, clips_decoded = seconds + time.perf_counter() - start, clips_decoded + len(lm)
            prefix = "" if name == "test" else f"{name.removeprefix('test_')}_"
            for decoding, hypotheses in (("", greedy), ("beam_", beam), ("lm_", lm)):
                rates = error_rates(texts, hypotheses)
                metrics[f"{prefix}{decoding}wer"] = rates["wer"]
                metrics[f"{prefix}{decoding}cer"] = rates["cer"]
            if name == "test":
                metrics["exact_match"] = float(
                    np.mean([h == t for h, t in zip(greedy, texts, strict=True)])
                )
                seen = [i for i, t in enumerate(texts) if set(t.split()) <= train_words]
                if seen and len(seen) < len(texts):
                    rates = error_rates([texts[i] for i in seen], [greedy[i] for i in seen])
                    metrics["all_words_seen_wer"] = rates["wer"]
            details[f"{name}_examples"] = [
                {"reference": t, "greedy": g, "beam": b, "lm": m}
                for t, g, b, m in zip(texts[:12], greedy, beam, lm, strict=False)
            ]
        metrics["lm_ms_per_clip"] = 1000 * seconds / max(clips_decoded, 1)
        details["splits"] = {
            "test": "unseen sentences (of training words), unseen voices",
            "test_numbers": "number phrases no training sentence holds, unseen voices",
            "test_new_words": "sentences with words no training sentence holds, unseen voices",
        }
        examples = pad_batch(data.test[0][:4])
        titles = [f"{e['reference']}\n-> {e['greedy']}" for e in details["test_examples"][:4]]
        figure = report.plot_spectrograms(
            model, examples, titles, Path(figures_dir) / "spectrograms.png", columns=2
        )
        return metrics, details, [figure]

    def tuned_decoder(self, model, data):
        """The language-model decoder of this model and data, its weights tuned on validation.

        Returns:
            `(CTCDecoder, tuning)`: `tuning` holds the chosen alpha and beta,
            the validation WER of greedy, plain beam and LM decoding, the
            decoder `predict` uses by default (the best of them on
            validation) and the whole grid.
        """
        # Kept for the model and data objects themselves (not their ids, which
        # Python reuses once an object is freed).
        tuned = getattr(self, "_tuned", None)
        if tuned is None or tuned[0] is not model or tuned[1] is not data:
            clips, texts = data.validation
            decoder = build_decoder(data.train[1])
            tuned = (model, data, *tune_decoder(decoder, predict_logits(model, clips), texts))
            self._tuned = tuned
        return tuned[2:]

    def export_spec(self, model, data):
        # Parity clips: test clips that fit the TFLite files' fixed length, padded to it.
        clips, texts = data.test
        fits = [i for i, c in enumerate(clips) if len(c) <= CLIP_SAMPLES][:128]
        if not fits:
            raise UserError(
                f"no test clip is {CLIP_SAMPLES // 16000} s or shorter: the TFLite files "
                "are checked on such clips"
            )
        waveforms = pad_batch([clips[i] for i in fits], CLIP_SAMPLES)
        references = [texts[i] for i in fits]
        options = {
            "rnn_units": model.get_layer("gru0_forward").units,
            "rnn_layers": sum(1 for layer in model.layers if layer.name.endswith("_forward")),
        }
        fixed = fixed_length_copy(model, CLIP_SAMPLES, **options)
        decoder, tuning = self.tuned_decoder(model, data)

        def logits_only(waveforms):
            return {"logits": fixed(waveforms, training=False)}

        def score(logits):
            return error_rates(references, greedy_decode_numpy(logits))

        fixed_signature = [tf.TensorSpec([None, CLIP_SAMPLES], tf.float32, name="waveforms")]
        return ExportSpec(
            app=self.name,
            model=model,
            serving=stt_serving.serving_endpoints(model, BEAM_WIDTH),
            tflite=Endpoint("serving_default", logits_only, fixed_signature, models=(fixed,)),
            output_key="logits",
            test_inputs={"waveforms": waveforms},
            reference=model.predict(waveforms, batch_size=64, verbose=0),
            score=score,
            representative_data=None,
            labels=LABELS,
            tflite_formats=TFLITE_FORMATS,
            files=decoder.files(
                default=tuning["default"],
                validation_wer={k: tuning[f"validation_{k}_wer"] for k in DECODERS},
            ),
            inputs={
                "waveforms": {
                    "dtype": "float32",
                    "shape": [None, None],
                    "note": "16 kHz mono in [-1, 1], any length up to "
                    f"{MAX_SAMPLES} samples ({MAX_SAMPLES // 16000} s); zero-pad a batch "
                    "at the end (padding is ignored). TFLite files take exactly "
                    f"{CLIP_SAMPLES} samples ({CLIP_SAMPLES // 16000} s): cut longer audio "
                    "into overlapping windows (see export/edge/transcribe.py)",
                },
                "wav_bytes": {"dtype": "string", "shape": [None], "signature": "serve_wav"},
            },
            outputs={
                "transcript": {
                    "dtype": "string",
                    "shape": [None],
                    "formats": ["saved_model"],
                    "note": "greedy CTC in serving_default and serve_wav; beam search "
                    f"(width {BEAM_WIDTH}) in serve_beam; the word language model "
                    f"({SETTINGS_FILE}, words.arpa, spelling.arpa) is used by `dlapps "
                    "predict` and export/edge/transcribe.py, not in the graph",
                },
                "logits": {
                    "dtype": "float32",
                    "shape": [None, None, len(sentence_data.ALPHABET) + 1],
                    "note": "per-40-ms-frame CTC logits; class 0 is the blank, class i is "
                    "line i of labels.txt; decode greedily",
                },
            },
        )

    def add_predict_arguments(self, parser):
        parser.add_argument(
            "--decoder",
            choices=DECODERS,
            help="speech_stt: greedy CTC, prefix beam search, or beam search with the word "
            "language model (default: the best on validation, from decoder.json)",
        )

    def predict(self, model_path, inputs, options):
        if not inputs:
            raise UserError("give one or more WAV files to transcribe")
        model_path = Path(model_path)
        decode = load_decoder(model_path.parent if is_tflite(model_path) else model_path, options)
        if is_tflite(model_path):
            model = TFLiteModel(model_path)
            window = int(model.inputs["waveforms"]["shape"][1])

            def logits_of(waveforms):
                return model({"waveforms": waveforms})["logits"]
        else:
            signature = load_saved_model(model_path).signatures["serving_default"]
            window = MAX_SAMPLES

            def logits_of(waveforms):
                return signature(waveforms=tf.constant(waveforms))["logits"].numpy()

        lines = []
        for path in inputs:
            audio = audio_lib.read_wav(path)
            logits = stt_serving.chunked_logits(logits_of, audio, window)
            lines.append(f"{path}: {decode(logits)[0]}")
        return lines


def build_decoder(train_texts, beam_width=32):
    """A `CTCDecoder` whose word trigram and spelling models come from training transcripts only."""
    return CTCDecoder.from_texts(
        train_texts, LABELS, order=3, spelling_order=5, beam_width=beam_width
    )


def tune_decoder(decoder, logits, texts, alphas=ALPHAS, betas=BETAS):
    """Chooses the language model weight and word bonus with the lowest WER on `(logits, texts)`.

    Give it validation logits, never test ones. A coordinate search: each
    alpha with the middle beta, each beta with the best alpha, and each
    alpha again with the best beta. With fewer than `MIN_TUNING_CLIPS`
    clips the weights would fit noise: `DEFAULT_ALPHA` and `DEFAULT_BETA`
    are kept.
    Returns `(decoder with the best weights, tuning summary)`; see
    `SpeechToTextApp.tuned_decoder`.
    """
    start, grid = time.perf_counter(), {}

    def measure(alpha, beta):
        if (alpha, beta) not in grid:
            hypotheses = decoder.with_weights(alpha, beta).decode(logits)
            grid[alpha, beta] = {"alpha": alpha, "beta": beta, **error_rates(texts, hypotheses)}
        return grid[alpha, beta]

    def rank(row):
        return (row["wer"], row["cer"])

    if len(texts) < MIN_TUNING_CLIPS:
        best = measure(DEFAULT_ALPHA, DEFAULT_BETA)
    else:
        beta = betas[len(betas) // 2]
        alpha = min((measure(a, beta) for a in alphas), key=rank)["alpha"]
        beta = min((measure(alpha, b) for b in betas), key=rank)["beta"]
        best = min((measure(a, beta) for a in alphas), key=rank)
    rates = {
        "greedy": error_rates(texts, greedy_decode_numpy(logits)),
        "beam": error_rates(texts, decoder.with_weights(0.0, 0.0).decode(logits)),
        "lm": best,
    }
    # A WER of 1 or more is what printing nothing scores: then no search beats greedy
    # decoding, which at least shows what the model hears.
    usable = [name for name in DECODERS if rates[name]["wer"] < 1.0] or ["greedy"]
    default = min(usable, key=lambda name: (rates[name]["wer"], rates[name]["cer"]))
    tuning = {
        "alpha": best["alpha"],
        "beta": best["beta"],
        **{f"validation_{name}_wer": rates[name]["wer"] for name in DECODERS},
        "default": default,
        "seconds": time.perf_counter() - start,
        "grid": list(grid.values()),
    }
    return decoder.with_weights(best["alpha"], best["beta"]), tuning


def load_decoder(version_dir, options):
    """`decode(logits) -> [text]` for `dlapps predict`: greedy, beam, or with the language model."""
    choice = options.get("decoder")
    settings_file = Path(version_dir) / SETTINGS_FILE
    if choice is None:
        if not settings_file.exists():
            return greedy_decode_numpy
        import json

        choice = json.loads(settings_file.read_text(encoding="utf-8")).get("default", "lm")
    if choice == "greedy":
        return greedy_decode_numpy
    if choice == "beam":
        return CTCDecoder(LABELS).decode
    if not settings_file.exists():
        raise UserError(
            f"--decoder lm needs the language model files ({SETTINGS_FILE}, words.arpa) "
            f"in {version_dir}: export the model again, or use --decoder beam"
        )
    try:
        return CTCDecoder.load(version_dir, LABELS).decode
    except ValueError as error:
        raise UserError(f"{error}: export the model again, or use --decoder beam") from None


def predict_logits(model, clips, batch_size=32):
    """Logits of clips of any length (batched by length), padded to one frame count."""
    order = np.argsort([len(c) for c in clips])
    outputs = [None] * len(clips)
    for start in range(0, len(clips), batch_size):
        indices = order[start : start + batch_size]
        logits = model.predict_on_batch(pad_batch([clips[i] for i in indices]))
        for row, index in enumerate(indices):
            outputs[index] = np.asarray(logits[row])
    frames = max(len(o) for o in outputs)
    padded = np.zeros((len(clips), frames, outputs[0].shape[-1]), "float32")
    padded[..., 0] = 30.0  # padding frames decode to the blank
    for row, output in enumerate(outputs):
        padded[row, : len(output)] = output
    return padded


def to_dataset(split, batch_size, shuffle=False, seed=0):
    """Batches of (float32 waveforms, 0-padded character ids), each zero-padded to its longest.

    Clips are grouped with others of similar length (sorted within windows
    of 20 batches, reshuffled every epoch), so little of a batch is padding.
    """
    clips, texts = split
    labels = [np.asarray(sentence_data.encode_text(t), "int32") for t in texts]
    lengths = np.asarray([len(c) for c in clips])
    rng = np.random.default_rng(seed)

    def batches():
        order = rng.permutation(len(clips)) if shuffle else np.argsort(lengths)
        window = batch_size * 20
        groups = []
        for start in range(0, len(order), window):
            part = order[start : start + window]
            part = part[np.argsort(lengths[part], kind="stable")]
            groups += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
        if shuffle:
            groups = [groups[i] for i in rng.permutation(len(groups))]
        for group in groups:
            x = pad_batch([clips[i] for i in group])
            y = np.zeros((len(group), max(len(labels[i]) for i in group)), "int32")
            for row, index in enumerate(group):
                y[row, : len(labels[index])] = labels[index]
            yield x, y

    dataset = tf.data.Dataset.from_generator(
        batches,
        output_signature=(
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None, None], tf.int32),
        ),
    )
    batches_per_epoch = sum(
        -(-min(batch_size * 20, len(clips) - start) // batch_size)
        for start in range(0, len(clips), batch_size * 20)
    )
    return dataset.apply(tf.data.experimental.assert_cardinality(batches_per_epoch)).prefetch(2)
