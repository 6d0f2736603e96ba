"""The summarization application: articles in, short summaries out, beside translation.

It shares translation's WordPiece tokenizer, Transformer blocks, training
driver and exporter. The default model is extractive (`extractive_scorer`):
it picks the document's most summary-worthy sentences, which a small model
trained from scratch on a few thousand documents does reliably. Lead-N (the
first N sentences, N chosen on validation) and Lead-3 are scored on the same
test split beside it.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps.application import Application, check_minimums
from dlapps.callbacks import anneal_to_budget
from dlapps.datasets import bucket_by_length
from dlapps.errors import UserError
from dlapps.export import Endpoint, ExportSpec, TFLiteModel, load_saved_model
from dlapps.export.tflite import is_tflite
from dlapps.translation import abstractive, document_data, rouge, sentence_splitter
from dlapps.translation.extractive_scorer import (
    MaskedBinaryCrossEntropy,
    build_extractive_scorer,
    select_sentences,
)
from dlapps.translation.losses import MaskedCrossEntropy, masked_accuracy
from dlapps.translation.tokenizer import PAD_ID, SubwordTokenizer
from dlapps.translation.translation_app import make_datasets

TFLITE_FORMATS = ("tflite_float32", "tflite_float16", "tflite_dynamic")
MODELS = ("extractive", "abstractive")
# Built-in training documents of each model, sized with its epochs (see `defaults`).
DOCUMENTS = {"extractive": 2000, "abstractive": 2500}
# The most of a document that is read: sentences, and tokens per sentence
# (more are cut); `prepare_data` reads less where the training data needs less.
# News articles have 20-40 sentences; their summary sentences sit mostly early.
MAX_SENTENCES, SENTENCE_TOKENS = 64, 48
# The sentences read cover this share of the training summaries' oracle sentences.
ORACLE_COVERAGE = 0.99
# Characters of a sentence given to the tokenizer (it matches the whole
# sentence at once, up to 2000 bytes); tokens past SENTENCE_TOKENS are cut anyway.
SENTENCE_CHARACTERS = 400
# Summaries of 1..MAX_SELECTED sentences, or a share of the document's sentences.
MAX_SELECTED = 10
RATIOS = (0.2, 0.3, 0.4, 0.5)
MAX_LEAD = 10
# Test documents each exported file is compared with Keras on (the report
# says how many): all of a built-in test split for the scorer; beam search over
# every file takes longer, so the writer's files are compared on fewer.
PARITY_DOCUMENTS = 300
PARITY_ABSTRACTIVE = 100


@dataclasses.dataclass
class SummarizationData:
    """Documents, their sentences as token ids and their oracle labels.

    Attributes:
        documents: the `document_data.DocumentData`.
        tokenizer: a `SubwordTokenizer` (WordPiece) built on the training sentences.
        max_sentences, sentence_length: what the model reads of a document.
        ids: split -> int32 `(documents, max_sentences, sentence_length)`.
        labels: split -> float32 `(documents, max_sentences)`: 1 for an
            oracle sentence, 0 for another, -1 for no sentence.
        sentences: split -> the sentences of each document (all of them).
        selection: `(count, ratio, by_position)` chosen on validation (see
            `choose_selection`).
    """

    documents: object
    tokenizer: SubwordTokenizer
    max_sentences: int
    sentence_length: int
    ids: dict
    labels: dict
    sentences: dict
    selection: tuple | None = None
    scorer_selection: tuple | None = None
    lengths: dict = dataclasses.field(default_factory=dict)
    model: str = "extractive"
    sequences: object = None
    beam_width: int = 4
    decoded_test: np.ndarray | None = None

    def summary(self):
        return {
            **self.documents.summary(),
            "vocabulary": self.tokenizer.vocabulary_size,
            "max_sentences": self.max_sentences,
            "sentence_length": self.sentence_length,
            **self.lengths,
            "model": self.model,
            **(
                {
                    "source_length": self.sequences.source_length,
                    "target_length": self.sequences.target_length,
                    **self.sequences.lengths,
                }
                if self.sequences
                else {}
            ),
        }


def encode_documents(documents, tokenizer, max_sentences, sentence_length, found=None):
    """tf.string documents -> `(sentence ids (batch, S, T), sentences tf.RaggedTensor)`.

    The one preprocessing path: training data, the SavedModel graph, the
    strings TFLite file and `dlapps predict` all run it (the edge runner
    mirrors it in Python). Sentences are split on bytes
    (`sentence_splitter`), the first `max_sentences` of each document are
    cut to `SENTENCE_CHARACTERS` characters and tokenized; every op has a
    TFLite builtin or a tensorflow-text TFLite kernel.

    Args:
        found: the documents' `sentence_splitter.SentenceOffsets`, if known.
    """
    documents = tf.convert_to_tensor(documents, tf.string)
    if found is None:
        found = sentence_splitter.sentence_offsets(documents, SENTENCE_CHARACTERS)
    splits = found.row_splits
    kept = tf.boolean_mask(tf.range(tf.shape(found.starts)[0]), found.index < max_sentences)
    kept_counts = tf.minimum(splits[1:] - splits[:-1], max_sentences)
    kept_splits = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(kept_counts)], 0)
    flat = sentence_splitter.substrings(
        documents, kept_splits, tf.gather(found.starts, kept), tf.gather(found.cut_ends, kept)
    )
    ids = tokenizer.encode(flat, sentence_length)
    ragged = tf.RaggedTensor.from_row_splits(ids, kept_splits, validate=False)
    sentences = tf.RaggedTensor.from_row_splits(
        sentence_splitter.substrings(documents, splits, found.starts, found.ends),
        splits,
        validate=False,
    )
    return ragged.to_tensor(PAD_ID, shape=[None, max_sentences, sentence_length]), sentences


def join_selected(documents, found, selected):
    """The summaries (tf.string `(batch,)`): the `selected` sentences joined by spaces.

    `selected` holds `select_sentences` indices (document order, -1 last)
    into each document's sentences, whose offsets are `found`. TFLite
    builtins cannot join strings, so this gathers the chosen sentences,
    joins each row with tensorflow-text's `ngrams` (`STRING_JOIN`, one
    n-gram as wide as the row) and cuts the spaces of the unused slots off
    the end with `ByteSplitter.split_by_offsets`.
    """
    import tensorflow_text as tf_text

    documents = tf.convert_to_tensor(documents, tf.string)
    selected = tf.convert_to_tensor(selected, tf.int32)
    count = selected.shape[1]
    splits = tf.cast(found.row_splits, tf.int32)
    flat = sentence_splitter.substrings(
        documents, found.row_splits, found.starts, found.ends, blanks=1
    )
    lengths = tf.concat([found.ends - found.starts, tf.zeros([1], tf.int32)], 0)
    chosen = selected >= 0
    index = tf.where(chosen, splits[:-1, None] + selected, splits[-1])  # the blank: none
    rows = tf.shape(selected, out_type=tf.int64)[0]
    # Rows as a RaggedTensor: tensorflow-text 2.21's dense STRING_JOIN kernel crashes
    # (segmentation fault) on 100 rows of 3.
    picked = tf.RaggedTensor.from_row_splits(
        tf.gather(flat, tf.reshape(index, [-1])), tf.range(rows + 1) * count, validate=False
    )
    joined = tf_text.ngrams(
        picked, count, reduction_type=tf_text.Reduction.STRING_JOIN, string_separator=" "
    ).flat_values
    used = tf.reduce_sum(tf.cast(chosen, tf.int32), axis=1)
    length = tf.reduce_sum(tf.gather(lengths, index), axis=1) + tf.maximum(used - 1, 0)
    one_each = tf.range(rows + 1)
    joined = tf_text.ByteSplitter().split_by_offsets(
        joined,
        tf.RaggedTensor.from_row_splits(tf.zeros_like(length), one_each, validate=False),
        tf.RaggedTensor.from_row_splits(length, one_each, validate=False),
    )
    return joined.flat_values


def summaries_of(sentences, selected):
    """The same as `join_selected` in Python: lists of sentences, index rows -> list of str."""
    return [
        " ".join(doc[i] for i in row if 0 <= i < len(doc)).strip()
        for doc, row in zip(sentences, np.asarray(selected), strict=True)
    ]


def prepare_data(
    documents, max_sentences=MAX_SENTENCES, sentence_tokens=SENTENCE_TOKENS, vocabulary_size=8000
):
    """Splits sentences, learns the WordPiece vocabulary, encodes and labels every split.

    How much of a document is read comes from the training data: the fewest
    sentences that hold `ORACLE_COVERAGE` of the training summaries' oracle
    sentences (at most `max_sentences`), and tokens per sentence 1.2 times
    the 99th percentile of sentence lengths (at most `sentence_tokens`).
    """
    train_sentences = _sentences(documents.train[0])
    flat = [s[:SENTENCE_CHARACTERS] for doc in train_sentences for s in doc]
    tokenizer = SubwordTokenizer.build(flat, vocabulary_size, "wordpiece")
    counts = np.array([len(doc) for doc in train_sentences])
    lengths = tokenizer.tokenize(tf.constant(flat)).row_lengths().numpy()
    # Oracle labels of whole training documents: where the summary sentences sit.
    full_labels = [
        rouge.oracle_labels(doc, summary)
        for doc, summary in zip(train_sentences, documents.train[1], strict=True)
    ]
    positions = np.array([i for row in full_labels for i, label in enumerate(row) if label])
    needed = 1
    if len(positions):
        needed = int(np.quantile(positions, ORACLE_COVERAGE, method="higher")) + 1
    max_sentences = int(max(1, min(max_sentences, counts.max(), needed)))
    sentence_length = int(
        max(4, min(sentence_tokens, lengths.max(), math.ceil(np.percentile(lengths, 99) * 1.2)))
    )
    ids, labels, sentences = {}, {}, {}
    for split in ("train", "validation", "test"):
        articles, summaries = getattr(documents, split)
        encoded, split_sentences = [], []
        for start in range(0, len(articles), 512):
            batch_ids, batch_sentences = encode_documents(
                tf.constant(articles[start : start + 512]),
                tokenizer,
                max_sentences,
                sentence_length,
            )
            encoded.append(batch_ids.numpy())
            split_sentences += _decoded(batch_sentences)
        ids[split] = np.concatenate(encoded).astype(np.int32)
        sentences[split] = split_sentences
        split_labels = np.full((len(articles), max_sentences), -1.0, np.float32)
        for row, (doc, summary) in enumerate(zip(split_sentences, summaries, strict=True)):
            kept = doc[:max_sentences]
            full = full_labels[row] if split == "train" else None
            if full is not None and not any(full[max_sentences:]):
                # Greedy picks all within the kept sentences are the kept sentences' picks.
                split_labels[row, : len(kept)] = full[:max_sentences]
            else:
                split_labels[row, : len(kept)] = rouge.oracle_labels(kept, summary)
        labels[split] = split_labels
    cut = int(np.sum(counts > max_sentences))
    return SummarizationData(
        documents,
        tokenizer,
        max_sentences,
        sentence_length,
        ids,
        labels,
        sentences,
        lengths={
            "train_documents_cut": cut,
            "oracle_sentences_beyond_cut": round(float(np.mean(positions >= max_sentences)), 4)
            if len(positions)
            else 0.0,
            "oracle_sentences_per_document": round(
                float(np.mean(np.sum(labels["train"] > 0, axis=1))), 2
            ),
        },
    )


def _sentences(articles):
    out = []
    for start in range(0, len(articles), 512):
        ragged = sentence_splitter.split_sentences(tf.constant(articles[start : start + 512]))
        out += _decoded(ragged)
    return out


def _decoded(ragged):
    return [[s.decode("utf-8") for s in doc] for doc in ragged.to_list()]


def sentence_counts(ids):
    """Sentences of each document in an ids array `(documents, sentences, tokens)`."""
    return np.sum(np.any(np.asarray(ids) != PAD_ID, axis=-1), axis=-1)


def crop_batch(inputs, labels):
    """Cuts a batch to its longest document and sentence (padding is masked: same scores)."""
    ids = inputs["sentence_ids"]
    present = tf.not_equal(ids, PAD_ID)
    shape = tf.shape(ids)
    sentences = tf.reduce_max(
        tf.where(tf.reduce_any(present, -1), tf.range(1, shape[1] + 1)[None], 0)
    )
    tokens = tf.reduce_max(tf.where(present, tf.range(1, shape[2] + 1)[None, None], 0))
    sentences, tokens = tf.maximum(sentences, 1), tf.maximum(tokens, 1)
    return {"sentence_ids": ids[:, :sentences, :tokens]}, labels[:, :sentences]


def extractive_datasets(data, batch_size, seed):
    """`(train, validation)` batches of sentence ids and oracle labels.

    Training documents of similar sentence counts are batched together
    (`bucket_by_sequence_length` on quartiles of the counts) and every
    batch is cut to its own longest document and sentence (`crop_batch`),
    so short documents and sentences cost little.
    """

    def pipeline(split, training):
        ids, labels = data.ids[split], data.labels[split]
        dataset = tf.data.Dataset.from_tensor_slices(({"sentence_ids": ids}, labels))
        if training:
            dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
            counts = sentence_counts(ids)
            quartiles = np.quantile(counts, [0.25, 0.5, 0.75])
            boundaries = sorted({int(q) + 1 for q in quartiles})
            dataset = bucket_by_length(
                dataset,
                counts,
                lambda inputs, _: tf.reduce_sum(
                    tf.cast(tf.reduce_any(inputs["sentence_ids"] != PAD_ID, -1), tf.int32)
                ),
                boundaries,
                batch_size,
            )
        else:
            dataset = dataset.batch(batch_size)
        return dataset.map(crop_batch).prefetch(tf.data.AUTOTUNE)

    return pipeline("train", True), pipeline("validation", False)


def lead(sentences, count):
    """Lead-N: the first `count` sentences of each document."""
    return [" ".join(doc[:count]) for doc in sentences]


def predict_logits(model, ids, batch_size=64):
    """The scorer's sentence logits `(documents, max_sentences)` for an ids array."""
    return np.asarray(model.predict({"sentence_ids": ids}, batch_size=batch_size, verbose=0))


def selection_scores(logits, selection):
    """The scores `select_sentences` ranks by: the model's, or -position for the Lead fallback."""
    count, ratio, by_position = selection
    if not by_position:
        return logits
    positions = tf.cast(tf.range(tf.shape(logits)[1]), tf.float32)
    return tf.zeros_like(logits) - positions[None]


def select(logits, ids, selection):
    """`select_sentences` under a `(count, ratio, by_position)` selection."""
    count, ratio, _ = selection
    return select_sentences(selection_scores(logits, selection), ids, count, ratio)


def selection_candidates(max_sentences):
    """Every `(count, ratio, by_position)` tried on validation."""
    counts = [(c, None) for c in range(1, MAX_SELECTED + 1)] + [(max_sentences, r) for r in RATIOS]
    counts = sorted({(min(c, max_sentences), r) for c, r in counts}, key=str)
    return [(c, r, by_position) for by_position in (False, True) for c, r in counts]


def choose_selection(model, data):
    """The `(count, ratio, by_position)` whose summaries score best ROUGE-L on validation.

    Candidates keep the model's top 1-10 sentences or a share of the
    article's; the same counts taken from the start of the article (Lead-N,
    `by_position`) compete too, so a scorer that learned less than the
    article order gives (on validation) at least Lead-N. The report says
    which won (`selection`) and what the scorer alone got (`scorer_rougeL`).
    """
    if data.selection is not None:
        return data.selection
    logits = predict_logits(model, data.ids["validation"])
    references = data.documents.validation[1]
    scores = {}
    for candidate in selection_candidates(data.max_sentences):
        selected = select(logits, data.ids["validation"], candidate).numpy()
        scores[candidate] = rouge.rouge_scores(
            summaries_of(data.sentences["validation"], selected), references
        )["rougeL"]
    # Ties go to the model, then to fewer sentences.
    data.selection = max(scores, key=lambda c: (round(scores[c], 6), not c[2], -c[0]))
    data.scorer_selection = max(
        (c for c in scores if not c[2]), key=lambda c: (round(scores[c], 6), -c[0])
    )
    return data.selection


def describe_selection(selection):
    count, ratio, by_position = selection
    amount = f"{ratio:.0%} of the sentences (at most {count})" if ratio else f"{count} sentences"
    return f"the first {amount} (Lead fallback)" if by_position else f"the top-scored {amount}"


def choose_lead(data):
    """N of Lead-N with the best validation ROUGE-L."""
    references = data.documents.validation[1]
    scores = {
        n: rouge.rouge_scores(lead(data.sentences["validation"], n), references)["rougeL"]
        for n in range(1, MAX_LEAD + 1)
    }
    return max(scores, key=scores.get)


class SummarizationApp(Application):
    """Summarization: an extractive sentence scorer, with Lead-N beside it on the same test split.

    Data: `reports` (built in: match reports, weather bulletins, company
    results), a JSONL file (`{"article": ..., "summary": ...}` per line,
    `--article-field`/`--summary-field` rename them), a TSV file
    (`article<TAB>summary`), a folder with `articles/<id>.txt` and
    `summaries/<id>.txt`, or `tfds:cnn_dailymail`-style names. A document
    is read up to `--max-sentences` sentences of `--sentence-tokens` tokens
    each. The exported SavedModel takes tf.string articles and returns
    tf.string summaries: sentence splitting, tokenizer and selection are in
    its graph.
    """

    name = "summarization"
    description = "extractive summarizer: articles in, their key sentences out (ROUGE vs Lead-N)"
    defaults = {
        "data": "reports",
        # 8 epochs of 2000 built-in documents take about half the budget on
        # 2 cores: the budget is a safety net, the schedule ends at epoch 8.
        "epochs": 8,
        "batch_size": 32,
        "optimizer": "adam",
        "learning_rate": 5e-4,
        "schedule": "constant",  # AnnealToBudget: warmup, then cosine to the end
        "warmup_epochs": 0,
        "clipnorm": 1.0,
        "monitor": "val_loss",
        "monitor_mode": "min",
        "patience": 3,
        "time_budget": 420,
    }

    def add_arguments(self, parser):
        group = parser.add_argument_group("summarization")
        group.add_argument(
            "--model",
            choices=MODELS,
            default="extractive",
            help="extractive (default): select the key sentences; abstractive: write the "
            "summary with a Transformer that can copy from the article",
        )
        group.add_argument(
            "--max-input-tokens",
            type=int,
            default=abstractive.MAX_INPUT_TOKENS,
            help="abstractive: article tokens read (the rest is cut; default: "
            f"{abstractive.MAX_INPUT_TOKENS})",
        )
        group.add_argument(
            "--beam-width", type=int, default=4, help="abstractive: beams (default: 4)"
        )
        group.add_argument(
            "--documents",
            type=int,
            default=None,
            help="built-in training documents (default: "
            + ", ".join(f"{n} {m}" for m, n in DOCUMENTS.items())
            + ")",
        )
        group.add_argument("--article-field", default="article", help="JSONL article field")
        group.add_argument("--summary-field", default="summary", help="JSONL summary field")
        group.add_argument(
            "--max-sentences",
            type=int,
            default=MAX_SENTENCES,
            help="most sentences read per article (fewer if 99%% of the training summaries' "
            "oracle sentences sit earlier); later ones are never selected "
            f"(default: {MAX_SENTENCES})",
        )
        group.add_argument(
            "--sentence-tokens",
            type=int,
            default=SENTENCE_TOKENS,
            help=f"tokens read per sentence (default: {SENTENCE_TOKENS})",
        )
        group.add_argument(
            "--vocabulary-size",
            type=int,
            default=8000,
            help="WordPiece vocabulary size (default: 8000)",
        )
        group.add_argument("--layers", type=int, default=2, help="encoder blocks per sentence")
        group.add_argument("--hidden-dim", type=int, default=128, help="Transformer width")
        group.add_argument("--heads", type=int, default=4, help="attention heads")
        group.add_argument("--tfds-data-dir", default=None, help="where TFDS datasets are kept")

    def check_options(self, options):
        check_minimums(
            options,
            {
                "documents": 30,
                "max_sentences": 1,
                "sentence_tokens": 4,
                "vocabulary_size": 300,
                "layers": 1,
                "hidden_dim": 4,
                "heads": 1,
            },
        )
        hidden_dim, heads = options.get("hidden_dim") or 128, options.get("heads") or 4
        if hidden_dim % heads:
            raise UserError(
                f"--hidden-dim {hidden_dim} is not divisible by --heads {heads}: "
                "each attention head gets hidden_dim / heads dimensions"
            )

    def load_data(self, config):
        options = config.options
        size = options.get("documents") or DOCUMENTS[options.get("model") or "extractive"]
        documents = document_data.load_documents(
            config.data,
            seed=config.seed,
            train_size=size,
            validation_size=max(10, min(200, size // 10)),
            test_size=max(10, min(300, size // 5)),
            fields=(
                options.get("article_field", "article"),
                options.get("summary_field", "summary"),
            ),
            tfds_data_dir=options.get("tfds_data_dir"),
        )
        for split in ("train", "validation", "test"):
            if not getattr(documents, split)[0]:
                raise UserError(f"{config.data} has no {split} documents: give it more")
        data = prepare_data(
            documents,
            max_sentences=options.get("max_sentences", MAX_SENTENCES),
            sentence_tokens=options.get("sentence_tokens", SENTENCE_TOKENS),
            vocabulary_size=options.get("vocabulary_size", 8000),
        )
        data.model = options.get("model", "extractive")
        if data.model == "abstractive":
            data.sequences = abstractive.prepare_sequences(
                data, options.get("max_input_tokens", abstractive.MAX_INPUT_TOKENS)
            )
            data.beam_width = options.get("beam_width", 4)
        return data

    def training_defaults(self, config):
        if config.options.get("model") == "abstractive":
            # A step costs about three times the scorer's (a decoder, a vocabulary-wide
            # copy head): 3 epochs of 2500 documents take about half of the 480 s.
            return {**self.defaults, "epochs": 3, "learning_rate": 1e-3, "time_budget": 480}
        return self.defaults

    def datasets(self, data, batch_size, seed):
        if data.model == "abstractive":
            return make_datasets(data.sequences, batch_size, seed)

        return extractive_datasets(data, batch_size, seed)

    def num_train_examples(self, data):
        if data.model == "abstractive":
            return int(data.sequences.ids["train"][0].nrows())
        return len(data.labels["train"])

    def build_model(self, config, data):
        options = config.options
        hidden_dim = options.get("hidden_dim", 128)
        if data.model == "abstractive":
            return abstractive.build_abstractive(
                data.tokenizer.vocabulary_size,
                data.sequences.source_length,
                data.sequences.target_length,
                num_layers=options.get("layers", 2),
                hidden_dim=hidden_dim,
                num_heads=options.get("heads", 4),
            )
        return build_extractive_scorer(
            data.tokenizer.vocabulary_size,
            data.max_sentences,
            data.sentence_length,
            num_layers=options.get("layers", 2),
            hidden_dim=hidden_dim,
            num_heads=options.get("heads", 4),
            intermediate_dim=hidden_dim * 2,
        )

    def compile_arguments(self, config, data):
        if data.model == "abstractive":
            return {"loss": MaskedCrossEntropy(), "metrics": [masked_accuracy]}
        return {"loss": MaskedBinaryCrossEntropy()}

    def extra_callbacks(self, config, data, workdir):
        return anneal_to_budget(config, self.num_train_examples(data))

    def evaluate(self, model, data, figures_dir):
        if data.model == "abstractive":
            return self._evaluate_abstractive(model, data, figures_dir)
        _check_sizes(model, data)
        selection = choose_selection(model, data)
        logits = predict_logits(model, data.ids["test"])
        selected = select(logits, data.ids["test"], selection).numpy()
        references = data.documents.test[1]
        hypotheses = summaries_of(data.sentences["test"], selected)
        metrics = {
            f"extractive_{k}": v for k, v in rouge.rouge_scores(hypotheses, references).items()
        }
        metrics["rougeL"] = metrics["extractive_rougeL"]
        # The scorer on its own (its best count on validation), whether or not Lead won.
        scorer_only = select(logits, data.ids["test"], data.scorer_selection).numpy()
        metrics["scorer_rougeL"] = rouge.rouge_scores(
            summaries_of(data.sentences["test"], scorer_only), references
        )["rougeL"]
        metrics.update(self._baselines(data, references))
        oracle = [
            " ".join(s for s, label in zip(doc, row, strict=False) if label > 0)
            for doc, row in zip(data.sentences["test"], data.labels["test"], strict=True)
        ]
        metrics["oracle_rougeL"] = rouge.rouge_scores(oracle, references)["rougeL"]
        # Numbers only in metrics (`dlapps evaluate` prints them); the rule in words is in details.
        metrics["selected_sentences"] = selection[0]
        metrics["selected_share"] = selection[1] or 0.0
        metrics["lead_fallback"] = float(selection[2])
        figure = plot_summaries(
            data.documents.test[0][:4],
            references[:4],
            hypotheses[:4],
            Path(figures_dir) / "summaries.png",
        )
        examples = [
            {"article": a, "reference": r, "summary": h}
            for a, r, h in list(zip(data.documents.test[0], references, hypotheses, strict=True))[
                :10
            ]
        ]
        details = {
            "split": "unseen test articles",
            "selection": describe_selection(selection),
            "examples": examples,
        }
        return metrics, details, [figure]

    def _baselines(self, data, references):
        """Lead-N (N chosen on validation) and Lead-3 ROUGE on the test split."""
        metrics = {}
        lead_n = choose_lead(data)
        for name, n in (("lead_n", lead_n), ("lead3", 3)):
            scores = rouge.rouge_scores(lead(data.sentences["test"], n), references)
            metrics.update({f"{name}_{k}": v for k, v in scores.items()})
        metrics["lead_n"] = lead_n
        return metrics

    def _evaluate_abstractive(self, model, data, figures_dir):
        ids = abstractive.decode(model, data.sequences.source_ids("test"), data.beam_width)
        data.decoded_test = ids  # the export's reference: Keras is not decoded twice
        hypotheses = data.tokenizer.detokenize_numpy(ids)
        references = data.documents.test[1]
        scores = rouge.rouge_scores(hypotheses, references)
        metrics = {f"abstractive_{k}": v for k, v in scores.items()}
        metrics["rougeL"] = metrics["abstractive_rougeL"]
        metrics.update(self._baselines(data, references))
        figure = plot_summaries(
            data.documents.test[0][:4],
            references[:4],
            hypotheses[:4],
            Path(figures_dir) / "summaries.png",
        )
        examples = [
            {"article": a, "reference": r, "summary": h}
            for a, r, h in list(zip(data.documents.test[0], references, hypotheses, strict=True))[
                :10
            ]
        ]
        return metrics, {"split": "unseen test articles", "examples": examples}, [figure]

    def _abstractive_export_spec(self, model, data):
        tokenizer, sequences = data.tokenizer, data.sequences
        source_length = sequences.source_length
        decoder = abstractive.beam_decoder(model, data.beam_width)
        articles_spec = [tf.TensorSpec([None], tf.string, name="articles")]
        ids_spec = [tf.TensorSpec([None, source_length], tf.int32, name="source_ids")]

        def summarize(articles):
            ids = decoder(abstractive.encode_articles(articles, tokenizer, source_length))
            return {"summaries": tokenizer.detokenize(ids), "summary_ids": ids}

        articles = data.documents.test[0][:PARITY_ABSTRACTIVE]
        references = data.documents.test[1][: len(articles)]
        test_ids = sequences.source_ids("test")[: len(articles)]
        if data.decoded_test is None:
            data.decoded_test = abstractive.decode(model, test_ids, data.beam_width)
        reference = data.decoded_test[: len(articles)]

        def score(ids):
            return rouge.rouge_scores(tokenizer.detokenize_numpy(ids), references)

        def parity(ids):
            same = np.all(np.asarray(ids) == reference, axis=1)
            return {"identical_to_keras": float(np.mean(same)), "documents_compared": len(same)}

        serving = Endpoint("serving_default", summarize, articles_spec)
        return ExportSpec(
            app=self.name,
            model=model,
            serving=[serving],
            tflite=Endpoint("serving_default", lambda ids: {"summary_ids": decoder(ids)}, ids_spec),
            output_key="summary_ids",
            test_inputs={"articles": np.array(articles, dtype=object)},
            tflite_test_inputs={"source_ids": test_ids},
            reference=reference,
            score=score,
            parity=parity,
            representative_data=None,
            labels=tokenizer.vocabulary,
            tflite_formats=TFLITE_FORMATS,
            # The SavedModel's graph, strings in and out, with tensorflow-text's TFLite ops.
            text_ops_tflite=serving,
            files={"vocabulary.txt": "\n".join(tokenizer.vocabulary) + "\n"},
            inputs={
                "articles": {
                    "dtype": "string",
                    "shape": [None],
                    "formats": ["saved_model", "tflite_strings"],
                },
                "source_ids": {
                    "dtype": "int32",
                    "shape": [None, source_length],
                    "formats": list(TFLITE_FORMATS),
                    "note": "WordPiece ids of vocabulary.txt, each sentence tokenized on its "
                    "own (all but the first with the space before it), 0-padded",
                },
            },
            outputs={
                "summaries": {"dtype": "string", "shape": [None]},
                "summary_ids": {
                    "dtype": "int32",
                    "shape": [None, sequences.target_length - 1],
                    "decoding": f"beam search (width {data.beam_width}, length penalty "
                    f"{abstractive.LENGTH_PENALTY}, no repeated "
                    f"{abstractive.NO_REPEAT_NGRAM}-gram)",
                },
            },
        )

    def export_spec(self, model, data):
        if data.model == "abstractive":
            return self._abstractive_export_spec(model, data)
        _check_sizes(model, data)
        selection = choose_selection(model, data)
        count, ratio, by_position = selection
        tokenizer, S, T = data.tokenizer, data.max_sentences, data.sentence_length
        articles_spec = [tf.TensorSpec([None], tf.string, name="articles")]
        ids_spec = [tf.TensorSpec([None, S, T], tf.int32, name="sentence_ids")]

        def summarize(articles):
            found = sentence_splitter.sentence_offsets(articles, SENTENCE_CHARACTERS)
            ids, _ = encode_documents(articles, tokenizer, S, T, found)
            selected = select(model({"sentence_ids": ids}, training=False), ids, selection)
            return {"summaries": join_selected(articles, found, selected), "selected": selected}

        def select_ids(sentence_ids):
            logits = model({"sentence_ids": sentence_ids}, training=False)
            return {"selected": select(logits, sentence_ids, selection)}

        articles = data.documents.test[0][:PARITY_DOCUMENTS]
        references = data.documents.test[1][: len(articles)]
        test_ids = data.ids["test"][: len(articles)]
        reference = select(predict_logits(model, test_ids), test_ids, selection).numpy()
        test_sentences = data.sentences["test"][: len(articles)]

        def score(selected):
            return rouge.rouge_scores(summaries_of(test_sentences, selected), references)

        def parity(selected):
            same = np.all(np.asarray(selected) == reference, axis=1)
            return {"identical_to_keras": float(np.mean(same)), "documents_compared": len(same)}

        serving = Endpoint("serving_default", summarize, articles_spec)
        return ExportSpec(
            app=self.name,
            model=model,
            serving=[serving],
            tflite=Endpoint("serving_default", select_ids, ids_spec),
            output_key="selected",
            test_inputs={"articles": np.array(articles, dtype=object)},
            tflite_test_inputs={"sentence_ids": test_ids},
            reference=reference,
            score=score,
            parity=parity,
            representative_data=None,
            labels=tokenizer.vocabulary,
            tflite_formats=TFLITE_FORMATS,
            # The SavedModel's graph, strings in and out, with tensorflow-text's TFLite ops.
            text_ops_tflite=serving,
            files={"vocabulary.txt": "\n".join(tokenizer.vocabulary) + "\n"},
            inputs={
                "articles": {
                    "dtype": "string",
                    "shape": [None],
                    "formats": ["saved_model", "tflite_strings"],
                    "example": articles[0],
                },
                "sentence_ids": {
                    "dtype": "int32",
                    "shape": [None, S, T],
                    "formats": list(TFLITE_FORMATS),
                    "note": "sentences split at line breaks and at ./!/? before white space, "
                    f"the first {S}, each cut to {SENTENCE_CHARACTERS} characters and WordPiece "
                    f"ids of vocabulary.txt (longest match), 0-padded to {T}; see "
                    "export/edge/summarize.py",
                },
            },
            outputs={
                "summaries": {"dtype": "string", "shape": [None]},
                "selected": {
                    "dtype": "int32",
                    "shape": [None, count],
                    "note": "indices of the chosen sentences in document order, -1 "
                    "where none; the summary joins them with spaces",
                    "selection": {
                        "count": count,
                        "ratio": ratio,
                        "by_position": by_position,
                        "rule": describe_selection(selection),
                    },
                },
            },
        )

    def predict(self, model_path, inputs, options):
        if not inputs:
            raise UserError("give one or more article files (.txt) to summarize")
        articles = []
        for name in inputs:
            path = Path(name)
            if not path.is_file():
                raise UserError(f"{name} is not a file: give the path of an article .txt file")
            try:
                articles.append(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                raise UserError(f"{name} is not UTF-8 text: save it as UTF-8") from None
        model_path = Path(model_path)
        if is_tflite(model_path):
            model = TFLiteModel(model_path)
            if "articles" not in model.input_names:
                raise UserError(
                    f"{model_path.name} takes token ids: use summarization_strings.tflite, "
                    "the SavedModel directory or export/edge/summarize.py"
                )
            summaries = model({"articles": articles})["summaries"]
        else:
            signature = load_saved_model(model_path).signatures["serving_default"]
            summaries = signature(articles=tf.constant(articles))["summaries"].numpy()
        return [bytes(text).decode("utf-8") for text in summaries]


def _check_sizes(model, data):
    shape = (
        model.get_layer("sentence_positions").max_sentences,
        model.get_layer("embedding").sequence_length,
    )
    vocabulary = model.get_layer("embedding").vocabulary_size
    if shape != (data.max_sentences, data.sentence_length) or vocabulary != (
        data.tokenizer.vocabulary_size
    ):
        raise UserError(
            f"the model was trained on other data (shape {shape}, vocabulary {vocabulary}) than "
            "this run's: pass the --data, --documents and --seed it was trained with"
        )


def plot_summaries(articles, references, summaries, path):
    """A figure of a few test articles (their start), reference and generated summaries."""
    import textwrap

    from dlapps.report import pyplot

    plt = pyplot()
    figure, axes = plt.subplots(len(articles), 1, figsize=(11, 1.8 * len(articles)))
    for axis, article, reference, summary in zip(
        np.atleast_1d(axes), articles, references, summaries, strict=True
    ):
        axis.axis("off")
        text = "\n".join(
            [
                "ARTICLE: " + textwrap.shorten(article.replace("\n", " "), 360),
                *textwrap.wrap("REFERENCE: " + reference, 130),
                *textwrap.wrap("SUMMARY: " + summary, 130),
            ]
        )
        axis.text(
            0,
            1,
            "\n".join(textwrap.fill(line, 130) for line in text.split("\n")),
            va="top",
            family="monospace",
            fontsize=7,
        )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return str(path)
