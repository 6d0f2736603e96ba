"""Speech-to-text decoding with a language model: the n-gram model, prefix beam search, files."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlapps.errors import UserError
from dlapps.speech import sentence_data, sentence_text
from dlapps.speech.ctc_decoder import CTCDecoder
from dlapps.speech.language_model import NgramLanguageModel
from dlapps.speech.speech_to_text import greedy_decode_numpy

LABELS = ["<blank>", *sentence_data.ALPHABET]
TEXTS = [
    "the cat sat on the mat",
    "a cat and a dog",
    "my cat is black",
    "the dog sat down",
    "turn the light on",
]


def logits_of(frames):
    """Logits from per-frame `{character: probability}` (the rest shared by the other classes)."""
    probabilities = np.zeros((len(frames), len(LABELS)))
    for row, frame in enumerate(frames):
        rest = (1.0 - sum(frame.values())) / (len(LABELS) - len(frame))
        probabilities[row] = rest
        for character, p in frame.items():
            probabilities[row, 0 if character == "_" else LABELS.index(character)] = p
    return np.log(probabilities)[None]


def ctc_log_likelihood(log_probs, text):
    """log p(text | frames) summed over every CTC alignment (the forward algorithm)."""
    extended = [0]
    for character in text:
        extended += [LABELS.index(character), 0]
    alpha = np.full(len(extended), -np.inf)
    alpha[0] = log_probs[0, 0]
    if text:
        alpha[1] = log_probs[0, extended[1]]
    for row in log_probs[1:]:
        previous = alpha.copy()
        for s, label in enumerate(extended):
            terms = [previous[s]] + ([previous[s - 1]] if s > 0 else [])
            if s > 1 and label != 0 and label != extended[s - 2]:
                terms.append(previous[s - 2])
            alpha[s] = np.logaddexp.reduce(terms) + row[label]
    return np.logaddexp.reduce(alpha[-2:] if text else alpha[-1:])


def test_prefix_search_without_language_model_is_at_least_as_good_as_best_path():
    # Peaked frames: both read "hi ho". Flat ones: the blank wins every frame (best
    # path: ""), but "a" sums three alignments (a a, a _, _ a) and is likelier.
    peaked = logits_of(
        [{c: 0.9} for c in "h_ii_ _hh_o"],
    )
    flat = logits_of([{"_": 0.5, "a": 0.4}, {"_": 0.5, "a": 0.4}])
    decoder = CTCDecoder.from_texts(TEXTS, LABELS, alpha=0.0, beta=0.0)
    assert decoder.decode(peaked) == greedy_decode_numpy(peaked) == ["hi ho"]
    assert greedy_decode_numpy(flat) == [""]
    assert decoder.decode(flat) == ["a"]
    log_probs = flat[0] - np.logaddexp.reduce(flat[0], axis=-1, keepdims=True)
    assert ctc_log_likelihood(log_probs, "a") > ctc_log_likelihood(log_probs, "")


def test_language_model_turns_an_ambiguous_spelling_into_the_known_word():
    # "my ?at is black": the audio leans to "kat" (0.5 against 0.4 for "c").
    frames = [{c: 0.9} for c in "my_ "]
    frames += [{"k": 0.5, "c": 0.4}] + [{c: 0.9} for c in "at_ is_ black"]
    logits = logits_of(frames)
    plain = CTCDecoder.from_texts(TEXTS, LABELS, alpha=0.0, beta=0.0)
    assert plain.decode(logits) == greedy_decode_numpy(logits) == ["my kat is black"]
    assert plain.with_weights(0.8, 1.0).decode(logits) == ["my cat is black"]


def test_a_clearly_spoken_new_word_survives_the_language_model():
    # No hard lexicon: a word the model never saw is spelled out when the audio is clear.
    logits = logits_of([{c: 0.95} for c in "the_ zorb_ sat"])
    decoder = CTCDecoder.from_texts(TEXTS, LABELS, alpha=0.8, beta=1.0)
    assert "zorb" not in decoder.words.vocabulary
    assert decoder.decode(logits) == ["the zorb sat"]


def test_kneser_ney_model_is_normalised_and_prefers_what_it_read():
    model = NgramLanguageModel.fit(TEXTS, order=3)
    for history in [("<s>",), ("<s>", "the"), ("the", "cat"), ("never", "seen")]:
        total = sum(
            math.exp(model.log_prob(w, history)) for w in [*model.vocabulary, "</s>", "<unk>"]
        )
        assert total == pytest.approx(1.0, abs=1e-6)
    assert model.log_prob("sat", ("the", "cat")) > model.log_prob("sat", ("a", "dog"))
    assert model.log_prob("qwerty", ("the",)) == model.log_prob("<unk>", ("the",))


def test_language_model_is_built_from_training_text_only():
    from dlapps.speech.stt_app import build_decoder

    splits = sentence_data.sentence_splits(300, 20, 20, seed=0)
    decoder = build_decoder(splits["train"])
    training_words = {w for t in splits["train"] for w in t.split()}
    assert decoder.words.vocabulary == training_words
    held_out = set(sentence_text.held_out_words())
    new_words = {w for t in splits["test_new_words"] for w in t.split()} & held_out
    assert new_words and not new_words & decoder.words.vocabulary


def test_decoder_files_round_trip_and_load_in_the_edge_kit(tmp_path):
    decoder = CTCDecoder.from_texts(TEXTS, LABELS, alpha=0.7, beta=1.5, beam_width=12)
    decoder.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"decoder.json", "words.arpa", "spelling.arpa"}
    assert (tmp_path / "words.arpa").read_text().startswith("\\data\\\nngram 1=")
    loaded = CTCDecoder.load(tmp_path, LABELS)
    assert (loaded.alpha, loaded.beta, loaded.beam_width) == (0.7, 1.5, 12)
    assert loaded.words.entries.keys() == decoder.words.entries.keys()
    for word, history in [("cat", ("<s>", "my")), ("zorb", ("the",)), ("</s>", ("black",))]:
        assert loaded.word_score(history, word) == pytest.approx(
            decoder.word_score(history, word), abs=1e-4
        )
    logits = np.random.default_rng(0).standard_normal((2, 30, len(LABELS)))
    assert loaded.decode(logits) == decoder.decode(logits)
    # The edge kit's copy, without TensorFlow or dlapps, reads the same files.
    edge = Path(__file__).resolve().parents[1] / "export" / "edge"
    np.save(tmp_path / "logits.npy", logits)
    script = f"""
import sys
sys.modules["tensorflow"] = sys.modules["dlapps"] = None
sys.path.insert(0, {str(edge)!r})
import numpy as np, ctc_decoder
labels = ["<blank>", *{sentence_data.ALPHABET!r}]
decoder = ctc_decoder.CTCDecoder.load({str(tmp_path)!r}, labels)
print("|".join(decoder.decode(np.load({str(tmp_path / "logits.npy")!r}))))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "|".join(decoder.decode(logits))
    (tmp_path / "words.arpa").write_text("not a language model\n")
    with pytest.raises(ValueError, match="could not read the language model"):
        CTCDecoder.load(tmp_path, LABELS)


def test_weights_are_tuned_on_the_given_split_and_the_best_decoder_is_the_default(tmp_path):
    from dlapps.speech.stt_app import DEFAULT_ALPHA, MIN_TUNING_CLIPS, load_decoder, tune_decoder

    frames = [{c: 0.9} for c in "my_ "] + [{"k": 0.5, "c": 0.4}]
    frames += [{c: 0.9} for c in "at_ is_ black"]
    logits = logits_of(frames)
    plain = CTCDecoder.from_texts(TEXTS, LABELS)
    clips = np.repeat(logits, MIN_TUNING_CLIPS, axis=0)
    texts = ["my cat is black"] * MIN_TUNING_CLIPS
    decoder, tuning = tune_decoder(plain, clips, texts, alphas=(0.0, 0.8), betas=(0.0, 1.0))
    assert tuning["alpha"] == 0.8 and tuning["default"] == "lm"
    assert tuning["validation_greedy_wer"] == 0.25 and tuning["validation_lm_wer"] == 0.0
    # Too few clips to choose weights on: the defaults are kept.
    assert tune_decoder(plain, logits, texts[:1])[1]["alpha"] == DEFAULT_ALPHA
    decoder.save(tmp_path)
    (tmp_path / "decoder.json").write_text(decoder.files(default=tuning["default"])["decoder.json"])
    assert load_decoder(tmp_path, {})(logits) == ["my cat is black"]
    assert load_decoder(tmp_path, {"decoder": "greedy"})(logits) == ["my kat is black"]
    with pytest.raises(UserError, match="--decoder lm needs the language model files"):
        load_decoder(tmp_path / "elsewhere", {"decoder": "lm"})


def test_a_short_history_keeps_all_of_its_context_in_a_high_order_model():
    # The spelling model is a 5-gram over letters: after "<s> c a" the whole
    # three-token context counts, not only the last letter.
    model = NgramLanguageModel.fit(["c a t", "c a b", "b a d", "m a d", "d a d"], order=5)
    full = model.log_prob("t", ("<s>", "c", "a"))
    assert full == model.log_prob("t", ("x", "<s>", "c", "a"))  # longer history: cut to 4
    assert full > model.log_prob("t", ("a",)) + 0.1  # "c a" makes "t" likelier than "a" alone
