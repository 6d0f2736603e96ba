"""Tests for translation data and tokenization: generated pairs, TSV, TFDS, round trips."""

import collections
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dlapps.errors import UserError
from dlapps.translation import parallel_data
from dlapps.translation.tokenizer import END_ID, START_ID, UNKNOWN_ID, SubwordTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export" / "edge"))
import translate as edge_translate  # noqa: E402


@pytest.fixture(scope="module")
def pairs():
    return parallel_data.load_parallel_data("synthetic", train_size=3000, test_size=300)


def test_numbers_of_every_length_are_equally_common():
    numbers = parallel_data.sample_numbers(3000, np.random.default_rng(0))
    lengths = collections.Counter(len(str(n)) for n in numbers)
    assert len(set(numbers)) == 3000
    # Every 1- and 2-digit number is in; the longer lengths share the rest.
    assert lengths[1] == 10 and lengths[2] == 90
    for digits in range(3, 7):
        assert 0.15 < lengths[digits] / 3000 < 0.3, lengths


def test_built_in_pairs_are_english_to_spanish_and_test_sources_are_never_trained_on(pairs):
    sources, targets = pairs.train
    assert len(sources) == len(targets) == 3000
    assert len(pairs.test[0]) == 300 and len(pairs.kinds) == 300
    index = sources.index("twenty-one") if "twenty-one" in sources else None
    assert index is None or targets[index] == "veintiuno"
    assert {"zero", "one", "nine"} <= set(sources)  # 0..9 always train
    assert not set(pairs.test[0]) & set(sources)
    assert not set(pairs.validation[0]) & set(sources)
    assert set(pairs.kinds) == {"numbers", "dates"}
    dates = [t for t, k in zip(pairs.test[1], pairs.kinds, strict=True) if k == "dates"]
    assert all(" de " in date and ", " in date for date in dates), dates[:3]


def test_other_languages_and_bad_language_names():
    pairs = parallel_data.load_parallel_data(
        "numbers", source_lang="es", target_lang="fr", train_size=30, test_size=5
    )
    assert "dix" in " ".join(pairs.train[1] + pairs.test[1] + pairs.validation[1])
    with pytest.raises(UserError, match="unknown language 'xx'.*choose from de, en"):
        parallel_data.load_parallel_data("numbers", source_lang="xx")
    with pytest.raises(UserError, match="unknown translation data 'nope.tsv'"):
        parallel_data.load_parallel_data("nope.tsv")


def test_tsv_pairs_errors_name_the_line_and_blank_lines_are_counted(tmp_path):
    path = tmp_path / "pairs.tsv"
    lines = [f"sentence {i}\tfrase {i}\tCC-BY attribution" for i in range(40)]
    path.write_text("\n".join(lines[:20] + [""] + lines[20:]) + "\n", encoding="utf-8")
    data = parallel_data.load_tsv(path, validation_size=4, test_size=6)
    assert (len(data.train[0]), len(data.validation[0]), len(data.test[0])) == (30, 4, 6)
    assert data.train[1][0].startswith("frase ")  # the third column is ignored
    assert data.summary()["skipped"] == {"blank_lines": 1}
    assert not set(data.test[0]) & set(data.train[0])

    path.write_text("one\tuno\ntwo uno\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"pairs.tsv, line 2: expected 'source<TAB>target'"):
        parallel_data.load_tsv(path)
    path.write_bytes("uno\tun\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="is not UTF-8 text.*save it as UTF-8"):
        parallel_data.load_tsv(path)


def test_tfds_translation_datasets_load_through_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        data = parallel_data.load_parallel_data("tfds:ted_hrlr_translate/pt_to_en")
    assert (data.source_lang, data.target_lang) == ("pt", "en")
    assert len(data.train[0]) == 12 and isinstance(data.train[1][0], str)


def test_tokenizer_round_trips_exactly_in_graph_and_in_numpy(pairs):
    tokenizer = SubwordTokenizer.build(pairs.train[1])
    ids = tokenizer.encode(tf.constant(pairs.test[1]), 20, add_start=True, add_end=True).numpy()
    assert (ids[:, 0] == START_ID).all() and (ids == END_ID).sum() == len(ids)
    in_graph = [t.decode() for t in tokenizer.detokenize(ids).numpy()]
    assert in_graph == pairs.test[1]  # spaces and punctuation as they were
    assert tokenizer.detokenize_numpy(ids) == pairs.test[1]
    # Unseen words fall back to characters; unseen characters give [UNK].
    unseen = tokenizer.tokenize(tf.constant(["sesenta y siete mil", "日本"])).to_list()
    assert UNKNOWN_ID not in unseen[0] and unseen[1] == [UNKNOWN_ID]


def test_edge_wordpiece_matches_tensorflow_text(pairs):
    tokenizer = SubwordTokenizer.build(pairs.train[0])
    edge = edge_translate.WordPiece(tokenizer.vocabulary)
    sentences = pairs.test[0] + ["seventy-seven", "Tuesday, 日本", ""]
    expected = tokenizer.tokenize(tf.constant(sentences)).to_list()
    assert [edge.encode(s) for s in sentences] == expected
    assert edge.decode(expected[0] + [END_ID, 5]) == sentences[0]


TEXT = [
    "¿Dónde está la estación de tren?",
    "Él dijo: «¡Hola, señor Pérez!»",
    "The café's crème brûlée was excellent.",
    "I can't find my keys; have you seen them?",
    "Tom and Mary don't live in Madrid anymore.",
    "Ella compró tres libros y una revista.",
    "We're translating sentences, not words.",
    "NASA's API returned 404 errors (again).",
]


def test_wordpiece_vocabulary_learns_subwords_and_detokenizes_exactly():
    tokenizer = SubwordTokenizer.build(TEXT * 3, max_size=1000, vocabulary="wordpiece")
    unseen = [
        "¿Dónde están los libros de Pérez?",
        "Mary's translations (of sentences) weren't excellent!",
        "TOM  compró   crème.",  # casing and repeated spaces
    ]
    ids = tokenizer.encode(tf.constant(unseen), 80, add_start=True, add_end=True)
    assert [t.decode() for t in tokenizer.detokenize(ids).numpy()] == unseen
    assert tokenizer.detokenize_numpy(ids.numpy()) == unseen
    assert UNKNOWN_ID not in ids.numpy()
    # Learned pieces ("## libros", "##Dónde"), not one token per character.
    pieces = tokenizer.tokenize(tf.constant(unseen[:1])).to_list()[0]
    assert len(pieces) < len(unseen[0]) / 2, [tokenizer.vocabulary[i] for i in pieces]
    edge = edge_translate.WordPiece(tokenizer.vocabulary)
    assert [edge.encode(s) for s in unseen] == tokenizer.tokenize(tf.constant(unseen)).to_list()


def test_scores_count_a_match_with_any_reference_of_a_sentence():
    from dlapps.translation.translation_metrics import translation_scores

    references = [["Estoy hambriento.", "Tengo hambre."], ["Hace frío hoy."]]
    scores = translation_scores(["Tengo hambre.", "Hace frío hoy."], references)
    assert scores["exact_match"] == 1.0 and scores["bleu"] == pytest.approx(100.0)
    single = translation_scores(["Tengo hambre.", "Hace frío hoy."], [r[0] for r in references])
    assert single["bleu"] < 100 and single["exact_match"] == 0.5
