"""The translation application: sentences in, translations out, with the tokenizers inside."""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps.application import Application, check_minimums
from dlapps.callbacks import anneal_to_budget
from dlapps.datasets import bucket_by_length
from dlapps.errors import UserError
from dlapps.export import Endpoint, ExportSpec, TFLiteModel, load_saved_model
from dlapps.export.tflite import RECURRENT_LAYERS, is_tflite, unrolled_copy
from dlapps.translation import decoding as decoding_lib
from dlapps.translation import parallel_data, seq2seq
from dlapps.translation.losses import MaskedCrossEntropy, masked_accuracy
from dlapps.translation.tokenizer import END_ID, PAD_ID, START_ID, VOCABULARIES, SubwordTokenizer
from dlapps.translation.translation_metrics import plot_translations, translation_scores

# Full int8 would quantize the attention logits and the argmax between
# words that differ by little; dynamic range keeps activations in float.
TFLITE_FORMATS = ("tflite_float32", "tflite_float16", "tflite_dynamic")
MAX_SEQUENCE_LENGTH = 64
# Sentence lengths (in tokens) a model takes: the 99th percentile of the
# training sentences' with this much room, so that a few very long pairs
# do not set every buffer's size (those are left out of training).
LENGTH_PERCENTILE, LENGTH_ROOM = 99, 1.5
# Each export is checked on this many test sentences (decoding all of them
# through every format would take longer than training).
PARITY_SENTENCES = 200
DECODINGS = ("greedy", "beam")


@dataclasses.dataclass
class TranslationData:
    """Sentence pairs with their tokenizers and the token ids the model trains on.

    Attributes:
        pairs: the `parallel_data.ParallelData`.
        source_tokenizer, target_tokenizer: `SubwordTokenizer`s built from
            the training split.
        source_length: most source tokens the model reads (longer test
            sentences are cut; longer training pairs are left out).
        target_length: decoder positions: `[START]` + tokens + `[END]` - 1.
        ids: split -> `(source ids, target ids)`, int32 `tf.RaggedTensor`s
            without `[START]`/`[END]`.
        vocabulary: "units" or "wordpiece" (see `tokenizer`).
        lengths: what the length limits did: pairs left out of training and
            validation, test sentences cut.
        test_sources, test_references: the distinct test source sentences
            and, for each, every reference translation of it in the test
            split (multi-reference scoring).
        beam_width: beams of beam search.
        decoding: "greedy" or "beam": what every export's `serving_default`
            (and the TFLite files) run.
        architecture: "transformer" (batches padded to their own longest
            sentence, grouped by length) or "gru" (fixed lengths).
    """

    pairs: object
    source_tokenizer: SubwordTokenizer
    target_tokenizer: SubwordTokenizer
    source_length: int
    target_length: int
    ids: dict
    vocabulary: str = "units"
    lengths: dict = dataclasses.field(default_factory=dict)
    test_sources: list = dataclasses.field(default_factory=list)
    test_references: list = dataclasses.field(default_factory=list)
    test_kinds: list = dataclasses.field(default_factory=list)
    beam_width: int = 4
    decoding: str = "greedy"
    architecture: str = "transformer"

    def summary(self):
        return {
            **self.pairs.summary(),
            "vocabulary": self.vocabulary,
            "source_vocabulary": self.source_tokenizer.vocabulary_size,
            "target_vocabulary": self.target_tokenizer.vocabulary_size,
            "source_length": self.source_length,
            "target_length": self.target_length,
            **self.lengths,
            "test_sources": len(self.test_sources),
            "test_references_per_source": round(
                len(self.pairs.test[0]) / max(1, len(self.test_sources)), 3
            ),
            "decoding": self.decoding,
        }

    def encode_sources(self, sentences):
        """int32 `(n, source_length)` token ids of a list of sentences."""
        return self.source_tokenizer.encode(tf.constant(sentences), self.source_length).numpy()


def prepare_data(pairs, max_length=MAX_SEQUENCE_LENGTH, vocabulary_size=8000, vocabulary="auto"):
    """Builds the tokenizers on the training split and tokenizes every split.

    Args:
        vocabulary: "units", "wordpiece", or "auto": units for the built-in
            numbers and dates (every word of a test sentence is seen in
            training; measured better there), learned WordPiece subwords for
            a file or TFDS (real text, where test sentences have new words).
        vocabulary_size: most tokens per language; default 8000 units or
            6000 subwords.

    The lengths are the 99th percentile of the training sentences' token
    counts (plus `[START]`/`[END]` on the target side) times 1.5, at most
    the longest and at most `max_length`; training and validation pairs
    longer than that are left out, longer test sentences are cut, and
    `lengths` counts both.
    """
    if vocabulary == "auto":
        vocabulary = "units" if pairs.kinds else "wordpiece"
    vocabulary_size = vocabulary_size or (6000 if vocabulary == "wordpiece" else 8000)
    source_tokenizer = SubwordTokenizer.build(pairs.train[0], vocabulary_size, vocabulary)
    target_tokenizer = SubwordTokenizer.build(pairs.train[1], vocabulary_size, vocabulary)
    ids = {}
    for split in ("train", "validation", "test"):
        sources, targets = getattr(pairs, split)
        ids[split] = (
            source_tokenizer.tokenize(tf.constant(sources)),
            target_tokenizer.tokenize(tf.constant(targets)),
        )

    def limit(ragged, extra):
        lengths = ragged.row_lengths().numpy() + extra
        room = int(np.ceil(np.percentile(lengths, LENGTH_PERCENTILE) * LENGTH_ROOM))
        return max(2, min(max_length, int(lengths.max()), room))

    source_length = limit(ids["train"][0], 0)
    target_length = limit(ids["train"][1], 1)  # [START] + tokens, or tokens + [END]
    lengths = {}
    for split in ("train", "validation"):
        source_ids, target_ids = ids[split]
        keep = (source_ids.row_lengths() <= source_length) & (
            target_ids.row_lengths() + 1 <= target_length
        )
        lengths[f"{split}_pairs_left_out"] = int(np.sum(~keep.numpy()))
        ids[split] = (
            tf.ragged.boolean_mask(source_ids, keep),
            tf.ragged.boolean_mask(target_ids, keep),
        )
    lengths["test_sentences_cut"] = int(
        np.sum(ids["test"][0].row_lengths().numpy() > source_length)
    )

    # Test sources that occur several times (several translations of one
    # sentence) are translated once and scored against all their references.
    references, kinds = {}, {}
    for index, (source, target) in enumerate(zip(*pairs.test, strict=True)):
        if target not in references.setdefault(source, []):
            references[source].append(target)
        if pairs.kinds:
            kinds.setdefault(source, pairs.kinds[index])
    return TranslationData(
        pairs,
        source_tokenizer,
        target_tokenizer,
        source_length,
        target_length,
        ids,
        vocabulary=vocabulary,
        lengths=lengths,
        test_sources=list(references),
        test_references=list(references.values()),
        test_kinds=list(kinds.values()),
    )


def make_datasets(data, batch_size, seed, bucketing=True):
    """`(train, validation)` tf.data pipelines of `({"source_ids", "target_ids"}, next ids)`.

    With `bucketing` (the Transformer's default) pairs of similar length are
    batched together (`bucket_by_sequence_length`) and each batch is padded
    only to its own longest sentence, so short sentences cost little;
    without, every batch is padded to the model's full lengths (the GRU
    baseline, whose TFLite loops are unrolled over fixed lengths). Padding
    is masked in the model and the loss, so it changes no result.
    """

    def pipeline(split, training):
        source_ids, target_ids = data.ids[split]
        dataset = tf.data.Dataset.from_tensor_slices((source_ids, target_ids))
        if training:
            dataset = dataset.shuffle(
                int(source_ids.nrows()), seed=seed, reshuffle_each_iteration=True
            )

        def teacher_forcing(source, target):
            start, end = tf.constant([START_ID]), tf.constant([END_ID])
            inputs = {"source_ids": source, "target_ids": tf.concat([start, target], 0)}
            return inputs, tf.concat([target, end], 0)

        dataset = dataset.map(teacher_forcing, num_parallel_calls=tf.data.AUTOTUNE)
        if bucketing:
            longest = max(data.source_length, data.target_length)
            boundaries = list(range(3, min(longest, 16) + 1, 2)) + list(range(18, longest + 1, 4))
            # The target side gains its start token in `teacher_forcing`.
            lengths = np.maximum(
                source_ids.row_lengths().numpy(), target_ids.row_lengths().numpy() + 1
            )
            dataset = bucket_by_length(
                dataset,
                lengths,
                lambda inputs, _: tf.maximum(
                    tf.shape(inputs["source_ids"])[0], tf.shape(inputs["target_ids"])[0]
                ),
                boundaries,
                batch_size,
            )
        else:
            shapes = {"source_ids": [data.source_length], "target_ids": [data.target_length]}
            dataset = dataset.padded_batch(batch_size, padded_shapes=(shapes, [data.target_length]))
        return dataset.prefetch(tf.data.AUTOTUNE)

    return pipeline("train", True), pipeline("validation", False)


class TranslationApp(Application):
    """Sequence-to-sequence translation: a Transformer, or a GRU-with-attention baseline.

    Data: `synthetic` (built in: numbers written out and dates in full,
    English -> Spanish unless `--source-lang`/`--target-lang` say otherwise;
    test sentences never in training), `numbers`, `dates`, a TSV file of
    sentence pairs (`English<TAB>Spanish[<TAB>attribution]`, as Tatoeba/Anki
    exports are), or `tfds:ted_hrlr_translate/pt_to_en`-style names. The
    exported SavedModel takes tf.string sentences and returns tf.string
    translations: tokenizer, decoding loop and detokenizer are in its graph.

    Real text (a file or TFDS) gets learned WordPiece subwords, label
    smoothing 0.1 and beam search; the built-in data gets whole-word units,
    no smoothing and greedy decoding (exact outputs). The learning rate
    warms up, then decays on a cosine that ends where training ends: at the
    last epoch or at `--time-budget`, whichever comes first.
    """

    name = "translation"
    description = "sequence-to-sequence Transformer (or GRU): sentences in, translations out"
    defaults = {
        "data": "synthetic",
        "epochs": 12,
        "batch_size": 64,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        # AnnealToBudget (extra_callbacks) sets the rate: warmup and cosine to the end.
        "schedule": "constant",
        "warmup_epochs": 0,
        "clipnorm": 1.0,
        "monitor": "val_loss",
        "monitor_mode": "min",
        "patience": 6,
        "time_budget": 480,
    }

    def add_arguments(self, parser):
        group = parser.add_argument_group("translation")
        group.add_argument(
            "--model",
            choices=seq2seq.ARCHITECTURES,
            default="transformer",
            help="transformer (default) or gru (the RNN baseline)",
        )
        group.add_argument(
            "--source-lang",
            default="en",
            help=f"built-in data: source language, one of {', '.join(parallel_data.LANGUAGES)}",
        )
        group.add_argument("--target-lang", default="es", help="built-in data: target language")
        group.add_argument(
            "--pairs", type=int, default=24000, help="built-in training pairs (default: 24000)"
        )
        group.add_argument(
            "--vocabulary",
            choices=("auto", *VOCABULARIES),
            default="auto",
            help="token units: whole words + characters (built-in data's default) or "
            "learned WordPiece subwords (a file's default)",
        )
        group.add_argument(
            "--vocabulary-size",
            type=int,
            default=None,
            help="most tokens per language (default: 6000 subwords, 8000 units)",
        )
        group.add_argument(
            "--layers", type=int, default=2, help="Transformer encoder/decoder blocks"
        )
        group.add_argument(
            "--hidden-dim",
            type=int,
            default=None,
            help="Transformer width (default: 256 for real text, 128 for the built-in data)",
        )
        group.add_argument("--heads", type=int, default=4, help="Transformer attention heads")
        group.add_argument("--units", type=int, default=256, help="GRU baseline width")
        group.add_argument(
            "--label-smoothing",
            type=float,
            default=None,
            help="default: 0.1 for real text, 0 for the built-in data",
        )
        group.add_argument(
            "--decoding",
            choices=("auto", *DECODINGS),
            default="auto",
            help="what the exports run: beam search for real text (default), greedy for "
            "the built-in data",
        )
        group.add_argument(
            "--beam-width", type=int, default=4, help="beams of beam search (default: 4)"
        )
        group.add_argument(
            "--max-length",
            type=int,
            default=MAX_SEQUENCE_LENGTH,
            help=f"most tokens per sentence (default: {MAX_SEQUENCE_LENGTH})",
        )
        group.add_argument("--tfds-data-dir", default=None, help="where TFDS datasets are kept")

    def check_options(self, options):
        check_minimums(
            options,
            {
                "layers": 1,
                "hidden_dim": 2,
                "heads": 1,
                "units": 1,
                "beam_width": 1,
                "max_length": 4,
                "vocabulary_size": 100,
                "pairs": 10,
            },
        )
        hidden_dim, heads = options.get("hidden_dim"), options.get("heads") or 4
        widths = [hidden_dim] if hidden_dim is not None else [128, 256]  # the defaults
        if options.get("model", "transformer") == "transformer" and any(w % heads for w in widths):
            width = "--hidden-dim " + str(hidden_dim) if hidden_dim else "the default width"
            raise UserError(
                f"{width} is not divisible by --heads {heads}: each attention head gets "
                "hidden_dim / heads dimensions; use e.g. --heads 4 or a width divisible by "
                f"{heads}"
            )
        smoothing = options.get("label_smoothing")
        if smoothing is not None and not 0 <= smoothing < 1:
            raise UserError(f"--label-smoothing {smoothing} is out of range: use 0 <= s < 1")

    def load_data(self, config):
        options = config.options
        pairs = options.get("pairs", 24000)
        if pairs < 10:
            raise UserError(f"--pairs {pairs} is too small: use at least 10")
        parallel = parallel_data.load_parallel_data(
            config.data,
            source_lang=options.get("source_lang", "en"),
            target_lang=options.get("target_lang", "es"),
            seed=config.seed,
            train_size=pairs,
            validation_size=max(5, min(500, pairs // 20)),
            test_size=max(5, min(1000, pairs // 10)),
            tfds_data_dir=options.get("tfds_data_dir"),
        )
        for split in ("train", "validation", "test"):
            if not getattr(parallel, split)[0]:
                raise UserError(f"{config.data} has no {split} sentences: give it more pairs")
        real_text = not parallel.kinds
        data = prepare_data(
            parallel,
            max_length=options.get("max_length", MAX_SEQUENCE_LENGTH),
            vocabulary_size=options.get("vocabulary_size"),
            vocabulary=options.get("vocabulary", "auto"),
        )
        data.beam_width = options.get("beam_width", 4)
        decoding = options.get("decoding", "auto")
        data.decoding = ("beam" if real_text else "greedy") if decoding == "auto" else decoding
        if data.decoding == "beam" and data.beam_width < 2:
            data.decoding = "greedy"
        data.architecture = options.get("model", "transformer")
        return data

    def datasets(self, data, batch_size, seed):
        return make_datasets(data, batch_size, seed, bucketing=data.architecture != "gru")

    def num_train_examples(self, data):
        return int(data.ids["train"][0].nrows())

    def build_model(self, config, data):
        options = config.options
        architecture = options.get("model", "transformer")
        sizes = {"source_length": data.source_length, "target_length": data.target_length}
        if architecture == "transformer":
            # Real text (subwords) needs a wider model than numbers and dates.
            hidden_dim = options.get("hidden_dim") or (
                256 if data.vocabulary == "wordpiece" else 128
            )
            sizes.update(
                num_layers=options.get("layers", 2),
                hidden_dim=hidden_dim,
                num_heads=options.get("heads", 4),
                intermediate_dim=hidden_dim * 2,
            )
        else:
            sizes.update(units=options.get("units", 256))
        try:
            return seq2seq.build_translator(
                architecture,
                data.source_tokenizer.vocabulary_size,
                data.target_tokenizer.vocabulary_size,
                **sizes,
            )
        except ValueError as error:
            raise UserError(str(error)) from None

    def compile_arguments(self, config, data):
        smoothing = config.options.get("label_smoothing")
        if smoothing is None:
            smoothing = 0.1 if data.vocabulary == "wordpiece" else 0.0
        return {"loss": MaskedCrossEntropy(smoothing), "metrics": [masked_accuracy]}

    def extra_callbacks(self, config, data, workdir):
        return anneal_to_budget(config, self.num_train_examples(data))

    def evaluate(self, model, data, figures_dir):
        _check_sizes(model, data)
        source_ids = data.ids["test"][0]
        hypotheses = {}
        for decoding in DECODINGS:
            ids = _decode_all(model, source_ids_for(data, data.test_sources), decoding, data)
            hypotheses[decoding] = data.target_tokenizer.detokenize_numpy(ids)
        del source_ids
        chosen = hypotheses[data.decoding]
        metrics = translation_scores(chosen, data.test_references, data.test_kinds)
        for decoding, texts in hypotheses.items():
            scores = translation_scores(texts, data.test_references)
            metrics[f"{decoding}_bleu"], metrics[f"{decoding}_chrf"] = (
                scores["bleu"],
                scores["chrf"],
            )
        sources, references = data.test_sources, [r[0] for r in data.test_references]
        figure = plot_translations(
            sources[:8],
            data.test_references[:8],
            chosen[:8],
            Path(figures_dir) / "translations.png",
        )
        examples = [
            {"source": s, "reference": r, "translation": h}
            for s, r, h in list(zip(sources, references, chosen, strict=True))[:20]
        ]
        return metrics, {"examples": examples}, [figure]

    def export_spec(self, model, data):
        _check_sizes(model, data)
        source_length = data.source_length
        source_tokenizer, target_tokenizer = data.source_tokenizer, data.target_tokenizer
        beam_width = data.beam_width
        sentences_spec = [tf.TensorSpec([None], tf.string, name="sentences")]
        ids_spec = [tf.TensorSpec([None, source_length], tf.int32, name="source_ids")]

        # TFLite needs recurrent layers unrolled (the baseline's GRUs).
        recurrent = any(type(layer).__name__ in RECURRENT_LAYERS for layer in _all_layers(model))
        tflite_model = unrolled_copy(model) if recurrent else model
        extra_models = (tflite_model,) if recurrent else ()

        def decoder_of(translator, decoding):
            if decoding == "beam":
                return lambda ids: decoding_lib.beam_search(translator, ids, beam_width)
            return lambda ids: decoding_lib.greedy_decode(translator, ids)

        def translate_with(translator, decoding=data.decoding):
            decode = decoder_of(translator, decoding)

            def translate(sentences):
                source_ids = source_tokenizer.encode(sentences, source_length)
                ids = decode(source_ids)
                return {"translations": target_tokenizer.detokenize(ids), "target_ids": ids}

            return translate

        def translate_ids(source_ids):
            return {"target_ids": decoder_of(tflite_model, data.decoding)(source_ids)}

        # Every format is checked on the first PARITY_SENTENCES test sentences.
        sources = data.test_sources[:PARITY_SENTENCES]
        references = data.test_references[: len(sources)]
        kinds = data.test_kinds[: len(sources)]
        test_ids = data.encode_sources(sources)
        reference_ids = _decode_all(model, test_ids, data.decoding, data)

        def score(target_ids):
            hypotheses = target_tokenizer.detokenize_numpy(target_ids)
            return translation_scores(hypotheses, references, kinds)

        def parity(target_ids):
            same = np.all(np.asarray(target_ids) == reference_ids, axis=1)
            return {"identical_to_keras": float(np.mean(same))}

        # serving_default runs the chosen decoding; the other one has its own signature.
        other = "greedy" if data.decoding == "beam" else "beam"
        other_name = {"greedy": "greedy", "beam": "beam_search"}[other]
        serving = [
            Endpoint("serving_default", translate_with(model), sentences_spec),
            Endpoint(other_name, translate_with(model, other), sentences_spec),
        ]
        return ExportSpec(
            app=self.name,
            model=model,
            serving=serving,
            tflite=Endpoint("serving_default", translate_ids, ids_spec, models=extra_models),
            output_key="target_ids",
            test_inputs={"sentences": np.array(sources, dtype=object)},
            tflite_test_inputs={"source_ids": test_ids},
            reference=reference_ids,
            score=score,
            parity=parity,
            representative_data=None,
            labels=target_tokenizer.vocabulary,
            tflite_formats=TFLITE_FORMATS,
            text_ops_tflite=Endpoint(
                "serving_default", translate_with(tflite_model), sentences_spec, extra_models
            ),
            files={
                "source_vocabulary.txt": "\n".join(source_tokenizer.vocabulary) + "\n",
                "target_vocabulary.txt": "\n".join(target_tokenizer.vocabulary) + "\n",
            },
            inputs={
                "sentences": {
                    "dtype": "string",
                    "shape": [None],
                    "formats": ["saved_model", "tflite_strings"],
                    "example": sources[0],
                },
                "source_ids": {
                    "dtype": "int32",
                    "shape": [None, source_length],
                    "formats": list(TFLITE_FORMATS),
                    "example": test_ids[0].tolist(),
                    "note": "ids of source_vocabulary.txt (WordPiece longest match over "
                    "the whole sentence), 0-padded; see export/edge/translate.py",
                },
            },
            outputs={
                "translations": {"dtype": "string", "shape": [None]},
                "target_ids": {
                    "dtype": "int32",
                    "shape": [None, data.target_length - 1],
                    "note": "ids of target_vocabulary.txt (= labels.txt) up to [END] (id 3); "
                    "join the tokens, dropping the '##' marker",
                    "decoding": data.decoding
                    + (f" (beam width {beam_width})" if data.decoding == "beam" else ""),
                },
            },
        )

    def predict(self, model_path, inputs, options):
        if not inputs:
            raise UserError('give one or more sentences to translate, e.g. "twenty-one"')
        model_path = Path(model_path)
        if is_tflite(model_path):
            model = TFLiteModel(model_path)
            if "sentences" not in model.inputs:
                raise UserError(
                    f"{model_path.name} takes token ids: use the SavedModel directory, "
                    "translation_strings.tflite, or export/edge/translate.py"
                )
            outputs = model({"sentences": np.array(inputs, dtype=object)})
        else:
            signature = load_saved_model(model_path).signatures["serving_default"]
            outputs = {k: v.numpy() for k, v in signature(sentences=tf.constant(inputs)).items()}
        return [text.decode("utf-8") for text in outputs["translations"]]


def source_ids_for(data, sentences):
    """Token ids of `sentences`, cut to the model's source length: int32 `tf.RaggedTensor`."""
    ids = data.source_tokenizer.tokenize(tf.constant(sentences))
    return ids[:, : data.source_length]


def _check_sizes(model, data):
    """Fails clearly when a saved model was trained with other data than `data`.

    The vocabularies are rebuilt from the training split, so `dlapps
    evaluate`/`export` need the same `--data`, `--pairs` and `--seed` as
    training; other settings give other vocabularies and lengths.
    """
    expected_lengths = (data.source_length, data.target_length)
    lengths = tuple(seq2seq.sequence_lengths(model))
    logits = model.output.shape[-1]
    if logits != data.target_tokenizer.vocabulary_size or lengths != expected_lengths:
        raise UserError(
            f"the model was trained on other data (target vocabulary {logits}, lengths "
            f"{lengths}) than this run's (vocabulary {data.target_tokenizer.vocabulary_size}, "
            f"lengths {expected_lengths}): pass the --data, --pairs and --seed it was "
            "trained with"
        )


def _all_layers(model):
    """Every layer of a model, through nested models and wrappers."""
    return model._flatten_layers(include_self=False, recursive=True)


def _decode_all(model, source_ids, decoding, data, batch_size=128):
    """Decodes many sentences in batches of similar length: int32 `(n, target_length - 1)`.

    Args:
        source_ids: int32 array `(n, length)` (0-padded) or `tf.RaggedTensor`;
            each batch is padded only to its own longest sentence, which
            changes no translation (padding is masked), only the time.
        decoding: "greedy" or "beam" (`data.beam_width` beams).
    """
    if isinstance(source_ids, tf.RaggedTensor):
        rows = [np.asarray(row, np.int32) for row in source_ids.to_list()]
    else:
        rows = [row[row != PAD_ID] for row in np.asarray(source_ids, np.int32)]
    if decoding == "beam":
        run = lambda ids: decoding_lib.beam_search(model, ids, data.beam_width)  # noqa: E731
    else:
        run = lambda ids: decoding_lib.greedy_decode(model, ids)  # noqa: E731
    decode = tf.function(run, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    order = np.argsort([len(row) for row in rows], kind="stable")
    outputs = [None] * len(rows)
    for start in range(0, len(rows), batch_size):
        chosen = order[start : start + batch_size]
        longest = max(1, max(len(rows[i]) for i in chosen))
        batch = np.zeros((len(chosen), longest), np.int32)
        for line, index in enumerate(chosen):
            batch[line, : len(rows[index])] = rows[index]
        for line, ids in zip(chosen, decode(tf.constant(batch)).numpy(), strict=True):
            outputs[line] = ids
    return np.stack(outputs)
