"""
Title: Extractive summarization with a Transformer sentence scorer, trained with model.fit
Description: Learn which sentences of an article belong in its summary (labels
from a greedy ROUGE oracle), compare with Lead-N on unseen articles, and
export a SavedModel that takes article strings and returns summary strings.

    python apps/summarization.py                           # built-in reports, about 3 minutes
    python apps/summarization.py --data news.jsonl         # {"article": ..., "summary": ...}
    python apps/summarization.py --data bbc/ --minutes 10  # articles/<id>.txt + summaries/<id>.txt
"""

import argparse
from pathlib import Path

import keras

from dlapps import callbacks, optimizers, report, translation
from dlapps.export import export_model, exporter

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--data", default="reports", help="reports, a .jsonl/.tsv file or a folder")
parser.add_argument("--documents", type=int, default=2000, help="built-in training articles")
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--minutes", type=float, default=7, help="training time budget")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument(
    "--tflite", nargs="*", metavar="FORMAT", help="TFLite variants to write (default: all)"
)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/summarization_script")
args = parser.parse_args()
Path(args.workdir).mkdir(parents=True, exist_ok=True)  # the figures go there

"""
## Data

Articles are split into sentences (in TensorFlow, the same op the SavedModel
runs), tokenized with WordPiece subwords learned on the training articles,
and each sentence is labelled 1 if the greedy ROUGE oracle picks it for the
reference summary. Identical articles always share a split.
"""
documents = translation.load_documents(
    args.data,
    train_size=args.documents,
    validation_size=max(10, min(200, args.documents // 10)),
    test_size=max(10, min(300, args.documents // 6)),
)
data = translation.prepare_documents(documents)
print(data.summary())


# Documents of similar length are batched together, each batch cut to its longest
# document and sentence (padding is masked, so only the cost changes).
train, validation = translation.extractive_datasets(data, args.batch_size, seed=0)


"""
## Model: one encoder over each sentence's tokens, one over the document's sentences
"""
model = translation.build_extractive_scorer(
    data.tokenizer.vocabulary_size, data.max_sentences, data.sentence_length
)
steps_per_epoch = -(-len(data.labels["train"]) // args.batch_size)
model.compile(
    optimizer=optimizers.make_optimizer("adam", learning_rate=5e-4, clipnorm=1.0),
    loss=translation.MaskedBinaryCrossEntropy(),
)
anneal = callbacks.AnnealToBudget(
    5e-4, steps_per_epoch * args.epochs, steps_per_epoch, seconds=args.minutes * 60
)
model.fit(
    train,
    validation_data=validation,
    epochs=args.epochs,
    callbacks=[
        callbacks.BuildOptimizer(),  # the first step is traced once, not twice
        anneal,
        keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True),
        callbacks.TimeBudget(args.minutes * 60),
    ],
)

"""
## Evaluation: ROUGE on unseen articles, beside Lead-N on the same split

How many sentences to keep, and N of Lead-N, are chosen on validation.
"""
application = translation.SummarizationApp()
metrics, details, figures = application.evaluate(model, data, args.workdir)
print(
    f"test ROUGE-L: model {metrics['rougeL']:.4f}, Lead-{metrics['lead_n']} "
    f"{metrics['lead_n_rougeL']:.4f}, Lead-3 {metrics['lead3_rougeL']:.4f}"
)
for example in details["examples"][:3]:
    print(f"  reference: {example['reference']}\n  summary:   {example['summary']}")

"""
## Export: the SavedModel splits, tokenizes and selects; strings in, strings out
"""
spec = exporter.with_tflite_formats(application.export_spec(model, data), args.tflite)
exported = export_model(spec, args.output, metrics, figures=figures)
print(report.format_summary(exported))
