"""The translation application: sentences in, translations out, with the tokenizers inside."""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps.application import Application
from dlapps.errors import UserError
from dlapps.export import Endpoint, ExportSpec, TFLiteModel, load_saved_model
from dlapps.export.tflite import RECURRENT_LAYERS, is_tflite, unrolled_copy
from dlapps.translation import decoding, parallel_data, seq2seq
from dlapps.translation.losses import MaskedCrossEntropy, masked_accuracy
from dlapps.translation.tokenizer import SubwordTokenizer
from dlapps.translation.translation_metrics import plot_translations, translation_scores

# Full int8 would quantize the attention logits and the argmax between
# words that differ by little; dynamic range keeps activations in float.
TFLITE_FORMATS = ("tflite_float32", "tflite_float16", "tflite_dynamic")
MAX_SEQUENCE_LENGTH = 64


@dataclasses.dataclass
class TranslationData:
    """Sentence pairs with their tokenizers and the token ids the model trains on.

    Attributes:
        pairs: the `parallel_data.ParallelData`.
        source_tokenizer, target_tokenizer: `SubwordTokenizer`s built from
            the training split.
        source_length: source tokens the model reads (longer ones are cut).
        target_length: decoder positions: `[START]` + tokens + `[END]` - 1.
        arrays: split -> `(inputs dict, next-token ids)` for `model.fit`.
        beam_width: beams of the exported "beam_search" signature.
    """

    pairs: object
    source_tokenizer: SubwordTokenizer
    target_tokenizer: SubwordTokenizer
    source_length: int
    target_length: int
    arrays: dict
    beam_width: int = 4

    def summary(self):
        return {
            **self.pairs.summary(),
            "source_vocabulary": self.source_tokenizer.vocabulary_size,
            "target_vocabulary": self.target_tokenizer.vocabulary_size,
            "source_length": self.source_length,
            "target_length": self.target_length,
        }

    def encode_sources(self, sentences):
        """int32 `(n, source_length)` token ids of a list of sentences."""
        return self.source_tokenizer.encode(tf.constant(sentences), self.source_length).numpy()


def prepare_data(pairs, max_length=MAX_SEQUENCE_LENGTH, vocabulary_size=8000):
    """Builds the tokenizers on the training split and encodes every split.

    Lengths are the longest training sentence's (plus `[START]`/`[END]` on
    the target side), capped at `max_length`.
    """
    source_tokenizer = SubwordTokenizer.build(pairs.train[0], vocabulary_size)
    target_tokenizer = SubwordTokenizer.build(pairs.train[1], vocabulary_size)

    def longest(tokenizer, sentences):
        return int(tokenizer.tokenize(tf.constant(sentences)).row_lengths().numpy().max())

    source_length = min(max_length, longest(source_tokenizer, pairs.train[0]))
    target_length = min(max_length, longest(target_tokenizer, pairs.train[1]) + 1)
    arrays = {}
    for split in ("train", "validation", "test"):
        sources, targets = getattr(pairs, split)
        source_ids = source_tokenizer.encode(tf.constant(sources), source_length).numpy()
        target_ids = target_tokenizer.encode(
            tf.constant(targets), target_length + 1, add_start=True, add_end=True
        ).numpy()
        arrays[split] = (
            {"source_ids": source_ids, "target_ids": target_ids[:, :-1]},
            target_ids[:, 1:],
        )
    return TranslationData(
        pairs, source_tokenizer, target_tokenizer, source_length, target_length, arrays
    )


class TranslationApp(Application):
    """Sequence-to-sequence translation: a Transformer, or a GRU-with-attention baseline.

    Data: `synthetic` (built in: numbers written out and dates in full,
    English -> Spanish unless `--source-lang`/`--target-lang` say otherwise;
    test sentences never in training), `numbers`, `dates`, a TSV file of
    sentence pairs, or `tfds:ted_hrlr_translate/pt_to_en`-style names. The
    exported SavedModel takes tf.string sentences and returns tf.string
    translations: tokenizer, decoding loop and detokenizer are in its graph.
    """

    name = "translation"
    description = "sequence-to-sequence Transformer (or GRU): sentences in, translations out"
    defaults = {
        "data": "synthetic",
        "epochs": 8,
        "batch_size": 64,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "clipnorm": 1.0,
        "monitor": "val_loss",
        "monitor_mode": "min",
        "patience": 4,
        "time_budget": 280,
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
            "--layers", type=int, default=2, help="Transformer encoder/decoder blocks"
        )
        group.add_argument("--hidden-dim", type=int, default=128, help="Transformer width")
        group.add_argument("--heads", type=int, default=4, help="Transformer attention heads")
        group.add_argument("--units", type=int, default=256, help="GRU baseline width")
        group.add_argument(
            "--label-smoothing", type=float, default=0.0, help="e.g. 0.1 for real text"
        )
        group.add_argument(
            "--beam-width",
            type=int,
            default=4,
            help="beams of the exported 'beam_search' signature (default: 4)",
        )
        group.add_argument(
            "--max-length",
            type=int,
            default=MAX_SEQUENCE_LENGTH,
            help=f"most tokens per sentence (default: {MAX_SEQUENCE_LENGTH})",
        )
        group.add_argument("--tfds-data-dir", default=None, help="where TFDS datasets are kept")

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
        data = prepare_data(parallel, max_length=options.get("max_length", MAX_SEQUENCE_LENGTH))
        data.beam_width = options.get("beam_width", 4)
        return data

    def datasets(self, data, batch_size, seed):
        train = tf.data.Dataset.from_tensor_slices(data.arrays["train"])
        train = train.shuffle(len(train), seed=seed, reshuffle_each_iteration=True)
        validation = tf.data.Dataset.from_tensor_slices(data.arrays["validation"])
        return (
            train.batch(batch_size).prefetch(tf.data.AUTOTUNE),
            validation.batch(batch_size).prefetch(tf.data.AUTOTUNE),
        )

    def num_train_examples(self, data):
        return len(data.arrays["train"][1])

    def build_model(self, config, data):
        options = config.options
        architecture = options.get("model", "transformer")
        sizes = {"source_length": data.source_length, "target_length": data.target_length}
        if architecture == "transformer":
            hidden_dim = options.get("hidden_dim", 128)
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
        return {
            "loss": MaskedCrossEntropy(config.options.get("label_smoothing", 0.0)),
            "metrics": [masked_accuracy],
        }

    def evaluate(self, model, data, figures_dir):
        _check_sizes(model, data)
        sources, references = data.pairs.test
        ids = _decode_all(model, data.arrays["test"][0]["source_ids"])
        hypotheses = data.target_tokenizer.detokenize_numpy(ids)
        metrics = translation_scores(hypotheses, references, data.pairs.kinds)
        figure = plot_translations(
            sources[:8], references[:8], hypotheses[:8], Path(figures_dir) / "translations.png"
        )
        examples = [
            {"source": s, "reference": r, "translation": h}
            for s, r, h in list(zip(sources, references, hypotheses, strict=True))[:20]
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

        def translate_with(translator):
            def translate(sentences):
                source_ids = source_tokenizer.encode(sentences, source_length)
                ids = decoding.greedy_decode(translator, source_ids)
                return {"translations": target_tokenizer.detokenize(ids), "target_ids": ids}

            return translate

        def translate_beam(sentences):
            source_ids = source_tokenizer.encode(sentences, source_length)
            ids = decoding.beam_search(model, source_ids, beam_width)
            return {"translations": target_tokenizer.detokenize(ids), "target_ids": ids}

        def translate_ids(source_ids):
            return {"target_ids": decoding.greedy_decode(tflite_model, source_ids)}

        sources, references = data.pairs.test
        test_ids = data.arrays["test"][0]["source_ids"]
        reference_ids = _decode_all(model, test_ids)

        def score(target_ids):
            hypotheses = target_tokenizer.detokenize_numpy(target_ids)
            return translation_scores(hypotheses, references, data.pairs.kinds)

        def parity(target_ids):
            same = np.all(np.asarray(target_ids) == reference_ids, axis=1)
            return {"identical_to_keras": float(np.mean(same))}

        return ExportSpec(
            app=self.name,
            model=model,
            serving=[
                Endpoint("serving_default", translate_with(model), sentences_spec),
                Endpoint("beam_search", translate_beam, sentences_spec),
            ],
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


def _check_sizes(model, data):
    """Fails clearly when a saved model was trained with other data than `data`.

    The vocabularies are rebuilt from the training split, so `dlapps
    evaluate`/`export` need the same `--data`, `--pairs` and `--seed` as
    training; other settings give other vocabularies and lengths.
    """
    expected = {
        "source_ids": (data.source_length, data.source_tokenizer.vocabulary_size),
        "target_ids": (data.target_length, data.target_tokenizer.vocabulary_size),
    }
    logits = model.output.shape[-1]
    actual_lengths = {name: model.input[name].shape[1] for name in expected}
    if logits != expected["target_ids"][1] or any(
        actual_lengths[name] != expected[name][0] for name in expected
    ):
        raise UserError(
            f"the model was trained on other data (target vocabulary {logits}, lengths "
            f"{actual_lengths}) than this run's (vocabulary {expected['target_ids'][1]}, "
            f"lengths { {k: v[0] for k, v in expected.items()} }): pass the --data, --pairs "
            "and --seed it was trained with"
        )


def _all_layers(model):
    """Every layer of a model, through nested models and wrappers."""
    return model._flatten_layers(include_self=False, recursive=True)


def _decode_all(model, source_ids, batch_size=256):
    """Greedy decoding of many sentences in batches: int32 `(n, target_length - 1)`."""
    decode = tf.function(
        lambda ids: decoding.greedy_decode(model, ids),
        input_signature=[tf.TensorSpec([None, source_ids.shape[1]], tf.int32)],
    )
    parts = [
        decode(tf.constant(source_ids[start : start + batch_size])).numpy()
        for start in range(0, len(source_ids), batch_size)
    ]
    return np.concatenate(parts)
