"""Tests for the speech-to-text app: text handling, CTC decoding, data, export."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dlapps import cli, training
from dlapps.application import get_application
from dlapps.errors import UserError
from dlapps.speech import sentence_data
from dlapps.speech.speech_to_text import (
    build_speech_to_text,
    ctc_loss,
    error_rates,
    greedy_decode,
    greedy_decode_numpy,
)
from dlapps.speech.synthesizer import SAMPLE_RATE, Synthesizer, Voice


def test_text_is_normalised_to_the_alphabet():
    assert (
        sentence_data.normalize_text("Turn ON the  lights, please!") == "turn on the lights please"
    )
    assert sentence_data.normalize_text("Don't stop-now") == "don't stop now"
    assert sentence_data.encode_text("ab ") == [3, 4, 1]


def logits_for(ids, classes=29):
    logits = np.full((len(ids), classes), -5.0, "float32")
    logits[np.arange(len(ids)), ids] = 5.0
    return logits


def test_greedy_decoding_merges_repeats_and_drops_blanks_in_graph_and_numpy():
    # "hi hi": h h _ i i <space> <space> h _ i ; blank 0 separates a repeated letter.
    h, i, space = (sentence_data.ALPHABET.index(c) + 1 for c in "hi ")
    frames = [0, h, h, 0, i, i, space, space, h, 0, 0, i, i, 0]
    second = [0, i, 0, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    logits = np.stack([logits_for(frames), logits_for(second)])
    in_graph = [t.decode() for t in greedy_decode(tf.constant(logits)).numpy()]
    assert in_graph == ["hi hi", "ii"]
    assert greedy_decode_numpy(logits) == in_graph


def test_error_rates_count_word_and_character_edits():
    rates = error_rates(["turn on the lights", "go left"], ["turn of the lights", "go left"])
    assert rates["wer"] == pytest.approx(1 / 6)
    assert rates["cer"] == pytest.approx(1 / 25)


def test_ctc_loss_is_lower_for_the_right_transcript():
    h, i = (sentence_data.ALPHABET.index(c) + 1 for c in "hi")
    logits = tf.constant(logits_for([0, h, 0, i, 0])[None])
    right = ctc_loss(tf.constant([[h, i, 0]]), logits)
    wrong = ctc_loss(tf.constant([[i, h, 0]]), logits)
    assert float(right[0]) < float(wrong[0])


def test_model_maps_three_seconds_to_frames_of_characters():
    model = build_speech_to_text(rnn_units=8)
    assert model.output_shape == (None, 75, len(sentence_data.ALPHABET) + 1)


def test_synthetic_sentences_are_cached_and_held_out_by_voice(tmp_path):
    data = sentence_data.load_synthetic_sentences(4, 2, 2, seed=5, cache_dir=tmp_path)
    again = sentence_data.load_synthetic_sentences(4, 2, 2, seed=5, cache_dir=tmp_path)
    np.testing.assert_array_equal(data.train[0], again.train[0])
    assert data.train[1] == again.train[1]
    assert data.train[0].shape == (4, 3 * SAMPLE_RATE)
    assert all(t == sentence_data.normalize_text(t) for t in data.train[1])
    assert not set(data.voices["test"]) & set(data.voices["train"])


def test_ljspeech_folder_loads_and_reports_bad_lines(tmp_path):
    from dlapps.speech.audio import write_wav

    synthesizer = Synthesizer()
    (tmp_path / "wavs").mkdir()
    lines = []
    for index, text in enumerate(["Go left.", "Stop!", "Turn on the lamp", "Call Anna"]):
        write_wav(tmp_path / "wavs" / f"c{index}.wav", synthesizer.speak(text, Voice("en", "m1")))
        lines.append(f"c{index}|{text}|{text}")
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = sentence_data.load_ljspeech_folder(tmp_path, clip_seconds=2)
    texts = data.train[1] + data.validation[1] + data.test[1]
    assert sorted(texts) == ["call anna", "go left", "stop", "turn on the lamp"]
    assert data.train[0].shape[1] == 2 * SAMPLE_RATE
    (tmp_path / "metadata.csv").write_text("c0|go left\nno separator here\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 2"):
        sentence_data.load_ljspeech_folder(tmp_path)


@pytest.fixture(scope="module")
def trained_stt(tmp_path_factory):
    root = tmp_path_factory.mktemp("stt")
    config = training.TrainConfig(
        app="speech_stt",
        epochs=1,
        output=str(root / "saved_models"),
        workdir=str(root / "runs"),
        verbose=0,
        options={"sentences": 16, "rnn_units": 16, "cache_dir": str(root / "cache")},
    )
    return training.run(get_application("speech_stt"), config)


def test_stt_exports_a_saved_model_that_returns_text(trained_stt):
    report = trained_stt.report
    assert {"wer", "cer", "exact_match"} <= set(report["metrics"])
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {"saved_model", "tflite_float32", "tflite_float16", "tflite_dynamic"}
    assert exports["tflite_float32"]["max_abs_diff"] < 1e-3
    # Same logits, same transcripts: the float32 file's WER equals the SavedModel's.
    assert exports["tflite_float32"]["metrics"]["wer"] == exports["saved_model"]["metrics"]["wer"]
    script = f"""
import json, sys
import numpy as np, tensorflow as tf
model = tf.saved_model.load({report["path"]!r})
out = model.signatures["serving_default"](waveforms=tf.zeros((2, 48000)))
print(json.dumps({{"dlapps": "dlapps" in sys.modules,
    "transcript": [t.decode() for t in out["transcript"].numpy()]}}))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    served = json.loads(output.strip().splitlines()[-1])
    assert not served["dlapps"] and len(served["transcript"]) == 2
    assert all(isinstance(t, str) for t in served["transcript"])


def test_predict_transcribes_a_wav_with_saved_model_and_tflite(trained_stt, tmp_path, capsys):
    from dlapps.speech.audio import write_wav

    wav = tmp_path / "say.wav"
    write_wav(wav, Synthesizer().speak("go left", Voice("en-us", "m2")))
    version = trained_stt.report["path"]
    assert cli.main(["predict", version, str(wav)]) == 0
    assert cli.main(["predict", f"{version}/speech_stt_float32.tflite", str(wav)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0] == lines[1]
    assert lines[0].startswith(f"{wav}:")


def test_edge_runner_transcribes_like_dlapps_without_tensorflow(trained_stt, tmp_path, capsys):
    from pathlib import Path

    from dlapps.speech.audio import write_wav

    wav = tmp_path / "say.wav"
    write_wav(wav, Synthesizer().speak("turn off the radio", Voice("en-gb-x-rp", "f2")))
    model = Path(trained_stt.report["path"]) / "speech_stt_float32.tflite"
    assert cli.main(["predict", str(model), str(wav)]) == 0
    expected = capsys.readouterr().out.strip()
    edge = Path(__file__).resolve().parents[1] / "export" / "edge"
    script = f"""
import sys
sys.modules["tensorflow"] = None  # the edge runner must not need it
sys.modules["scipy"] = None
sys.path.insert(0, {str(edge)!r})
import transcribe
sys.exit(transcribe.main([{str(model)!r}, {str(wav)!r}]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == expected


def test_edge_ctc_decoding_matches_dlapps():
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export" / "edge"))
    import transcribe

    logits = np.random.default_rng(0).standard_normal((3, 40, 29)).astype("float32")
    labels = ["<blank>", *sentence_data.ALPHABET]
    assert transcribe.greedy_ctc_decode(logits, labels) == greedy_decode_numpy(logits)


def test_serving_client_waveforms_fit_the_transcribe_signature(
    trained_stt, serving_client, tf_serving
):
    clip = trained_stt.data.test[0][0].astype("float32") / 32768
    body = serving_client.build_audio_body([clip.tolist()])
    assert body["signature_name"] == "serving_default"
    served = tf_serving(trained_stt.report["path"], body)
    assert served["transcript"].shape == (1,) and isinstance(served["transcript"][0], bytes)
    expected = trained_stt.model.predict(clip[None], verbose=0)
    np.testing.assert_allclose(served["logits"], expected, atol=1e-3)
