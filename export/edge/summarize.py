"""Summarize articles with a dlapps summarization .tflite file (sentence ids in, choices out).

Needs numpy and a TFLite interpreter (ai-edge-litert or tflite-runtime);
never TensorFlow, tensorflow-text or dlapps. Copy this file, `litert.py`,
`translate.py` (its WordPiece tokenizer) and `vocabulary.txt` exported beside
the model to the device.

    python summarize.py summarization_float32.tflite article.txt

The extractive model's contract: input `sentence_ids` int32 `[batch,
sentences, tokens]`, output `selected` int32 `[batch, count]`: the indices
of the chosen sentences in document order, -1 where none. The abstractive
model's: input `source_ids` int32 `[batch, tokens]` (each sentence
tokenized on its own, all but the first with the space before it, joined
and cut), output `summary_ids` (beam search runs inside the model); the
summary joins the pieces up to `[END]`, dropping "##". Sentences are split as
the SavedModel splits them (a line break, or `.`/`!`/`?` and closing quotes
before white space, ends one); each is cut to 400 characters and tokenized
by WordPiece's longest match over the whole sentence (`translate.WordPiece`).
The summary is the chosen sentences joined by spaces.

`summarization_strings.tflite` (article strings in, summary strings out)
does all of this inside the model, with tensorflow-text's TFLite ops: it
needs the `tensorflow-text` package's op registrar, so it is not for this
runner; `dlapps predict` runs it.
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np

try:
    from . import litert  # imported as part of a package
    from .translate import WordPiece, read_vocabulary
except ImportError:
    import litert  # run as a script: the script's folder is on sys.path
    from translate import WordPiece, read_vocabulary

EdgeError = litert.EdgeError
SEPARATOR = "\x1e"
LINE_BREAK = r"[ \t\r\f\v]*\n[ \t\r\n\f\v]*"
SENTENCE_END = r"([.!?][\"'\)\]]*)[ \t\r\n\f\v]+"
SENTENCE_CHARACTERS = 400


def split_sentences(document):
    """The sentences of a document, as `dlapps.translation.rouge.split_sentences` finds them."""
    text = re.sub(LINE_BREAK, SEPARATOR, document.strip(" \t\r\n\f\v"))
    text = re.sub(SENTENCE_END, r"\1" + SEPARATOR, text)
    sentences = (s.strip(" \t\r\n\f\v") for s in text.split(SEPARATOR))
    return [s for s in sentences if s]


def summarize(model_path, articles, vocabulary_path=None, num_threads=None):
    """Summaries of a list of article texts, in one batch; returns a list of strings."""
    if not articles:
        return []
    vocabulary_path = vocabulary_path or Path(model_path).parent / "vocabulary.txt"
    tokenizer = WordPiece(read_vocabulary(vocabulary_path))
    interpreter = litert.load_interpreter(model_path, num_threads=num_threads)
    details = litert.input_details(interpreter)
    if "articles" in details:
        raise EdgeError(
            f"{Path(model_path).name} takes strings and needs tensorflow-text's TFLite ops: "
            "run it with `dlapps predict`, or give summarization_float32.tflite here"
        )
    documents = [split_sentences(article) for article in articles]
    if "source_ids" in details:  # the abstractive model
        length = int(details["source_ids"]["shape"][1])
        batch = np.zeros((len(articles), length), np.int32)
        for row, sentences in enumerate(documents):
            ids = []
            for index, sentence in enumerate(sentences):
                ids += tokenizer.encode((" " if index else "") + sentence[:SENTENCE_CHARACTERS])
            batch[row, : min(length, len(ids))] = ids[:length]
        outputs = litert.run_named(interpreter, {"source_ids": batch})["summary_ids"]
        return [tokenizer.decode(row) for row in outputs]
    if "sentence_ids" not in details:
        raise EdgeError(f"not a summarization model: its inputs are {sorted(details)}")
    _, sentences_per_document, length = (int(n) for n in details["sentence_ids"]["shape"])
    batch = np.zeros((len(articles), sentences_per_document, length), np.int32)
    for row, sentences in enumerate(documents):
        for index, sentence in enumerate(sentences[:sentences_per_document]):
            ids = tokenizer.encode(sentence[:SENTENCE_CHARACTERS])[:length]
            batch[row, index, : len(ids)] = ids
    selected = litert.run_named(interpreter, {"sentence_ids": batch})["selected"]
    return [
        " ".join(sentences[i] for i in row if 0 <= i < len(sentences))
        for sentences, row in zip(documents, selected, strict=True)
    ]


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .tflite file (summarization_float32.tflite, ...)")
    parser.add_argument("articles", nargs="+", help="article .txt files (UTF-8)")
    parser.add_argument("--vocabulary", help="vocabulary.txt (default: beside the model)")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    args = parser.parse_args(argv)
    try:
        texts = []
        for name in args.articles:
            try:
                texts.append(Path(name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as error:
                raise EdgeError(f"cannot read {name} as UTF-8 text: {error}") from None
        summaries = summarize(args.model, texts, args.vocabulary, args.threads)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, summary in zip(args.articles, summaries, strict=True):
        print(f"{name}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
