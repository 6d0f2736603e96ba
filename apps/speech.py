"""
Title: Voice commands with a DS-CNN, from raw audio to TF Serving and TFLite
Description: Train a keyword spotter on synthesised speech (or your own WAV
folder), then export it as a SavedModel and four TFLite files.

Run it as is, or copy it and change what you like:

    python apps/speech.py                            # built-in synthetic commands
    python apps/speech.py --data commands/ --epochs 30   # commands/<label>/<clip>.wav
"""

import argparse
import math

from dlapps import callbacks, optimizers, report, speech
from dlapps.export import export_model, exporter

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--data", default="synthetic", help="synthetic, tfds:NAME or a folder")
parser.add_argument("--clips-per-class", type=int, default=400)
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument(
    "--tflite", nargs="*", metavar="FORMAT", help="TFLite variants to write (default: all)"
)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/speech_script")
args = parser.parse_args()

"""
## Data

One-second clips at 16 kHz: ten commands, `_silence_` and `_unknown_`. The
built-in clips are spoken by eSpeak NG voices; the validation and test
voices never speak in training. Training clips get a random gain, shift
and background noise each epoch.
"""
data = speech.load_keyword_data(
    args.data,
    train_per_class=args.clips_per_class,
    validation_per_class=max(2, args.clips_per_class // 8),
    test_per_class=max(2, args.clips_per_class // 3),
)
train_dataset = speech.to_dataset(data.train, args.batch_size, shuffle=True, augment=True)
validation_dataset = speech.to_dataset(data.validation, args.batch_size)
print(data.summary())

"""
## Model

The model computes its own log-mel spectrogram from the raw waveform, so it
takes audio samples directly: so will the exports.
"""
model = speech.build_keyword_spotter(num_classes=len(data.labels))

"""
## Training

AdamW with a cosine learning-rate schedule after one epoch of warmup, and
the standard callbacks (checkpoint, early stopping, TensorBoard, CSV log,
backup and restore).
"""
steps_per_epoch = math.ceil(len(data.train[1]) / args.batch_size)
optimizer = optimizers.make_optimizer(
    "adamw",
    learning_rate=3e-3,
    schedule="cosine",
    total_steps=steps_per_epoch * args.epochs,
    warmup_steps=min(steps_per_epoch, steps_per_epoch * args.epochs - 1),
)
model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(
    train_dataset,
    validation_data=validation_dataset,
    epochs=args.epochs,
    callbacks=callbacks.standard_callbacks(args.workdir, patience=8),
)

"""
## Evaluation

Accuracy on held-out voices, clean and with white noise at 10 dB SNR.
"""
test_waveforms = data.test[0] / 32768.0
loss, accuracy = model.evaluate(test_waveforms, data.test[1], verbose=0)
_, noisy_accuracy = model.evaluate(speech.add_noise(test_waveforms, 10), data.test[1], verbose=0)
print(f"test accuracy: {accuracy:.4f} (at 10 dB SNR: {noisy_accuracy:.4f})")

"""
## Export

A new version directory under saved_models/speech_kws/: the SavedModel (for
TF Serving, with a WAV-bytes signature too) and float32, float16,
dynamic-range and int8 TFLite files; the int8 file keeps its spectrogram
front end in float.
"""
spec = exporter.with_tflite_formats(
    speech.KeywordSpottingApp().export_spec(model, data), args.tflite
)
exported = export_model(spec, args.output, metrics={"accuracy": accuracy})
print(report.format_summary(exported))
