"""Tests for the summarization app: ROUGE and oracle labels, data loaders, copy mechanism,
n-gram blocking, and one small extractive model trained, exported and reloaded."""

import dataclasses
import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from scripts import ROOT, load_script

from dlapps import cli, training
from dlapps.application import get_application
from dlapps.errors import UserError
from dlapps.export import benchmark, export_model, tflite
from dlapps.translation import (
    abstractive,
    decoding,
    document_data,
    rouge,
    sentence_splitter,
    seq2seq,
)
from dlapps.translation.losses import MaskedCrossEntropy
from dlapps.translation.summarization_app import (
    crop_batch,
    encode_documents,
    join_selected,
    prepare_data,
    select,
    summaries_of,
)
from dlapps.translation.tokenizer import END_ID, START_ID, SubwordTokenizer

EDGE = ROOT / "export" / "edge"


def edge_runner():
    load_script("litert", EDGE / "litert.py")  # the runners do `import litert`
    load_script("translate", EDGE / "translate.py")  # summarize.py borrows its WordPiece
    return load_script("edge_summarize", EDGE / "summarize.py")


def test_rouge_scores_a_hand_made_case_with_stemming():
    scores = rouge.rouge_scores(["the cats sat on the mat"], ["the cat sat on a mat today"])
    # Stemmed unigrams: the cat sat on the mat / the cat sat on a mat today: 5 shared.
    assert scores["rouge1"] == pytest.approx(2 * (5 / 6) * (5 / 7) / (5 / 6 + 5 / 7))
    # Bigrams shared: "the cat", "cat sat", "sat on": 3 of 5 and of 6.
    assert scores["rouge2"] == pytest.approx(2 * (3 / 5) * (3 / 6) / (3 / 5 + 3 / 6))
    assert scores["rougeL"] == pytest.approx(scores["rouge1"])  # the LCS is the 5 shared words
    assert rouge.rouge_scores(["x y"], ["a b"])["rougeL"] == 0.0


def test_oracle_labels_pick_the_sentences_that_cover_the_reference():
    sentences = [
        "It was a cold afternoon in Velmora.",
        "Tarvo Rovers beat Kelmi United 3-1 at Ostrand Park.",
        "Tickets were cheap.",
        "Anja Brisk scored twice for Tarvo Rovers.",
        "Tarvo Rovers last beat Kelmi United in 1999.",
    ]
    reference = "Tarvo Rovers beat Kelmi United 3-1. Anja Brisk scored twice."
    assert rouge.oracle_labels(sentences, reference) == [0, 1, 0, 1, 0]
    assert rouge.oracle_labels(sentences, reference, max_sentences=1) == [0, 1, 0, 0, 0]


def test_sentences_split_the_same_in_graph_in_python_and_on_the_edge():
    edge = edge_runner()
    documents = [
        'Title line\n\nFirst one. Second one! "Third?" Then 4.5 percent.\nLast',
        "  One sentence only  ",
    ]
    in_graph = [
        [s.decode() for s in d] for d in rouge.split_sentences(tf.constant(documents)).to_list()
    ]
    assert in_graph[0] == [
        "Title line",
        "First one.",
        "Second one!",
        '"Third?"',
        "Then 4.5 percent.",
        "Last",
    ]
    assert in_graph == [rouge.split_sentences_python(d) for d in documents]
    assert in_graph == [edge.split_sentences(d) for d in documents]


def test_the_byte_level_split_in_graph_matches_the_regular_expressions_on_odd_text():
    # sentence_splitter re-expresses the rule on bytes (for TFLite): random
    # runs of marks, closers, every kind of white space, the separator byte
    # and multi-byte characters must split exactly as the regexes do.
    rng = np.random.default_rng(0)
    alphabet = [*"ab .!?\"')]\n\t\r \x0b\x0c\x1e", "é", "日本", "Z"]
    documents = ["", "   ", "One.", "x" * 450 + " é" * 300 + ". B"] + [
        "".join(rng.choice(alphabet, size=rng.integers(0, 40))) for _ in range(1500)
    ]
    want = [rouge.split_sentences_python(d) for d in documents]
    assert sum(len(w) > 1 for w in want) > 500  # many documents have several sentences
    split = sentence_splitter.split_sentences(tf.constant(documents))
    assert [[s.decode() for s in d] for d in split.to_list()] == want
    for batch in ([], ["", " \n "]):  # no bytes at all
        assert sentence_splitter.split_sentences(tf.constant(batch, tf.string)).to_list() == [
            [] for _ in batch
        ]
    cut = sentence_splitter.split_sentences(tf.constant(documents), max_characters=400)
    assert [[s.decode() for s in d] for d in cut.to_list()] == [[s[:400] for s in w] for w in want]


def test_abstractive_article_ids_are_the_same_in_tflite_as_in_tensorflow():
    # The abstractive model's strings TFLite reads articles with the graph below:
    # sentences split on bytes, all but a document's first with a space before it.
    documents = [
        'Tarvo won 3-1. "Great," said Anja!\nRain fell (again). Fans left.',
        "",
        "One sentence without an end",
        "Rovers lost. Kelmi won 2-0.",
    ]
    sentences = [rouge.split_sentences_python(d) for d in documents]
    tokenizer = SubwordTokenizer.build([s for d in sentences for s in d], 200)
    want = [
        [i for k, s in enumerate(d) for i in tokenizer.tokenize([(" " if k else "") + s])[0]]
        for d in sentences
    ]
    assert abstractive.encode_articles(tf.constant(documents), tokenizer).to_list() == want

    spec = [tf.TensorSpec([None], tf.string, name="articles")]

    @tf.function(input_signature=spec, autograph=False)  # no control flow: trace it fast
    def encode(articles):
        return {"ids": abstractive.encode_articles(articles, tokenizer, 40)}

    # tflite.convert's settings (builtins + tensorflow-text's ops), without a SavedModel on disk.
    module = tf.Module()
    module.encode = encode
    function = encode.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True
    lite = tflite.TFLiteModel(converter.convert())
    ids = lite({"articles": documents})["ids"]
    np.testing.assert_array_equal(ids, encode(tf.constant(documents))["ids"].numpy())
    assert [list(row[row != 0]) for row in ids] == [w[:40] for w in want]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_tsv_and_folder_load_and_keep_repeated_articles_in_one_split(tmp_path):
    records = [{"text": f"Article {i}. It has news.", "abstract": f"News {i}."} for i in range(30)]
    records += [records[0]] * 3  # the same story three more times
    jsonl = write(tmp_path / "news.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    data = document_data.load_documents(str(jsonl), fields=("text", "abstract"))
    splits = [set(getattr(data, s)[0]) for s in ("train", "validation", "test")]
    assert sum(len(getattr(data, s)[0]) for s in ("train", "validation", "test")) == 33
    assert sum(records[0]["text"] in s for s in splits) == 1 and not splits[0] & splits[2]
    assert data.skipped == {"repeated_articles": 3}

    tsv = write(
        tmp_path / "news.tsv",
        "article\tsummary\n" + "".join(f"Story {i}. More.\tStory {i}.\n" for i in range(10)),
    )
    assert len(document_data.load_documents(str(tsv)).train[0]) == 8
    for i in range(5):
        write(tmp_path / "bbc" / "News Articles" / "sport" / f"{i:03}.txt", f"Match {i}.\n\nWon.")
        write(tmp_path / "bbc" / "Summaries" / "sport" / f"{i:03}.txt", f"Match {i} won.")
    folder = document_data.load_documents(str(tmp_path / "bbc"))
    assert folder.test[1][0].startswith("Match") and len(folder.train[0]) == 3


def test_malformed_files_get_one_line_errors_with_their_line_numbers(tmp_path):
    jsonl = write(tmp_path / "bad.jsonl", '{"article": "A.", "summary": "B."}\n{"article": "C."}\n')
    with pytest.raises(UserError, match=r"line 2: no text in field 'summary'.*--summary-field"):
        document_data.load_documents(str(jsonl))
    tsv = write(tmp_path / "bad.tsv", "A.\tB.\nno tab here\n")
    with pytest.raises(UserError, match="line 2: expected 'article<TAB>summary'"):
        document_data.load_documents(str(tsv))
    write(tmp_path / "f" / "articles" / "1.txt", "Text.")
    write(tmp_path / "f" / "summaries" / "2.txt", "Other.")
    with pytest.raises(UserError, match="1.txt has no summary"):
        document_data.load_documents(str(tmp_path / "f"))


def test_tfds_summarization_sets_load_through_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        data = document_data.load_documents("tfds:cnn_dailymail")
    assert len(data.train[0]) == 6 and isinstance(data.test[1][0], str)


def test_copy_mechanism_produces_a_source_token_the_generator_cannot():
    # Summaries of 3 tokens copied from a 6-token source. The generator's
    # softmax covers ids < 16 only, and id 63 is in no training example: the
    # model can write it only by copying it from the source.
    keras.utils.set_random_seed(0)
    vocabulary, generator, held_out = 64, 16, 63
    rng = np.random.default_rng(0)
    source = rng.integers(16, held_out, size=(768, 6)).astype("int32")
    target = np.concatenate([source[:, :3], np.full((768, 1), END_ID)], 1).astype("int32")
    decoder_input = np.concatenate([np.full((768, 1), START_ID), target[:, :-1]], 1)
    model = seq2seq.build_transformer(
        vocabulary,
        vocabulary,
        6,
        4,
        num_layers=1,
        hidden_dim=32,
        num_heads=2,
        intermediate_dim=64,
        dropout=0.0,
        copy_mechanism=True,
        generator_vocabulary_size=generator,
    )
    # Eagerly: 12 steps of a toy model cost less than tracing the train step
    # (after them the right token has probability 0.6-0.9 at every step).
    model.compile(keras.optimizers.Adam(3e-3), loss=MaskedCrossEntropy(), run_eagerly=True)
    model.fit(
        {"source_ids": source, "target_ids": decoder_input.astype("int32")},
        target,
        batch_size=64,
        epochs=1,
        verbose=0,
    )
    test = np.array([[held_out, 20, 30, 40, 50, 60], [25, held_out, 35, 45, 55, 61]], "int32")
    expected = [[held_out, 20, 30], [25, held_out, 35]]
    assert decoding.greedy_decode(model, test).numpy()[:, :3].tolist() == expected
    beams = decoding.beam_search(model, test, 2, no_repeat_ngram_size=3).numpy()
    assert beams[:, :3].tolist() == expected


def test_latency_of_a_slow_call_stops_after_its_time_limit_warmup_included():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.05)

    assert benchmark.median_latency_ms(slow, warmup=3, repeats=30, max_seconds=0.01) >= 50
    assert len(calls) == 2  # one warmup call, one timed call


def test_no_repeat_ngram_blocking_forbids_only_the_token_that_repeats_a_trigram():
    # Decoded so far: [START] 5 6 7 5 6; the next token goes to position 6.
    tokens = tf.constant([[START_ID, 5, 6, 7, 5, 6, 0, 0], [START_ID, 5, 6, 7, 8, 6, 0, 0]])
    log_probs = tf.zeros([2, 10])
    blocked = decoding.block_repeated_ngrams(log_probs, tokens, 5, 3).numpy()
    assert blocked[0, 7] < -1e8 and (np.delete(blocked[0], 7) == 0).all()  # "5 6 7" again
    assert (blocked[1] == 0).all()  # "8 6 x" is new
    assert (decoding.block_repeated_ngrams(log_probs, tokens, 5, 0).numpy() == 0).all()


@pytest.fixture(scope="module")
def trained_summarizer(tmp_path_factory):
    root = tmp_path_factory.mktemp("summarization")
    config = training.TrainConfig(
        app="summarization",
        data="reports",
        epochs=1,
        batch_size=16,
        learning_rate=2e-3,
        output=str(root / "saved_models"),
        workdir=str(root / "runs"),
        verbose=0,
        export=False,
        options={
            "documents": 60,
            "hidden_dim": 32,
            "layers": 1,
            "heads": 2,
            "vocabulary_size": 600,
        },
    )
    application = get_application("summarization")
    result = training.run(application, config)
    # The float32 file stands for the TFLite variants (the bench exports them all).
    spec = dataclasses.replace(
        application.export_spec(result.model, result.data), tflite_formats=("tflite_float32",)
    )
    with pytest.MonkeyPatch.context() as patch:
        # Latency is timed, not tested, here: a few calls, not 30.
        timed = functools.partial(benchmark.median_latency_ms, warmup=1, repeats=2)
        patch.setattr(benchmark, "median_latency_ms", timed)
        report = export_model(spec, config.output, result.metrics)
    return result, Path(report["path"]), report


def test_extractive_model_beats_nothing_trivially_and_exports_agree_with_keras(trained_summarizer):
    result, version, report = trained_summarizer
    metrics = result.metrics
    assert metrics["scorer_rougeL"] > metrics["lead3_rougeL"]  # it learned which facts matter
    assert metrics["rougeL"] >= metrics["scorer_rougeL"] or metrics["lead_fallback"]
    for export in report["exports"]:
        assert export["identical_to_keras"] == 1.0, export["format"]
        assert export["metrics"]["rougeL"] == pytest.approx(metrics["rougeL"])
    formats = {e["format"] for e in report["exports"]}
    assert {"saved_model", "tflite_float32", "tflite_strings"} == formats


def test_saved_model_loads_in_a_fresh_process_with_tensorflow_and_tf_text_only(trained_summarizer):
    result, version, _ = trained_summarizer
    articles = result.data.documents.test[0][:3]
    script = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        f"model = tf.saved_model.load({str(version)!r})\n"
        "out = model.signatures['serving_default'](articles=tf.constant(json.loads(sys.argv[1])))\n"
        "assert not any(m.split('.')[0] == 'dlapps' for m in sys.modules), 'imported'\n"
        "print(json.dumps([s.decode() for s in out['summaries'].numpy()]))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script, json.dumps(articles)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    summaries = json.loads(output.strip().splitlines()[-1])
    tokenizer, data = result.data.tokenizer, result.data
    found = sentence_splitter.sentence_offsets(tf.constant(articles), 400)
    ids, _ = encode_documents(
        tf.constant(articles), tokenizer, data.max_sentences, data.sentence_length, found
    )
    selected = select(result.model({"sentence_ids": ids}), ids, data.selection)
    keras_summaries = [
        s.decode() for s in join_selected(tf.constant(articles), found, selected).numpy()
    ]
    assert summaries == keras_summaries
    assert summaries == summaries_of(data.sentences["test"][:3], selected.numpy())
    assert all(len(s) < len(a) and s for s, a in zip(summaries, articles, strict=True))


def test_predict_cli_and_edge_runner_give_the_saved_models_summary(
    trained_summarizer, tmp_path, capsys
):
    result, version, _ = trained_summarizer
    article = write(tmp_path / "article.txt", result.data.documents.test[0][0])
    assert cli.main(["predict", str(version), str(article)]) == 0
    printed = capsys.readouterr().out
    edge = edge_runner()
    (summary,) = edge.summarize(version / "summarization_float32.tflite", [article.read_text()])
    assert summary and summary in printed
    assert cli.main(["predict", str(version), str(tmp_path / "missing.txt")]) == 1
    assert "is not a file" in capsys.readouterr().err
    with pytest.raises(edge.EdgeError, match="takes strings and needs tensorflow-text"):
        edge.summarize(version / "summarization_strings.tflite", [article.read_text()])


def test_strings_tflite_gives_the_saved_models_summaries_with_builtin_and_tf_text_ops(
    trained_summarizer, tmp_path, capsys
):
    result, version, _ = trained_summarizer
    strings_file = version / "summarization_strings.tflite"
    ops = tflite.op_names(strings_file.read_bytes())
    custom = {op for op in ops if not op.isupper()}
    assert custom <= {
        "TFText>ByteSplitWithOffsets",
        "TFText>ByteSplitByOffsets",
        "TFText>NgramsStringJoin",
        "FastWordpieceTokenizeWithOffsets",
        "RaggedTensorToTensor",
    }, custom  # no Flex op, no StaticRegexReplace
    articles = result.data.documents.test[0]
    articles = [*articles, "", "  \n ", "One line without an end"]
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    saved = signature(articles=tf.constant(articles))["summaries"].numpy().tolist()
    lite = tflite.TFLiteModel(strings_file).run_batched({"articles": articles}, 64)["summaries"]
    assert lite.tolist() == saved
    assert sum(bool(s) for s in saved) >= len(articles) - 2  # real summaries, not blanks
    article = write(tmp_path / "article.txt", articles[1])
    assert cli.main(["predict", str(strings_file), str(article)]) == 0
    assert saved[1].decode() in capsys.readouterr().out


def test_a_batch_cut_to_its_longest_document_and_sentence_scores_as_the_full_padding(
    trained_summarizer,
):
    result = trained_summarizer[0]
    ids = result.data.ids["test"]
    ids = ids[np.argsort((ids != 0).any(-1).sum(-1))[:4]]  # the shortest documents
    (cropped,), _ = zip(crop_batch({"sentence_ids": tf.constant(ids)}, tf.zeros(ids.shape[:2])))
    cropped = cropped["sentence_ids"].numpy()
    assert cropped.shape[1] < ids.shape[1] or cropped.shape[2] < ids.shape[2]
    full = result.model({"sentence_ids": ids}).numpy()
    cut = result.model({"sentence_ids": cropped}).numpy()
    present = (cropped != 0).any(-1)
    np.testing.assert_allclose(cut[present], full[:, : cropped.shape[1]][present], atol=1e-5)
    assert np.ptp(cut[present]) > 0.1  # scores that differ between sentences


def test_sentences_read_are_the_fewest_that_hold_the_training_oracle_sentences():
    # The summary restates the second sentence of each 6-sentence article.
    articles = [
        f"Weather {i} is mild. Team {i} won the cup {i}-0. Rain fell. Tickets sold. "
        "Fans sang. Buses ran late."
        for i in range(20)
    ]
    pairs = [(a, f"Team {i} won the cup {i}-0.") for i, a in enumerate(articles)]
    data = prepare_data(document_data.split_pairs(pairs, "test", 0), vocabulary_size=300)
    assert data.max_sentences == 2
    assert data.ids["train"].shape[1] == 2 and (data.labels["train"][:, 1] == 1).all()
    assert data.lengths["train_documents_cut"] == len(data.ids["train"])


def test_tokenizer_is_translations_wordpiece(trained_summarizer):
    assert isinstance(trained_summarizer[0].data.tokenizer, SubwordTokenizer)
