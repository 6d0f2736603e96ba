"""Summaries of summarization_strings.tflite against the SavedModel and Keras, article by article.

Trains the default summarization model (or `abstractive`) through the
driver, exports it, and runs the unseen test articles through the Keras
model, the SavedModel's `serving_default` and `summarization_strings.tflite`
on the LiteRT interpreter (tensorflow-text's ops registered): it counts the
identical summary strings and writes `<output>/<model>/parity.json`. A
training run: hold the heavy lock.

    flock /tmp/dlapps-heavy.lock .venv/bin/python benchmarks/summarization_strings_parity.py \\
        extractive /tmp/summ-parity [ARTICLES]
"""

import json
import sys
import time
from pathlib import Path

import tensorflow as tf

from dlapps import training
from dlapps.application import get_application
from dlapps.export import tflite
from dlapps.translation import abstractive, rouge
from dlapps.translation.summarization_app import predict_logits, select, summaries_of


def keras_summaries(result, limit):
    data = result.data
    if data.model == "extractive":
        ids = data.ids["test"][:limit]
        selected = select(predict_logits(result.model, ids), ids, data.selection).numpy()
        return summaries_of(data.sentences["test"][:limit], selected)
    decoded = data.decoded_test
    if decoded is None or len(decoded) < limit:
        decoded = abstractive.decode(
            result.model, data.sequences.source_ids("test")[:limit], data.beam_width
        )
    return data.tokenizer.detokenize_numpy(decoded[:limit])


def main(model, output, limit=None):
    scratch = Path(output) / model
    start = time.time()
    config = training.TrainConfig(
        app="summarization",
        workdir=str(scratch / "runs"),
        output=str(scratch / "models"),
        restart=True,
        verbose=2,
        seed=0,
        options={"model": model},
    )
    result = training.run(get_application("summarization"), config)
    version = Path(result.report["path"])
    articles = list(result.data.documents.test[0])[:limit]
    references = result.data.documents.test[1][: len(articles)]
    keras = keras_summaries(result, len(articles))
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    saved = []
    for at in range(0, len(articles), 64):
        batch = tf.constant(articles[at : at + 64])
        saved += [s.decode() for s in signature(articles=batch)["summaries"].numpy()]
    strings_file = version / "summarization_strings.tflite"
    lite = tflite.TFLiteModel(strings_file).run_batched({"articles": articles}, 64)["summaries"]
    lite = [bytes(s).decode() for s in lite]
    report = {
        "model": model,
        "test_articles": len(articles),
        "strings_tflite_identical_to_saved_model": sum(map(str.__eq__, lite, saved)),
        "saved_model_identical_to_keras": sum(map(str.__eq__, saved, keras)),
        "strings_tflite_identical_to_keras": sum(map(str.__eq__, lite, keras)),
        "rougeL_keras": rouge.rouge_scores(keras, references)["rougeL"],
        "rougeL_strings_tflite": rouge.rouge_scores(lite, references)["rougeL"],
        "ops": sorted(tflite.op_names(strings_file.read_bytes())),
        "exports": [
            {
                k: e.get(k)
                for k in ("format", "bytes", "identical_to_keras", "documents_compared")
                + ("latency_ms", "latency_ms_batch_32")
            }
            | {"rougeL": e["metrics"].get("rougeL")}
            for e in result.report["exports"]
        ],
        "epochs": result.report.get("training", {}).get("epochs"),
        "seconds": time.time() - start,
        "version": str(version),
    }
    print(json.dumps(report, indent=1))
    (scratch / "parity.json").write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
