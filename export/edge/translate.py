"""Translate sentences with a dlapps translation .tflite file (token ids in, ids out).

Needs numpy and a TFLite interpreter (ai-edge-litert or tflite-runtime);
never TensorFlow, tensorflow-text or dlapps. Copy this file, `litert.py`
and the two vocabularies exported beside the model to the device.

    python translate.py translation_float32.tflite "twenty-one" "three hundred"
    twenty-one -> veintiuno
    three hundred -> trescientos

The model contract: input `source_ids` int32 `[batch, source_length]`,
output `target_ids` int32 `[batch, target_length]`; the decoding loop runs
inside the model (beam search for a model trained on real text, greedy for
the built-in data: `report.json` says which), builtin ops only, with a
key/value cache. Sentences longer than `source_length` tokens are cut.
Tokenizing is WordPiece's greedy longest match over the whole sentence
with `source_vocabulary.txt` (later pieces carry a "##" prefix);
detokenizing joins the `target_vocabulary.txt` pieces up to `[END]`,
dropping "##". This is exactly what tensorflow-text's
`FastWordpieceTokenizer(no_pretokenization=True)` does inside the
SavedModel, so both give the same translations.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

try:
    from . import litert  # imported as part of a package
except ImportError:
    import litert  # run as a script: the script's folder is on sys.path

EdgeError = litert.EdgeError
PAD_ID, UNKNOWN_ID, START_ID, END_ID = range(4)
CONTINUATION = "##"
MAX_BYTES = 2000


def read_vocabulary(path):
    """Token per line, id = line number; raises EdgeError if the file is missing."""
    try:
        return Path(path).read_text(encoding="utf-8").split("\n")[:-1]
    except FileNotFoundError:
        raise EdgeError(
            f"vocabulary not found: {path} (it is exported beside the .tflite file)"
        ) from None


class WordPiece:
    """Greedy longest-match-first WordPiece over a whole sentence.

    Example:

    >>> WordPiece(["[PAD]", "[UNK]", "[START]", "[END]", "veinti", "##uno"]).encode("veintiuno")
    [4, 5]
    """

    def __init__(self, vocabulary):
        self.vocabulary = list(vocabulary)
        self.ids = {token: index for index, token in enumerate(self.vocabulary)}
        self.longest = max(len(token) for token in self.vocabulary)

    def encode(self, sentence):
        """Token ids of `sentence`; `[UNK]` alone if some part matches nothing."""
        if len(sentence.encode("utf-8")) > MAX_BYTES:
            return [UNKNOWN_ID]
        ids, start = [], 0
        while start < len(sentence):
            prefix = CONTINUATION if start else ""
            for end in range(min(len(sentence), start + self.longest), start, -1):
                token_id = self.ids.get(prefix + sentence[start:end])
                if token_id is not None:
                    ids.append(token_id)
                    start = end
                    break
            else:
                return [UNKNOWN_ID]
        return ids

    def decode(self, ids):
        """Text of ids up to the first `[END]`; special tokens add nothing."""
        pieces = []
        for token_id in ids:
            if token_id == END_ID:
                break
            if token_id > START_ID:
                pieces.append(self.vocabulary[token_id].removeprefix(CONTINUATION))
        return "".join(pieces)


def translate(model_path, sentences, vocabulary_dir=None, num_threads=None):
    """Translate a list of sentences in one batch; returns a list of strings."""
    if not sentences:
        return []
    vocabulary_dir = Path(vocabulary_dir or Path(model_path).parent)
    source = WordPiece(read_vocabulary(vocabulary_dir / "source_vocabulary.txt"))
    target = WordPiece(read_vocabulary(vocabulary_dir / "target_vocabulary.txt"))
    interpreter = litert.load_interpreter(model_path, num_threads=num_threads)
    details = litert.input_details(interpreter)
    if "source_ids" not in details:
        raise EdgeError(
            f"not a token-id translation model: its inputs are {sorted(details)} "
            "(translation_strings.tflite takes strings and needs tensorflow-text's ops)"
        )
    length = int(details["source_ids"]["shape"][1])
    batch = np.zeros((len(sentences), length), np.int32)
    for row, sentence in enumerate(sentences):
        ids = source.encode(sentence)[:length]
        batch[row, : len(ids)] = ids
    outputs = litert.run_named(interpreter, {"source_ids": batch})
    return [target.decode(row) for row in outputs["target_ids"]]


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .tflite file (translation_float32.tflite, ...)")
    parser.add_argument("sentences", nargs="+", help="sentences to translate")
    parser.add_argument("--vocabularies", help="folder of the vocabularies (default: the model's)")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    args = parser.parse_args(argv)
    try:
        translations = translate(args.model, args.sentences, args.vocabularies, args.threads)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for sentence, translation in zip(args.sentences, translations, strict=True):
        print(f"{sentence} -> {translation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
