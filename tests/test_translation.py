"""Tests for the translation app: models, decoding, training through the driver, exports."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlapps import cli, training
from dlapps.application import get_application
from dlapps.export import TFLiteModel
from dlapps.translation import decoding, seq2seq
from dlapps.translation.losses import MaskedCrossEntropy, masked_accuracy
from dlapps.translation.multi_head_attention import MultiHeadAttention
from dlapps.translation.tokenizer import END_ID, PAD_ID, START_ID

EDGE = Path(__file__).resolve().parents[1] / "export" / "edge"


@pytest.mark.parametrize("architecture", seq2seq.ARCHITECTURES)
def test_models_map_source_and_target_prefix_to_next_token_logits(architecture):
    model = seq2seq.build_translator(architecture, 30, 40, source_length=7, target_length=5)
    logits = model({"source_ids": np.ones((2, 7), "int32"), "target_ids": np.ones((2, 5), "int32")})
    assert logits.shape == (2, 5, 40)
    assert {"encoder", "decoder"} <= {layer.name for layer in model.layers}


def test_decoder_is_causal_and_ignores_source_padding():
    keras.utils.set_random_seed(1)
    model = seq2seq.build_transformer(30, 40, 6, 5, hidden_dim=16, num_heads=2, dropout=0.0)
    source = np.array([[5, 6, 7, 0, 0, 0]], "int32")
    target = np.array([[START_ID, 8, 9, 10, 11]], "int32")
    logits = model({"source_ids": source, "target_ids": target}).numpy()
    changed_future = target.copy()
    changed_future[0, 3:] = 12
    other = model({"source_ids": source, "target_ids": changed_future}).numpy()
    np.testing.assert_allclose(logits[0, :3], other[0, :3], atol=1e-5)  # positions 0..2
    assert not np.allclose(logits[0, 3], other[0, 3])
    padded_differently = source.copy()
    padded_differently[0, 4] = 0  # still padding: same answer
    np.testing.assert_allclose(
        logits, model({"source_ids": padded_differently, "target_ids": target}), atol=1e-5
    )


def test_matmul_attention_equals_keras_attention_in_outputs_and_gradients():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(3, 5, 16)).astype("float32")
    memory = rng.normal(size=(3, 7, 16)).astype("float32")
    source_mask = np.ones((3, 1, 7), bool)
    source_mask[0, :, 4:] = False  # a padded source
    for value, mask, causal in ((query, None, True), (memory, source_mask, False)):
        reference = keras.layers.MultiHeadAttention(4, 4, dropout=0.1)
        attention = MultiHeadAttention(4, 4, dropout=0.1)
        for layer in (reference, attention):
            layer(query, value, attention_mask=mask, use_causal_mask=causal)
        attention.set_weights(reference.get_weights())
        with tf.GradientTape(persistent=True) as tape:
            outputs = [
                layer(query, value, attention_mask=mask, use_causal_mask=causal)
                for layer in (reference, attention)
            ]
            losses = [tf.reduce_sum(tf.sin(output)) for output in outputs]
        np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-6)
        assert float(tf.math.reduce_std(outputs[0])) > 0.1  # not a constant output
        expected, got = (
            tape.gradient(loss, layer.trainable_variables)
            for layer, loss in zip((reference, attention), losses, strict=True)
        )
        for want, have in zip(expected, got, strict=True):
            np.testing.assert_allclose(have, want, atol=1e-4)


def test_masked_loss_and_accuracy_skip_padding():
    y_true = np.array([[5, 6, PAD_ID, PAD_ID]])
    y_pred = np.full((1, 4, 8), -10.0, "float32")
    y_pred[0, 0, 5] = y_pred[0, 1, 1] = 10.0  # first right, second wrong
    assert float(masked_accuracy(y_true, y_pred)[0]) == pytest.approx(0.5)
    loss = MaskedCrossEntropy()(y_true, y_pred)
    assert float(loss) == pytest.approx(20 / 2, rel=1e-3)  # only two tokens count
    smoothed = MaskedCrossEntropy(label_smoothing=0.1)(y_true, y_pred)
    assert float(smoothed) > float(loss) / 2


def naive_greedy(model, source, target_length):
    """Re-runs the whole model on the growing prefix: the definition of greedy decoding."""
    tokens = [START_ID]
    while len(tokens) < target_length:
        padded = np.array([tokens + [PAD_ID] * (target_length - len(tokens))], "int32")
        logits = model({"source_ids": source[None], "target_ids": padded}).numpy()
        tokens.append(int(np.argmax(logits[0, len(tokens) - 1])))
        if tokens[-1] == END_ID:
            break
    return tokens[1:] + [PAD_ID] * (target_length - len(tokens))


def test_greedy_decoding_in_graph_matches_the_definition_and_beam_of_one_is_greedy():
    keras.utils.set_random_seed(3)
    model = seq2seq.build_transformer(20, 12, 5, 6, hidden_dim=16, num_heads=2)
    sources = np.random.default_rng(0).integers(4, 20, (3, 5)).astype("int32")
    greedy = decoding.greedy_decode(model, sources).numpy()
    assert greedy.shape == (3, 5)
    assert greedy.tolist() == [naive_greedy(model, s, 6) for s in sources]
    np.testing.assert_array_equal(decoding.beam_search(model, sources, beam_width=1), greedy)
    beams = decoding.beam_search(model, sources, beam_width=3).numpy()
    assert beams.shape == (3, 5)
    for row in beams:  # nothing but padding after [END]
        ends = np.flatnonzero(row == END_ID)
        assert not ends.size or (row[ends[0] + 1 :] == PAD_ID).all()


@pytest.fixture(scope="module")
def trained_translation(tmp_path_factory):
    root = tmp_path_factory.mktemp("translation")
    config = training.TrainConfig(
        app="translation",
        data="numbers",
        epochs=4,  # chrF 79 (6: 90); the tests below need non-trivial output, not quality
        learning_rate=2e-3,
        output=str(root / "saved_models"),
        workdir=str(root / "runs"),
        verbose=0,
        options={"pairs": 2000, "layers": 1, "hidden_dim": 64, "beam_width": 2},
    )
    # Every TFLite variant (tests/test_app_script_translation.py exports the GRU baseline).
    return training.run(get_application("translation"), config)


def test_translation_trains_and_exports_every_format(trained_translation):
    report = trained_translation.report
    metrics = report["metrics"]
    assert {"bleu", "chrf", "exact_match"} <= set(metrics)
    assert metrics["chrf"] > 50, metrics  # a few seconds of training: well above chance
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {
        "saved_model",
        "tflite_float32",
        "tflite_float16",
        "tflite_dynamic",
        "tflite_strings",
    }
    for name in ("saved_model", "tflite_float32", "tflite_strings"):
        assert exports[name]["identical_to_keras"] == 1.0, name
        assert exports[name]["metrics"]["bleu"] == pytest.approx(metrics["bleu"]), name
    version = Path(report["path"])
    assert (version / "source_vocabulary.txt").is_file()
    assert (version / "figures" / "translations.png").is_file()
    assert report["evaluation"]["examples"][0].keys() == {"source", "reference", "translation"}


def test_saved_model_translates_strings_with_only_tensorflow_and_tensorflow_text(
    trained_translation,
):
    version = trained_translation.report["path"]
    sources = trained_translation.data.pairs.test[0][:3]
    script = f"""
import json, sys
import tensorflow as tf, tensorflow_text
model = tf.saved_model.load({version!r})
sentences = tf.constant({sources!r})
greedy = model.signatures["serving_default"](sentences=sentences)["translations"]
beam = model.signatures["beam_search"](sentences=sentences)["translations"]
print(json.dumps({{"dlapps": "dlapps" in sys.modules,
    "greedy": [t.decode() for t in greedy.numpy()], "beam": [t.decode() for t in beam.numpy()]}}))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    served = json.loads(output.strip().splitlines()[-1])
    assert not served["dlapps"]
    examples = {
        e["source"]: e["translation"] for e in trained_translation.report["evaluation"]["examples"]
    }
    assert served["greedy"] == [examples[s] for s in sources]
    assert len(served["beam"]) == 3 and all(isinstance(t, str) for t in served["beam"])


def test_edge_runner_and_strings_tflite_agree_with_the_saved_model(trained_translation, capsys):
    version = Path(trained_translation.report["path"])
    sources = trained_translation.data.pairs.test[0][:4]
    assert cli.main(["predict", str(version), *sources]) == 0
    saved_model = capsys.readouterr().out.strip().splitlines()
    assert cli.main(["predict", str(version / "translation_strings.tflite"), *sources]) == 0
    assert capsys.readouterr().out.strip().splitlines() == saved_model

    script = f"""
import json, sys
sys.modules["tensorflow"] = None  # the edge runner must not need it
sys.path.insert(0, {str(EDGE)!r})
import translate
print(json.dumps(translate.translate({str(version / "translation_float32.tflite")!r}, {sources!r})))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(output.strip().splitlines()[-1]) == saved_model


def test_bench_times_every_format_with_its_own_inputs(trained_translation, capsys):
    version = trained_translation.report["path"]
    assert cli.main(["bench", version, "--batch-sizes", "1", "2"]) == 0
    table = capsys.readouterr().out
    for name in ("saved_model", "tflite_float32", "tflite_dynamic", "tflite_strings"):
        assert name in table
    assert "tflite_dynamic/tflite_float32@1" in table


def test_token_id_tflite_is_rejected_by_predict_with_a_pointer(trained_translation, capsys):
    version = Path(trained_translation.report["path"])
    assert cli.main(["predict", str(version / "translation_float32.tflite"), "one"]) == 1
    assert "takes token ids" in capsys.readouterr().err
    tflite = TFLiteModel(version / "translation_float32.tflite")
    assert set(tflite.inputs) == {"source_ids"}
    ids = tflite({"source_ids": np.zeros((2, tflite.inputs["source_ids"]["shape"][1]), "int32")})
    assert ids["target_ids"].dtype == np.int32 and ids["target_ids"].shape[0] == 2


def test_evaluate_a_checkpoint_needs_the_data_it_was_trained_on(trained_translation, capsys):
    runs = Path(trained_translation.report["path"]).parents[2] / "runs" / "translation"
    checkpoint = str(runs / "best.keras")
    same = ["evaluate", "translation", checkpoint, "--data", "numbers", "--pairs", "2000"]
    assert cli.main(same) == 0
    assert "exact_match:" in capsys.readouterr().out
    other = ["evaluate", "translation", checkpoint, "--data", "dates", "--pairs", "300"]
    assert cli.main(other) == 1
    assert "trained on other data" in capsys.readouterr().err


def test_serving_request_bodies_fit_the_saved_model_signature(trained_translation):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "export" / "serving" / "client.py"
    spec = importlib.util.spec_from_file_location("serving_client_translation", path)
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    sentences = trained_translation.data.pairs.test[0][:2]
    rows = json.loads(json.dumps(client.build_text_body(sentences)))
    columns = json.loads(json.dumps(client.build_text_body(sentences, columnar=True)))
    model = tf.saved_model.load(trained_translation.report["path"])
    signature = model.signatures[rows["signature_name"]]
    # What TF Serving does with each format: one tensor per input name.
    from_rows = {
        name: tf.constant([row[name] for row in rows["instances"]]) for name in rows["instances"][0]
    }
    from_columns = {name: tf.constant(value) for name, value in columns["inputs"].items()}
    assert set(from_rows) == set(signature.structured_input_signature[1]) == set(from_columns)
    translated = signature(**from_rows)["translations"].numpy().tolist()
    assert translated == signature(**from_columns)["translations"].numpy().tolist()
    assert len(translated) == 2


@pytest.fixture(scope="module")
def random_transformer():
    """A small untrained Transformer whose greedy outputs vary (60 target tokens)."""
    keras.utils.set_random_seed(7)
    return seq2seq.build_transformer(50, 60, 12, 10, hidden_dim=32, num_heads=4, dropout=0.1)


def test_key_value_cache_gives_the_tokens_of_the_uncached_decoder(random_transformer):
    sources = np.random.default_rng(1).integers(4, 50, (8, 12)).astype("int32")
    sources[:4, 7:] = PAD_ID  # some shorter sentences
    uncached = decoding.greedy_decode(random_transformer, sources, use_cache=False).numpy()
    assert len(np.unique(uncached)) >= 5, uncached  # non-trivial outputs
    cached = decoding.greedy_decode(random_transformer, sources, use_cache=True).numpy()
    np.testing.assert_array_equal(cached, uncached)
    beams = [
        decoding.beam_search(random_transformer, sources, 3, use_cache=use_cache).numpy()
        for use_cache in (False, True)
    ]
    np.testing.assert_array_equal(beams[1], beams[0])


def test_padding_never_changes_a_translation(random_transformer):
    """A sentence decodes the same alone, padded to its length, or in a batch of longer ones."""
    sentence = np.array([[11, 23, 35, 7, 19]], "int32")
    alone = decoding.greedy_decode(random_transformer, sentence).numpy()
    batch = np.zeros((3, 12), "int32")
    batch[0, :5] = sentence[0]
    batch[1:] = np.random.default_rng(2).integers(4, 50, (2, 12))
    padded = decoding.greedy_decode(random_transformer, batch).numpy()
    np.testing.assert_array_equal(padded[:1], alone)
    target = np.array([[START_ID, 5, 9, 13]], "int32")
    logits = random_transformer({"source_ids": sentence, "target_ids": target})
    longer = random_transformer(
        {"source_ids": batch[:1], "target_ids": np.pad(target, [(0, 0), (0, 5)])}
    )
    np.testing.assert_allclose(longer[:, :4], logits, atol=1e-5)


def test_length_buckets_batch_every_pair_once_padded_to_its_own_longest():
    from dlapps.translation import parallel_data, translation_app

    pairs = parallel_data.load_parallel_data("numbers", train_size=300, test_size=20)
    data = translation_app.prepare_data(pairs)
    train, _ = translation_app.make_datasets(data, batch_size=16, seed=0)
    seen, widths, batches = 0, set(), 0
    for inputs, targets in train:
        batches += 1
        real = np.count_nonzero(inputs["source_ids"], axis=1)
        assert inputs["source_ids"].shape[1] == real.max()  # no column of padding only
        assert targets.shape == inputs["target_ids"].shape
        seen += len(real)
        widths.add(inputs["source_ids"].shape[1])
    assert seen == len(pairs.train[0]) - data.lengths["train_pairs_left_out"]
    assert len(widths) > 3  # several lengths, not one padded size
    # The batch count is stated, so Keras shows a progress bar in the first epoch too
    # (and does not warn that the input "ran out of data").
    assert int(train.cardinality()) == batches


def test_learning_rate_warms_up_then_reaches_zero_when_the_budget_ends():
    from dlapps.callbacks import AnnealToBudget

    anneal = AnnealToBudget(1e-3, total_steps=1000, warmup_steps=10, seconds=60)
    anneal._start = __import__("time").monotonic()
    anneal.step = 4
    assert anneal.learning_rate() == pytest.approx(5e-4, rel=0.01)  # warming up
    anneal.step = 500  # half the steps, little time: the steps count
    assert anneal.learning_rate() == pytest.approx(5e-4, rel=0.01)
    anneal.step, anneal._start = 10, anneal._start - 60  # the budget is spent
    assert anneal.learning_rate() == pytest.approx(0.0, abs=1e-9)


def test_beam_search_with_cache_converts_to_builtin_tflite_and_matches_keras(
    random_transformer, tmp_path
):
    from dlapps.export import Endpoint, TFLiteModel
    from dlapps.export.saved_model import write_saved_model
    from dlapps.export.tflite import convert

    def translate_ids(source_ids):
        return {"target_ids": decoding.beam_search(random_transformer, source_ids, 3)}

    spec = [tf.TensorSpec([None, 12], tf.int32, name="source_ids")]
    write_saved_model(
        random_transformer, [Endpoint("serving_default", translate_ids, spec)], tmp_path
    )
    tflite = TFLiteModel(convert(str(tmp_path), "tflite_float32"))
    sources = np.random.default_rng(3).integers(4, 50, (4, 12)).astype("int32")
    np.testing.assert_array_equal(
        tflite({"source_ids": sources})["target_ids"],
        decoding.beam_search(random_transformer, sources, 3).numpy(),
    )


def test_a_tsv_of_sentences_gets_subwords_beam_search_and_every_reference(tmp_path):
    from dlapps.translation import parallel_data

    pairs = parallel_data.load_parallel_data("dates", train_size=240, test_size=30)
    # Every sentence with two translations, as Tatoeba has many: scored against both.
    lines = [
        f"{source}\t{target}{ending}\tCC-BY 2.0 (France) attribution"
        for source, target in zip(*pairs.train, strict=True)
        for ending in ("", ".")
    ]
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = training.TrainConfig(app="translation", data=str(tmp_path / "pairs.tsv"))
    data = get_application("translation").load_data(config)
    assert (data.vocabulary, data.decoding) == ("wordpiece", "beam")
    assert [len(references) for references in data.test_references] == [2] * len(data.test_sources)
    assert len(data.test_sources) == len(set(data.pairs.test[0]))
