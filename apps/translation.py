"""
Title: English-to-Spanish translation with a Transformer, trained with model.fit
Description: Train a small encoder-decoder Transformer on numbers and dates
written out by num2words and Babel (or your own TSV of sentence pairs), then
export a SavedModel that takes and returns strings, and TFLite files.

    python apps/translation.py                          # about 4 minutes on 2 CPU cores
    python apps/translation.py --model gru              # the RNN baseline
    python apps/translation.py --data pairs.tsv         # source<TAB>target per line
"""

import argparse
import math

from dlapps import callbacks, optimizers, report, translation
from dlapps.export import export_model

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--data", default="synthetic", help="synthetic, numbers, dates or a TSV file")
parser.add_argument("--model", choices=["transformer", "gru"], default="transformer")
parser.add_argument("--pairs", type=int, default=24000, help="built-in training pairs")
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/translation_script")
args = parser.parse_args()

"""
## Data

Pairs of sentences; no test sentence is in training. The tokenizers'
vocabularies are built from the training sentences: whole words where they
are frequent, single characters for anything else.
"""
pairs = translation.load_parallel_data(args.data, train_size=args.pairs)
data = translation.prepare_data(pairs)
print(data.summary())
print(pairs.train[0][0], "->", pairs.train[1][0])
application = translation.TranslationApp()
train_dataset, validation_dataset = application.datasets(data, args.batch_size, seed=0)

"""
## Model

The encoder reads the source; the decoder predicts each target token from
the tokens before it (teacher forcing) and from the encoder's output.
"""
builder = (
    translation.build_transformer
    if args.model == "transformer"
    else (translation.build_gru_translator)
)
model = builder(
    data.source_tokenizer.vocabulary_size,
    data.target_tokenizer.vocabulary_size,
    source_length=data.source_length,
    target_length=data.target_length,
)

"""
## Training

Adam with a warm-up and cosine decay; the loss and accuracy skip padding.
"""
steps_per_epoch = math.ceil(len(pairs.train[0]) / args.batch_size)
optimizer = optimizers.make_optimizer(
    "adam",
    learning_rate=1e-3,
    schedule="cosine",
    total_steps=steps_per_epoch * args.epochs,
    warmup_steps=min(steps_per_epoch, steps_per_epoch * args.epochs - 1),
    clipnorm=1.0,
)
model.compile(
    optimizer=optimizer,
    loss=translation.MaskedCrossEntropy(),
    metrics=[translation.masked_accuracy],
)
model.fit(
    train_dataset,
    validation_data=validation_dataset,
    epochs=args.epochs,
    callbacks=callbacks.standard_callbacks(args.workdir, patience=4),
)

"""
## Evaluation: decode the test sentences greedily, score BLEU and exact match
"""
metrics, details, figures = application.evaluate(model, data, args.workdir)
print(f"test BLEU: {metrics['bleu']:.2f}, exact match: {metrics['exact_match']:.4f}")
for example in details["examples"][:5]:
    print(f"  {example['source']} -> {example['translation']}")

"""
## Export

The SavedModel tokenizes, decodes and detokenizes in its graph:
`serving_default` takes a batch of strings and returns strings.
"""
exported = export_model(application.export_spec(model, data), args.output, metrics, figures=figures)
print(report.format_summary(exported))
