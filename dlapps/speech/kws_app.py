"""The keyword-spotting application: one second of audio in, a voice command out."""

from pathlib import Path

import numpy as np

from dlapps import metrics, report
from dlapps.application import Application
from dlapps.errors import UserError
from dlapps.export import ExportSpec, TFLiteModel, load_saved_model, read_labels
from dlapps.export.tflite import is_tflite
from dlapps.speech import audio as audio_lib
from dlapps.speech import keyword_data, kws_serving
from dlapps.speech.keyword_spotter import FREQUENCY_WARP, MEL_BINS, build_keyword_spotter
from dlapps.speech.synthesizer import SAMPLE_RATE

CALIBRATION_EXAMPLES = 200
NOISE_TEST_SNR_DB = 10
# A small folder is passed over several times per epoch (with fresh
# augmentation each time), so it gets as many steps as the built-in data.
MIN_CLIPS_PER_EPOCH = 4000


class KeywordSpottingApp(Application):
    """Voice commands: a DS-CNN on in-graph log-mel features of the raw waveform.

    Data: `synthetic` (built in: ten keywords, `_silence_` and `_unknown_`
    spoken by eSpeak NG voices, with validation and test voices held out),
    a folder of WAVs with one sub-folder per label (the Speech Commands
    layout), or `tfds:speech_commands`. The exported model takes float32
    waveforms of 16,000 samples (one second at 16 kHz).
    """

    name = "speech_kws"
    description = "keyword spotter (DS-CNN): 1 s of 16 kHz audio in, command label out"
    defaults = {
        "data": "synthetic",
        "epochs": 30,  # about 7 s each with 20 mel bands: inside the budget
        "batch_size": 64,
        "optimizer": "adamw",
        "learning_rate": 3e-3,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "monitor": "val_loss",
        "monitor_mode": "min",
        "patience": 8,
        # A safety net, not the schedule: augmented folder runs take about 11 s an epoch.
        "time_budget": 900,
    }

    def add_arguments(self, parser):
        group = parser.add_argument_group("speech_kws")
        group.add_argument(
            "--clips-per-class",
            type=int,
            default=400,
            help="synthetic training clips per label (default: 400)",
        )
        group.add_argument("--filters", type=int, default=64, help="DS-CNN channels (default: 64)")
        group.add_argument(
            "--mel-bins", type=int, default=MEL_BINS, help=f"mel bands (default: {MEL_BINS})"
        )
        group.add_argument(
            "--cache-dir",
            default=None,
            help="where synthetic data is kept (default: $DLAPPS_CACHE or ~/.cache/dlapps)",
        )
        group.add_argument(
            "--tfds-data-dir", default=None, help="where TensorFlow Datasets keeps prepared data"
        )
        group.add_argument(
            "--no-augment",
            dest="augment",
            action="store_false",
            help="train without augmentation (speed, gain, shift, noise, frequency warping, "
            "SpecAugment); for comparisons",
        )
        group.add_argument(
            "--speed-range",
            type=float,
            nargs=2,
            metavar=("LOW", "HIGH"),
            default=list(keyword_data.SPEED_RANGE),
            help="speed perturbation factors while training (default: %(default)s)",
        )
        group.add_argument(
            "--frequency-warp",
            type=float,
            default=FREQUENCY_WARP,
            help="largest relative stretch of the frequency axis while training (vocal tract "
            "length perturbation: 0.1 is 0.9-1.1x; 0: off; default: %(default)s)",
        )
        group.add_argument(
            "--no-energy-norm",
            dest="energy_norm",
            action="store_false",
            help="leave out the per-clip band energy normalisation of the features; "
            "for comparisons",
        )
        group.add_argument(
            "--speaker-pattern",
            default=None,
            help="regular expression that finds the speaker in a folder's file names "
            "(group 'speaker' or the first group), to hold out whole speakers for test "
            "(default: Speech Commands' <speaker>_nohash_<n>.wav; 'none': split by file)",
        )

    def check_options(self, options):
        low, high = options.get("speed_range") or keyword_data.SPEED_RANGE
        if not 0 < low <= high:
            raise UserError(
                f"--speed-range {low} {high} is not a range of speeds: give 0 < LOW <= HIGH, "
                "e.g. 0.8 1.25"
            )
        warp = options.get("frequency_warp", FREQUENCY_WARP)
        if not 0 <= warp <= 0.3:
            raise UserError(f"--frequency-warp {warp} is out of range: use 0 (off) to 0.3")

    def load_data(self, config):
        options = config.options
        per_class = options.get("clips_per_class", 400)
        if per_class < 2:
            raise UserError(f"--clips-per-class {per_class} is too small: use at least 2")
        data = keyword_data.load_keyword_data(
            config.data,
            seed=config.seed,
            cache_dir=options.get("cache_dir"),
            tfds_data_dir=options.get("tfds_data_dir"),
            speaker_pattern=options.get("speaker_pattern"),
            train_per_class=per_class,
            validation_per_class=max(2, per_class // 8),
            test_per_class=max(2, per_class // 3),
        )
        data.augment = options.get("augment", True)
        data.speed_range = tuple(options.get("speed_range") or keyword_data.SPEED_RANGE)
        return data

    def datasets(self, data, batch_size, seed):
        train = keyword_data.to_dataset(
            data.train,
            batch_size,
            shuffle=True,
            augment=data.augment,
            seed=seed,
            noise=data.noise,
            repeat=_repeats(data),
            speed_range=data.speed_range,
        )
        return train, keyword_data.to_dataset(data.validation, batch_size)

    def num_train_examples(self, data):
        return len(data.train[1]) * _repeats(data)

    def build_model(self, config, data):
        options = config.options
        augment = options.get("augment", True)
        return build_keyword_spotter(
            len(data.labels),
            spec_augment=augment,
            frequency_warp=options.get("frequency_warp", FREQUENCY_WARP) if augment else 0,
            energy_norm=options.get("energy_norm", True),
            filters=options.get("filters", 64),
            mel_bins=options.get("mel_bins", MEL_BINS),
        )

    def compile_arguments(self, config, data):
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    def evaluate(self, model, data, figures_dir):
        figures_dir = Path(figures_dir)
        waveforms, labels = _waveforms(data.test), data.test[1]
        probabilities = model.predict(waveforms, batch_size=256, verbose=0)
        result = metrics.classification_report(labels, probabilities, data.labels)
        noisy = keyword_data.add_noise(waveforms, NOISE_TEST_SNR_DB)
        noisy_accuracy = metrics.accuracy(labels, model.predict(noisy, batch_size=256, verbose=0))
        result["metrics"][f"accuracy_{NOISE_TEST_SNR_DB}db_snr"] = noisy_accuracy
        if data.speakers:
            # Held-out files of the training speakers: the within-speaker number
            # that the test accuracy (speakers never heard) is compared with.
            seen = model.predict(_waveforms(data.validation), batch_size=256, verbose=0)
            result["metrics"]["seen_speaker_accuracy"] = metrics.accuracy(data.validation[1], seen)
        # One clip of each of the first eight labels.
        picks = [np.flatnonzero(labels == label)[0] for label in np.unique(labels)][:8]
        figures = [
            metrics.plot_confusion_matrix(
                result["confusion_matrix"], data.labels, figures_dir / "confusion_matrix.png"
            ),
            report.plot_spectrograms(
                model,
                waveforms[picks],
                [data.labels[labels[i]] for i in picks],
                figures_dir / "spectrograms.png",
            ),
        ]
        details = {k: result[k] for k in ("per_class", "confusion_matrix")}
        return result["metrics"], details, figures

    def export_spec(self, model, data):
        waveforms, labels = _waveforms(data.test), data.test[1]
        train = data.train[0]
        order = np.random.default_rng(0).permutation(len(train))[:CALIBRATION_EXAMPLES]

        def representative_data():
            for index in order:
                yield {"waveforms": train[index : index + 1].astype("float32") / 32768.0}

        return ExportSpec(
            app=self.name,
            model=model,
            serving=kws_serving.serving_endpoints(model, data.labels),
            tflite=kws_serving.tflite_endpoint(model),
            output_key="probabilities",
            test_inputs={"waveforms": waveforms},
            reference=model.predict(waveforms, batch_size=256, verbose=0),
            score=lambda probabilities: {"accuracy": metrics.accuracy(labels, probabilities)},
            representative_data=representative_data,
            labels=data.labels,
            int8_float_ops=kws_serving.FRONT_END_FLOAT_OPS,
            inputs={
                "waveforms": {
                    "dtype": "float32",
                    "shape": [None, keyword_data.CLIP_SAMPLES],
                    "note": "16 kHz mono in [-1, 1]",
                },
                "wav_bytes": {"dtype": "string", "shape": [None], "signature": "serve_wav"},
            },
            outputs={
                "probabilities": {"dtype": "float32", "shape": [None, len(data.labels)]},
                "class_id": {"dtype": "int32", "shape": [None], "formats": ["saved_model"]},
                "label": {"dtype": "string", "shape": [None], "formats": ["saved_model"]},
            },
            mediapipe_task="audio_classifier",
            mediapipe_options={"sample_rate": SAMPLE_RATE, "channels": 1},
        )

    def predict(self, model_path, inputs, options):
        top_k = options.get("top_k", 3)
        if not inputs:
            raise UserError("give one or more WAV files to classify")
        model_path = Path(model_path)
        labels = read_labels(model_path)
        if is_tflite(model_path):
            model = TFLiteModel(model_path)

            def classify(waveforms):
                return model({"waveforms": waveforms})["probabilities"]
        else:
            signature = load_saved_model(model_path).signatures["serving_default"]

            def classify(waveforms):
                return signature(waveforms=waveforms)["probabilities"].numpy()

        lines = []
        for path in inputs:
            clip = audio_lib.fit_length(audio_lib.read_wav(path), keyword_data.CLIP_SAMPLES)
            probabilities = classify(clip[None].astype("float32"))[0]
            best = np.argsort(probabilities)[::-1][:top_k]
            ranked = ", ".join(f"{labels[i]} ({probabilities[i]:.3f})" for i in best)
            lines.append(f"{path}: {ranked}")
        return lines


def _repeats(data):
    if not data.source.startswith("folder:"):
        return 1
    return max(1, -(-MIN_CLIPS_PER_EPOCH // len(data.train[1])))


def _waveforms(split):
    return split[0].astype("float32") / 32768.0
