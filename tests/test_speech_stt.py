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
from dlapps.speech import sentence_data, sentence_text, stt_app, stt_serving
from dlapps.speech.speech_to_text import (
    beam_search_decode,
    build_speech_to_text,
    ctc_loss,
    error_rates,
    fixed_length_copy,
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


def test_beam_search_finds_the_transcript_greedy_decoding_misses():
    # The blank is likeliest in each frame (greedy: ""), but "a" sums over three
    # alignments (a a, a _, _ a): 0.16 + 0.2 + 0.2 > 0.25 for the blank twice.
    a = sentence_data.ALPHABET.index("a") + 1
    probabilities = np.full((2, 29), 0.1 / 27, "float32")
    probabilities[:, 0], probabilities[:, a] = 0.5, 0.4
    logits = tf.constant(np.log(probabilities)[None])
    assert [t.decode() for t in greedy_decode(logits).numpy()] == [""]
    assert [t.decode() for t in beam_search_decode(logits).numpy()] == ["a"]


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
    model = build_speech_to_text(3 * SAMPLE_RATE, rnn_units=8, rnn_layers=1)
    assert model.output_shape == (None, 75, len(sentence_data.ALPHABET) + 1)


def test_padding_changes_no_logit_and_the_fixed_length_copy_agrees():
    # Random weights: the transcripts are not blank, so equality means something.
    keras_seed = tf.keras.utils.set_random_seed
    keras_seed(3)
    model = build_speech_to_text(rnn_units=16, rnn_layers=2)
    rng = np.random.default_rng(0)
    short = (rng.normal(size=(1, 21_000)) * 0.1).astype("float32")
    padded = np.pad(short, ((0, 0), (0, 3 * SAMPLE_RATE - 21_000)))
    other = (rng.normal(size=(1, 3 * SAMPLE_RATE)) * 0.1).astype("float32")
    alone = model(short).numpy()
    in_batch = model(np.concatenate([padded, other])).numpy()[:1]
    np.testing.assert_allclose(in_batch[:, : alone.shape[1]], alone, atol=1e-5)
    assert (in_batch[0, alone.shape[1] :].argmax(-1) == 0).all()  # padding decodes to blanks
    transcript = greedy_decode_numpy(alone)[0]
    assert transcript and greedy_decode_numpy(in_batch)[0] == transcript
    fixed = fixed_length_copy(model, 3 * SAMPLE_RATE, rnn_units=16, rnn_layers=2)
    np.testing.assert_allclose(fixed(padded).numpy(), in_batch, atol=1e-5)


def test_held_out_words_never_occur_in_training_text():
    held_out = set(sentence_text.held_out_words())
    train = sentence_text.training_sentences(3000, seed=0)
    assert len(held_out) >= 100 and len(set(train)) == 3000
    assert not held_out & {w for t in train for w in t.split()}
    tests = sentence_text.test_sentences(train, 50, seed=7)
    assert all(held_out & set(t.split()) for t in tests["new_words"])
    assert not set(tests["unseen"]) & set(train)
    assert not any(number in t for number in tests["numbers"] for t in train)
    words = {w for t in train for w in t.split()}
    assert all(set(t.split()) <= words for t in tests["unseen"])
    # Open vocabulary: thousands of words, numbers, dates, money and names.
    assert len(words) > 2000
    joined = " ".join(train)
    assert all(w in joined for w in ("thousand", "january", "dollars", "o'clock"))


def test_long_audio_is_cut_into_windows_that_cover_every_frame():
    frame = 640
    for samples in (48_000, 48_001, 100_000, 31 * SAMPLE_RATE, 1_234_567):
        chunks = stt_serving.chunk_starts(samples, 48_000, 8_000)
        starts = [s // frame + first for s, first, _ in chunks]
        ends = [s // frame + end for s, _, end in chunks]
        assert starts[0] == 0 and starts[1:] == ends[:-1]  # contiguous, no overlap
        assert ends[-1] >= -(-samples // frame)
        assert all(s + 48_000 < max(samples, 48_000) + frame for s, _, _ in chunks)


def test_synthetic_sentences_are_cached_and_held_out_by_voice_and_sentence(tmp_path):
    data = sentence_data.load_synthetic_sentences(4, 2, 2, seed=5, cache_dir=tmp_path)
    again = sentence_data.load_synthetic_sentences(4, 2, 2, seed=5, cache_dir=tmp_path)
    for clip, same in zip(data.train[0], again.train[0], strict=True):
        np.testing.assert_array_equal(clip, same)
    assert data.train[1] == again.train[1]
    assert len({len(c) for c in data.train[0]}) > 1  # clips keep their own length
    assert all(t == sentence_data.normalize_text(t) for t in data.train[1])
    assert not set(data.voices["test"]) & set(data.voices["train"])
    assert not set(data.test[1]) & set(data.train[1])
    assert set(data.extra_tests) == {"test_numbers", "test_new_words"}


def test_ljspeech_folder_loads_and_reports_bad_lines(tmp_path):
    from dlapps.speech.audio import write_wav

    synthesizer = Synthesizer()
    (tmp_path / "wavs").mkdir()
    lines = []
    for index, text in enumerate(["Go left.", "Stop!", "Turn on the lamp", "Call Anna"]):
        write_wav(tmp_path / "wavs" / f"c{index}.wav", synthesizer.speak(text, Voice("en", "m1")))
        lines.append(f"c{index}|{text}|{text}")
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = sentence_data.load_ljspeech_folder(tmp_path)
    texts = data.train[1] + data.validation[1] + data.test[1]
    assert sorted(texts) == ["call anna", "go left", "stop", "turn on the lamp"]
    assert all(0 < len(c) < 2 * SAMPLE_RATE for c in data.train[0])
    (tmp_path / "metadata.csv").write_text("c0|go left\nno separator here\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 2"):
        sentence_data.load_ljspeech_folder(tmp_path)


def test_common_voice_tsv_loads_wavs_and_names_the_mp3_decoder(tmp_path, monkeypatch):
    from dlapps.speech.audio import write_wav

    synthesizer = Synthesizer()
    (tmp_path / "clips").mkdir()
    rows = ["client_id\tpath\tsentence"]
    for index, text in enumerate(["Go left.", "Stop!", "Turn on the lamp"]):
        write_wav(tmp_path / "clips" / f"c{index}.wav", synthesizer.speak(text, Voice("en", "m1")))
        rows.append(f"x\tc{index}.wav\t{text}")
    (tmp_path / "validated.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = sentence_data.load_sentence_data(str(tmp_path))
    assert data.source.startswith("common_voice:")
    assert sorted(data.train[1] + data.validation[1] + data.test[1]) == [
        "go left",
        "stop",
        "turn on the lamp",
    ]
    (tmp_path / "clips" / "c3.mp3").write_bytes(b"ID3 not really an mp3")
    rows.append("x\tc3.mp3\tgo")
    (tmp_path / "validated.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "soundfile", None)  # no decoder installed
    with pytest.raises(UserError, match="soundfile"):
        sentence_data.load_sentence_data(str(tmp_path / "validated.tsv"))


@pytest.fixture(scope="module")
def trained_stt(tmp_path_factory):
    root = tmp_path_factory.mktemp("stt")
    # A learning rate too small to move the weights: after one step, CTC training
    # already predicts blanks everywhere; untrained weights give non-blank
    # transcripts, so the parity checks below compare real text.
    config = training.TrainConfig(
        app="speech_stt",
        epochs=1,
        learning_rate=1e-9,
        output=str(root / "saved_models"),
        workdir=str(root / "runs"),
        verbose=0,
        options={
            "sentences": 16,
            "rnn_units": 16,
            "rnn_layers": 1,
            "cache_dir": str(root / "cache"),
        },
    )
    # Only the float32 file, the one these tests run: converting the unrolled
    # GRUs takes most of the export, and the script test
    # (test_app_script_speech_to_text.py) converts and checks all three.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stt_app, "TFLITE_FORMATS", ("tflite_float32",))
        return training.run(get_application("speech_stt"), config)


def test_stt_exports_a_saved_model_that_returns_text(trained_stt, tmp_path):
    report = trained_stt.report
    assert {"wer", "cer", "exact_match", "numbers_wer", "new_words_cer"} <= set(report["metrics"])
    assert {"beam_wer", "numbers_beam_wer"} <= set(report["metrics"])
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {"saved_model", "tflite_float32"}
    assert exports["tflite_float32"]["max_abs_diff"] < 1e-3
    # Same logits, same transcripts: the float32 file's WER equals the SavedModel's.
    assert exports["tflite_float32"]["metrics"]["wer"] == exports["saved_model"]["metrics"]["wer"]
    from dlapps.speech.audio import write_wav

    clip = sentence_data.pad_batch(trained_stt.data.test[0][:1])[0]
    np.save(tmp_path / "clip.npy", clip)
    write_wav(tmp_path / "clip.wav", clip)
    write_wav(tmp_path / "clip8k.wav", clip[::2], sample_rate=8000)
    script = f"""
import json, sys
import numpy as np, tensorflow as tf
model = tf.saved_model.load({report["path"]!r})
clip = np.load({str(tmp_path / "clip.npy")!r})
def text(out):
    return [t.decode() for t in out["transcript"].numpy()]
def error(signature, **inputs):
    try:
        model.signatures[signature](**inputs)
    except tf.errors.InvalidArgumentError as e:
        return e.message
serve = model.signatures["serving_default"]
long = np.concatenate([clip, np.full(48000 - len(clip) + 9000, 0.01, "float32")])
batch = np.zeros((2, len(long)), "float32")
batch[0, : len(clip)], batch[1] = clip, long
wav = open({str(tmp_path / "clip.wav")!r}, "rb").read()
print(json.dumps({{"dlapps": "dlapps" in sys.modules,
    "alone": text(serve(waveforms=tf.constant(clip[None]))),
    "padded": text(serve(waveforms=tf.constant(np.pad(clip, (0, 48000 - len(clip)))[None]))),
    "batch": text(serve(waveforms=tf.constant(batch))),
    "beam": text(model.signatures["serve_beam"](waveforms=tf.constant(clip[None]))),
    "wav": text(model.signatures["serve_wav"](wav_bytes=tf.constant([wav]))),
    "empty": error("serving_default", waveforms=tf.zeros((1, 0))),
    "too_long": error("serving_default", waveforms=tf.zeros((1, 30 * 16000 + 1))),
    "rate": error("serve_wav", wav_bytes=tf.constant([open({str(tmp_path / "clip8k.wav")!r},
        "rb").read()])),
}}))
"""
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd="/")
    assert output.returncode == 0, output.stderr[-3000:]
    served = json.loads(output.stdout.strip().splitlines()[-1])
    assert not served["dlapps"]
    # Any length, padded, or in a batch with a longer clip: the same, non-blank transcript.
    assert served["alone"][0] and served["alone"] == served["padded"] == served["batch"][:1]
    assert served["wav"] == served["alone"] and isinstance(served["beam"][0], str)
    assert len(served["batch"]) == 2
    assert "empty audio" in served["empty"]
    assert "longer than 30 s" in served["too_long"]
    assert "16 kHz" in served["rate"]


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
    # Longer than the TFLite file's 3 s and the SavedModel's 30 s: transcribed in windows.
    long = tmp_path / "long.wav"
    write_wav(long, np.tile(sentence_data.pad_batch(trained_stt.data.test[0][:1])[0], 12)[:500_000])
    assert cli.main(["predict", version, str(long)]) == 0
    assert cli.main(["predict", f"{version}/speech_stt_float32.tflite", str(long)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(len(line) > len(f"{long}: ") for line in lines)
    (tmp_path / "empty.wav").write_bytes(b"")
    assert cli.main(["predict", version, str(tmp_path / "empty.wav")]) != 0
    assert "empty" in capsys.readouterr().err


def test_edge_runner_transcribes_like_dlapps_without_tensorflow(trained_stt, tmp_path, capsys):
    from pathlib import Path

    from dlapps.speech.audio import write_wav

    wav = tmp_path / "say.wav"
    speech = Synthesizer().speak("turn off the radio and the lights", Voice("en-gb-x-rp", "m3"))
    write_wav(wav, np.tile(speech, 4))  # longer than the file's 3 s: windows
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
    for samples in (1000, 48_001, 1_234_567):  # the same windows over long audio
        expected = stt_serving.chunk_starts(samples, 48_000, 16_000)
        assert transcribe.chunk_starts(samples, 48_000) == expected


def test_serving_client_waveforms_fit_the_transcribe_signature(
    trained_stt, serving_client, tf_serving
):
    clip = sentence_data.pad_batch(trained_stt.data.test[0][:1])[0]
    body = serving_client.build_audio_body([clip.tolist()])
    assert body["signature_name"] == "serving_default"
    served = tf_serving(trained_stt.report["path"], body)
    assert served["transcript"].shape == (1,) and isinstance(served["transcript"][0], bytes)
    expected = trained_stt.model.predict(clip[None], verbose=0)
    np.testing.assert_allclose(served["logits"], expected, atol=1e-3)


def test_serving_client_sends_whole_clips_of_different_lengths(
    trained_stt, serving_client, tf_serving, tmp_path
):
    from dlapps.speech.audio import write_wav

    clips = [trained_stt.data.test[0][i] for i in range(2)]
    paths = [tmp_path / f"clip{i}.wav" for i in range(2)]
    for path, clip in zip(paths, clips, strict=True):
        write_wav(path, clip)
    waveforms = serving_client.stt_waveforms([str(p) for p in paths])
    assert len(waveforms[0]) == len(waveforms[1]) == max(map(len, clips))  # nothing cut
    served = tf_serving(trained_stt.report["path"], serving_client.build_audio_body(waveforms))
    alone = [
        tf_serving(trained_stt.report["path"], serving_client.build_audio_body([w]))
        for path in paths
        for w in serving_client.stt_waveforms([str(path)])
    ]
    assert list(served["transcript"]) == [a["transcript"][0] for a in alone]

    write_wav(tmp_path / "long.wav", np.zeros(31 * 16000, "float32") + 0.1)
    with pytest.raises(serving_client.ClientError, match="long.wav is 31.0 s: one request"):
        serving_client.stt_waveforms([str(tmp_path / "long.wav")])
