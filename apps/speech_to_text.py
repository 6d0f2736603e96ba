"""
Title: Speech-to-text with CTC, from raw audio to a SavedModel that returns text
Description: Train a convolutional + bidirectional GRU recognizer with CTC loss on
open-vocabulary synthesised sentences (or your recordings), then export it.

Run it as is, or copy it and change what you like:

    python apps/speech_to_text.py                       # built-in synthetic sentences
    python apps/speech_to_text.py --data LJSpeech-1.1/  # metadata.csv + wavs/
    python apps/speech_to_text.py --data cv/en/validated.tsv  # Common Voice
"""

import argparse
import math

from dlapps import callbacks, optimizers, report
from dlapps.export import export_model, exporter
from dlapps.speech import sentence_data, speech_to_text
from dlapps.speech.stt_app import SpeechToTextApp

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--data", default="synthetic", help="synthetic, LJSpeech or Common Voice")
parser.add_argument("--sentences", type=int, default=6000)
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--rnn-units", type=int, default=160)
parser.add_argument("--rnn-layers", type=int, default=3)
parser.add_argument(
    "--tflite", nargs="*", metavar="FORMAT", help="TFLite variants to write (default: all)"
)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/speech_to_text_script")
args = parser.parse_args()

"""
## Data

Clips of any length with their transcripts, lower-cased to letters,
apostrophe and space. The built-in test voices never speak in training, and
the test sentences are not training sentences.
"""
data = sentence_data.load_sentence_data(
    args.data,
    train_size=args.sentences,
    validation_size=max(2, min(200, args.sentences // 12)),
    test_size=max(2, min(300, args.sentences // 6)),
)
app = SpeechToTextApp()
train_dataset, validation_dataset = app.datasets(data, args.batch_size, seed=0)
print(data.summary())

"""
## Model

Log-mel front end, SpecAugment masks (training only), two stride-2
convolutions, bidirectional GRUs and a softmax per frame over the
characters plus the CTC blank. It takes zero-padded batches of any length:
padding is found and masked in the graph.
"""
model = speech_to_text.build_speech_to_text(rnn_units=args.rnn_units, rnn_layers=args.rnn_layers)

"""
## Training with CTC

CTC sums over every alignment of the transcript to the frames, so no one
needs to mark where each letter is spoken. Gradient clipping keeps the
early, large CTC gradients in check.
"""
steps_per_epoch = math.ceil(len(data.train[1]) / args.batch_size)
optimizer = optimizers.make_optimizer(
    "adam",
    learning_rate=2e-3,
    schedule="cosine",
    total_steps=steps_per_epoch * args.epochs,
    warmup_steps=min(steps_per_epoch, steps_per_epoch * args.epochs - 1),
    clipnorm=5.0,
)
model.compile(optimizer=optimizer, loss=speech_to_text.ctc_loss)
model.fit(
    train_dataset,
    validation_data=validation_dataset,
    epochs=args.epochs,
    callbacks=callbacks.standard_callbacks(args.workdir, patience=6),
)

"""
## Evaluation: greedy decoding, word and character error rates
"""
logits = model.predict(sentence_data.pad_batch(data.test[0]), batch_size=32, verbose=0)
transcripts = speech_to_text.greedy_decode_numpy(logits)
rates = speech_to_text.error_rates(data.test[1], transcripts)
print(f"test WER: {rates['wer']:.4f}, CER: {rates['cer']:.4f}")
for reference, transcript in list(zip(data.test[1], transcripts, strict=True))[:5]:
    print(f"  {reference!r} -> {transcript!r}")

"""
## Export

The SavedModel takes up to 30 s, decodes in the graph (greedy, or beam search
in `serve_beam`) and returns strings; the TFLite files take 3 s and return
the logits.
"""
spec = exporter.with_tflite_formats(app.export_spec(model, data), args.tflite)
exported = export_model(spec, args.output, metrics=rates)
print(report.format_summary(exported))
