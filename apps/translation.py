"""
Title: English-to-Spanish translation with a Transformer, trained with model.fit
Description: Train a small encoder-decoder Transformer on numbers and dates
written out by num2words and Babel, or on your own TSV of sentence pairs
(English<TAB>Spanish[<TAB>attribution], as Tatoeba/Anki exports are), then
export a SavedModel that takes and returns strings, and TFLite files.

    python apps/translation.py                          # numbers and dates, about 5 minutes
    python apps/translation.py --data spa.tsv --minutes 10
    python apps/translation.py --model gru              # the RNN baseline
"""

import argparse
import math

from dlapps import callbacks, optimizers, report, translation
from dlapps.export import export_model, exporter

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--data", default="synthetic", help="synthetic, numbers, dates or a TSV file")
parser.add_argument("--model", choices=["transformer", "gru"], default="transformer")
parser.add_argument("--pairs", type=int, default=24000, help="built-in training pairs")
parser.add_argument("--epochs", type=int, default=12)
parser.add_argument("--minutes", type=float, default=8, help="training time budget")
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument(
    "--tflite", nargs="*", metavar="FORMAT", help="TFLite variants to write (default: all)"
)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/translation_script")
args = parser.parse_args()

"""
## Data

Pairs of sentences; no test source sentence is in training. The tokenizers
are learned from the training sentences: WordPiece subwords for real text
(an unseen word becomes a few known pieces), whole words for the built-in
data. Batches hold sentences of similar length, padded to their longest.
"""
pairs = translation.load_parallel_data(args.data, train_size=args.pairs)
data = translation.prepare_data(pairs)
real_text = data.vocabulary == "wordpiece"
print(data.summary())
train_dataset, validation_dataset = translation.make_datasets(
    data, args.batch_size, seed=0, bucketing=args.model == "transformer"
)

"""
## Model: the decoder predicts each target token from the ones before it and the source
"""
builder = {"transformer": translation.build_transformer, "gru": translation.build_gru_translator}
sizes = (
    {"hidden_dim": 256, "intermediate_dim": 512}
    if real_text and args.model == "transformer"
    else {}
)
model = builder[args.model](
    data.source_tokenizer.vocabulary_size,
    data.target_tokenizer.vocabulary_size,
    source_length=data.source_length,
    target_length=data.target_length,
    **sizes,
)

"""
## Training

Adam; the learning rate warms up, then decays to zero on a cosine that ends
where training ends: at the last epoch or when the time budget runs out.
Label smoothing (0.1) for real text; the loss and accuracy skip padding.
"""
steps_per_epoch = math.ceil(int(data.ids["train"][0].nrows()) / args.batch_size)
model.compile(
    optimizer=optimizers.make_optimizer("adam", learning_rate=1e-3, clipnorm=1.0),
    loss=translation.MaskedCrossEntropy(label_smoothing=0.1 if real_text else 0.0),
    metrics=[translation.masked_accuracy],
)
anneal = callbacks.AnnealToBudget(
    1e-3, steps_per_epoch * args.epochs, steps_per_epoch, seconds=args.minutes * 60
)
model.fit(
    train_dataset,
    validation_data=validation_dataset,
    epochs=args.epochs,
    callbacks=[
        anneal,
        *callbacks.standard_callbacks(
            args.workdir, patience=6, time_budget_seconds=args.minutes * 60
        ),
    ],
)

"""
## Evaluation: unseen test sentences, scored against all their references
"""
application = translation.TranslationApp()
data.decoding = "beam" if real_text else "greedy"
metrics, details, figures = application.evaluate(model, data, args.workdir)
print(f"test BLEU: {metrics['bleu']:.2f}, chrF: {metrics['chrf']:.2f}")
for example in details["examples"][:5]:
    print(f"  {example['source']} -> {example['translation']}")

"""
## Export: the SavedModel tokenizes, decodes and detokenizes; strings in, strings out
"""
spec = exporter.with_tflite_formats(application.export_spec(model, data), args.tflite)
exported = export_model(spec, args.output, metrics, figures=figures)
print(report.format_summary(exported))
