"""Tests for the keyword-spotting app: synthesis, WAV input, front end, export."""

import json
import subprocess
import sys
import wave

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlapps import cli, training
from dlapps.application import get_application
from dlapps.errors import UserError
from dlapps.export import TFLiteModel
from dlapps.speech import audio, keyword_data
from dlapps.speech.fresh_process import call_in_fresh_process
from dlapps.speech.log_mel_spectrogram import LogMelSpectrogram
from dlapps.speech.synthesizer import SAMPLE_RATE, Synthesizer, Voice


@pytest.fixture(scope="module")
def synthesizer():
    return Synthesizer()


def test_synthesizer_speaks_16khz_audio_in_range(synthesizer):
    clip = synthesizer.speak("stop", Voice("en-us", "m3"))
    assert clip.dtype == np.float32 and clip.ndim == 1
    assert 0.1 * SAMPLE_RATE < len(clip) < 2 * SAMPLE_RATE
    assert np.abs(clip).max() <= 1.0 and np.abs(clip).max() > 0.05


def test_synthesizer_refuses_unknown_voices_instead_of_falling_back(synthesizer):
    # eSpeak keeps the previous voice on an unknown name; that must not pass silently.
    with pytest.raises(UserError, match="no voice 'en-xx\\+m1'"):
        synthesizer.speak("yes", Voice("en-xx", "m1"))
    with pytest.raises(UserError, match="no voice variant 'm99'"):
        synthesizer.speak("yes", Voice("en", "m99"))


def test_held_out_voices_share_no_accent_or_variant_with_training(synthesizer):
    voices = keyword_data.split_voices(synthesizer)
    parts = {s: ({v.accent for v in vs}, {v.variant for v in vs}) for s, vs in voices.items()}
    for held_out in ("validation", "test"):
        assert not parts[held_out][0] & parts["train"][0]
        assert not parts[held_out][1] & parts["train"][1]
    for split_voices in voices.values():
        for voice in split_voices[:3]:
            synthesizer.check_voice(voice)


def test_synthetic_keywords_are_deterministic_and_cached(tmp_path):
    first = keyword_data.load_synthetic_keywords(2, 1, 1, seed=3, cache_dir=tmp_path)
    cached = sorted(tmp_path.glob("*.npz"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = keyword_data.load_synthetic_keywords(2, 1, 1, seed=3, cache_dir=tmp_path)
    assert cached[0].stat().st_mtime_ns == stamp  # read back, not regenerated
    np.testing.assert_array_equal(first.train[0], again.train[0])
    assert first.train[0].shape == (24, 16000) and first.train[0].dtype == np.int16
    assert first.labels[-2:] == ["_silence_", "_unknown_"]
    np.testing.assert_array_equal(np.bincount(first.train[1]), [2] * 12)
    # A different seed is different data, in a new cache file.
    other = keyword_data.load_synthetic_keywords(2, 1, 1, seed=4, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert not np.array_equal(first.train[0], other.train[0])


def test_synthetic_keywords_are_the_same_in_every_process(tmp_path, synthesizer):
    # eSpeak's output depends on what the process said before: speak first, then
    # generate into two empty caches; both must equal each other sample for sample.
    synthesizer.speak("something else first", Voice("en-us", "m3"), rate=210)
    first = keyword_data.load_synthetic_keywords(2, 1, 1, seed=7, cache_dir=tmp_path / "a")
    second = keyword_data.load_synthetic_keywords(2, 1, 1, seed=7, cache_dir=tmp_path / "b")
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(first, split)[0], getattr(second, split)[0])


def test_every_voice_used_for_generated_data_is_reproducible(synthesizer):
    # 240 clips drawn from all reproducible variants, made twice in new processes.
    names = [f"en+{variant}" for variant in synthesizer.reproducible_variants()]
    assert len(names) > 80 and "en+whisper" not in names

    def generate():
        return call_in_fresh_process(
            "dlapps.speech.keyword_synthesis:generate_keyword_splits",
            counts={"train": 20},
            voices={"train": names},
            seed=11,
        )["train_x"]

    np.testing.assert_array_equal(generate(), generate())


def write_pcm_wav(path, samples, rate, channels=1):
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(pcm.tobytes())


def test_read_wav_resamples_and_mixes_down(tmp_path):
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    write_pcm_wav(tmp_path / "8k.wav", tone, 8000)
    assert len(audio.read_wav(tmp_path / "8k.wav")) == 16000
    stereo = np.stack([tone, -tone * 0 + 0.25], axis=1).reshape(-1)
    write_pcm_wav(tmp_path / "stereo.wav", stereo, 16000, channels=2)
    mono = audio.read_wav(tmp_path / "stereo.wav")
    assert mono.shape == (8000,)
    np.testing.assert_allclose(mono, (tone + 0.25) / 2, atol=1e-3)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"this is not audio at all", "convert it to WAV")],
)
def test_read_wav_explains_bad_files(tmp_path, content, message):
    path = tmp_path / "clip.wav"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        audio.read_wav(path)


def test_front_end_treats_each_clip_on_its_own():
    rng = np.random.default_rng(0)
    quiet = (0.01 * rng.normal(size=(1, 16000))).astype("float32")
    loud = rng.normal(size=(1, 16000)).astype("float32")
    layer = LogMelSpectrogram()
    alone = layer(quiet).numpy()
    batched = layer(np.concatenate([quiet, loud])).numpy()
    assert alone.shape == (1, 49, 40, 1)
    np.testing.assert_allclose(batched[:1], alone, rtol=1e-5, atol=1e-4)
    frames = layer._frames(tf.constant(loud)).numpy()
    np.testing.assert_array_equal(frames, tf.signal.frame(loud, 480, 320).numpy())


def write_command_folder(root, synthesizer, words, variants=("m1", "m2", "m3", "m4", "m5", "m6")):
    """`root/<word>/<i>.wav`: each word spoken once per voice variant."""
    for word in words:
        (root / word).mkdir()
        for index, variant in enumerate(variants):
            clip = synthesizer.speak(word, Voice("en", variant))
            write_pcm_wav(root / word / f"{index}.wav", clip, SAMPLE_RATE)


def test_folder_of_wavs_loads_in_speech_commands_layout(tmp_path, synthesizer):
    write_command_folder(tmp_path, synthesizer, ("yes", "no"), ("m1", "m2", "f1", "f2", "m3", "f3"))
    (tmp_path / "_background_noise_").mkdir()
    write_pcm_wav(tmp_path / "_background_noise_" / "n.wav", np.zeros(100), SAMPLE_RATE)
    data = keyword_data.load_keyword_folder(tmp_path)
    assert data.labels == ["no", "yes"]
    assert sum(len(split[1]) for split in (data.train, data.validation, data.test)) == 12
    assert data.train[0].shape[1:] == (16000,)


def write_speaker_folder(root, names, labels=("no", "yes")):
    """`root/<label>/<name>`: short tones, one file per name and label."""
    rng = np.random.default_rng(0)
    for label in labels:
        (root / label).mkdir(exist_ok=True)
        for name in names:
            tone = np.sin(np.arange(8000) * rng.uniform(0.05, 0.3)) * 0.3
            write_pcm_wav(root / label / name, tone, SAMPLE_RATE)


def test_folder_is_split_by_speaker_when_file_names_say_who_spoke(tmp_path):
    speakers = ["0a7c2a8d", "1b2c3d4e", "2c3d4e5f", "3d4e5f6a", "4e5f6a7b"]
    write_speaker_folder(tmp_path, [f"{s}_nohash_{n}.wav" for s in speakers for n in range(3)])
    data = keyword_data.load_keyword_folder(tmp_path, seed=1)
    assert data.split.startswith("by speaker")
    assert len(data.speakers["test"]) == 1
    assert not set(data.speakers["test"]) & set(data.speakers["train"])
    assert not set(data.speakers["test"]) & set(data.speakers["validation"])
    assert len(data.test[1]) == 6 and sum(len(s[1]) for s in (data.train, data.validation)) == 24


def test_folder_official_lists_decide_the_split(tmp_path):
    names = [f"{s}_nohash_0.wav" for s in ("aa", "bb", "cc", "dd")]
    write_speaker_folder(tmp_path, names)
    (tmp_path / "testing_list.txt").write_text("yes/aa_nohash_0.wav\nno/aa_nohash_0.wav\n")
    (tmp_path / "validation_list.txt").write_text("yes/bb_nohash_0.wav\n")
    data = keyword_data.load_keyword_folder(tmp_path)
    assert data.split.startswith("official lists")
    assert (len(data.train[1]), len(data.validation[1]), len(data.test[1])) == (5, 1, 2)


def test_speaker_pattern_finds_speakers_or_says_which_file_it_missed(tmp_path):
    names = [f"{s}-{n}.wav" for s in ("alice", "bob", "carol") for n in range(2)]
    write_speaker_folder(tmp_path, names)
    by_file = keyword_data.load_keyword_folder(tmp_path)
    assert by_file.split.startswith("by file, not by speaker") and not by_file.speakers
    data = keyword_data.load_keyword_folder(tmp_path, speaker_pattern=r"^(?P<speaker>[a-z]+)-")
    assert data.split.startswith("by speaker") and data.speakers["test"] in (
        ["alice"],
        ["bob"],
        ["carol"],
    )
    with pytest.raises(UserError, match="does not match 'alice-0.wav'"):
        keyword_data.load_keyword_folder(tmp_path, speaker_pattern=r"^(?P<speaker>\d+)_")


def test_speed_perturbation_stretches_a_centred_sound():
    burst = np.zeros((1, 16000), "float32")
    burst[0, 6000:10000] = 0.5
    same = keyword_data.speed_perturb(tf.constant(burst), 1.0, 1.0).numpy()
    np.testing.assert_allclose(same, burst, atol=1e-6)
    faster = keyword_data.speed_perturb(tf.constant(burst), 1.25, 1.25).numpy()
    assert abs(np.count_nonzero(faster > 0.25) - 4000 / 1.25) <= 2


def test_speed_perturbation_keeps_a_word_near_the_edge_inside_the_clip():
    # Slowed down around the clip's centre, a word at 50-150 ms would start before
    # the clip; around its own centre of energy it stays whole.
    burst = np.zeros((1, 16000), "float32")
    burst[0, 800:2400] = 0.5
    slower = keyword_data.speed_perturb(tf.constant(burst), 0.8, 0.8).numpy()[0]
    loud = np.flatnonzero(slower > 0.25)
    assert abs(len(loud) - 1600 / 0.8) <= 2
    assert abs(loud.mean() - 1599.5) <= 2  # centred where the word was


def test_frequency_warp_moves_a_band_to_alpha_times_its_frequency():
    from dlapps.speech.frequency_warp import FrequencyWarp

    layer = FrequencyWarp(num_mel_bins=20, max_warp=0.1)
    features = np.zeros((2, 5, 20, 1), "float32")
    features[:, :, 10] = 1.0
    unwarped, warped = layer.warp(features, tf.constant([1.0, 1.1])).numpy()[:, 0, :, 0]
    np.testing.assert_allclose(unwarped, features[0, 0, :, 0], atol=1e-6)
    # Band 10's centre times 1.1, on the HTK mel scale the bands are spaced on.
    mel = lambda hz: 1127 * np.log1p(hz / 700)  # noqa: E731
    edges = np.linspace(mel(20), mel(8000), 22)
    centre_hz = 700 * np.expm1(edges[11] / 1127)
    expected = (mel(1.1 * centre_hz) - edges[1]) / (edges[1] - edges[0])
    assert 10 < expected < 11
    assert np.sum(warped * np.arange(20)) / np.sum(warped) == pytest.approx(expected, abs=0.02)
    np.testing.assert_array_equal(layer(features, training=False), features)  # inference


def test_band_energy_normalization_removes_gain_and_tilt_but_keeps_the_word():
    from dlapps.speech.band_energy_normalization import BandEnergyNormalization

    rng = np.random.default_rng(0)
    log_mel = np.log(rng.uniform(0.01, 1.0, (1, 49, 20, 1))).astype("float32")
    layer = BandEnergyNormalization()
    tilt = np.linspace(-3, 2, 20, dtype="float32")[None, None, :, None]  # another microphone
    np.testing.assert_allclose(layer(log_mel + tilt), layer(log_mel), atol=1e-4)
    normalized = layer(log_mel).numpy()
    assert np.abs(np.log(np.exp(normalized).mean(axis=1))).max() < 1e-4  # unit mean energy
    assert np.corrcoef(normalized.ravel(), log_mel.ravel())[0, 1] > 0.9


def test_speed_range_and_frequency_warp_out_of_range_are_one_line_errors():
    app = get_application("speech_kws")
    with pytest.raises(UserError, match="0 < LOW <= HIGH"):
        app.check_options({"speed_range": [1.2, 0.8]})
    with pytest.raises(UserError, match="--frequency-warp 0.6"):
        app.check_options({"frequency_warp": 0.6})
    app.check_options({"speed_range": [0.8, 1.25], "frequency_warp": 0.0})


def test_folder_without_labelled_wavs_is_a_clear_error(tmp_path):
    (tmp_path / "yes").mkdir()
    with pytest.raises(UserError, match="at least two"):
        keyword_data.load_keyword_folder(tmp_path)


@pytest.fixture(scope="module")
def trained_kws(tmp_path_factory):
    # The smallest run that goes through every path (augmented training with the
    # warp and SpecAugment layers, evaluation, all exports): its cost is tracing.
    root = tmp_path_factory.mktemp("kws")
    config = training.TrainConfig(
        app="speech_kws",
        epochs=1,
        output=str(root / "saved_models"),
        workdir=str(root / "runs"),
        verbose=0,
        options={"clips_per_class": 4, "filters": 16, "cache_dir": str(root / "cache")},
    )
    return training.run(get_application("speech_kws"), config)


def test_kws_exports_every_format_with_a_float_front_end(trained_kws):
    report = trained_kws.report
    assert {"accuracy", "accuracy_10db_snr"} <= set(report["metrics"])
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {
        "saved_model",
        "tflite_float32",
        "tflite_float16",
        "tflite_dynamic",
        "tflite_int8",
    }
    assert exports["tflite_float32"]["max_abs_diff"] < 1e-4
    assert exports["tflite_int8"]["bytes"] < 100_000
    assert {"figures/confusion_matrix.png", "figures/spectrograms.png"} <= set(report["figures"])
    int8 = TFLiteModel(f"{report['path']}/speech_kws_int8.tflite")
    assert int8.inputs["waveforms"]["dtype"] == np.float32
    ops = {
        (op["op_name"], int8.interpreter.get_tensor_details()[op["outputs"][0]]["dtype"])
        for op in int8.interpreter._get_ops_details()
    }
    assert ("RFFT2D", np.complex64) in ops and ("LOG", np.float32) in ops
    assert ("EXP", np.float32) in ops and ("SUB", np.float32) in ops  # energy normalisation
    assert ("CONV_2D", np.int8) in ops


def test_predict_reads_a_wav_with_saved_model_and_tflite(trained_kws, tmp_path, capsys):
    clip = Synthesizer().speak("go", Voice("en-us", "f4"))
    wav = tmp_path / "go.wav"
    write_pcm_wav(wav, clip, 22050)  # another rate: resampled on read
    version = trained_kws.report["path"]
    assert cli.main(["predict", version, str(wav), "--top-k", "2"]) == 0
    assert cli.main(["predict", f"{version}/speech_kws_float32.tflite", str(wav)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(str(wav)) for line in lines)
    saved_top = lines[0].split(": ")[1].split(" (")[0]
    tflite_top = lines[1].split(": ")[1].split(" (")[0]
    assert saved_top == tflite_top


def test_saved_model_serves_waveforms_and_wav_bytes_in_a_fresh_process(trained_kws, tmp_path):
    clip = np.zeros(16000, "float32")
    clip[4000:8000] = Synthesizer().speak("yes", Voice("en", "m2"))[:4000]
    wav = tmp_path / "yes.wav"
    write_pcm_wav(wav, clip, SAMPLE_RATE)
    script = f"""
import base64, json, sys
import numpy as np, tensorflow as tf
model = tf.saved_model.load({trained_kws.report["path"]!r})
wave = np.zeros((1, 16000), "float32")
with open({str(wav)!r}, "rb") as f:
    data = f.read()
a = model.signatures["serving_default"](waveforms=tf.constant(wave))
b = model.signatures["serve_wav"](wav_bytes=tf.constant([data]))
print(json.dumps({{"dlapps": "dlapps" in sys.modules,
    "label": a["label"].numpy()[0].decode(), "shape": list(a["probabilities"].shape),
    "wav_probabilities": b["probabilities"].numpy()[0].tolist()}}))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    served = json.loads(output.strip().splitlines()[-1])
    assert not served["dlapps"]
    assert served["shape"] == [1, 12] and served["label"] in trained_kws.data.labels
    pcm = np.round(clip * 32767) / 32768
    expected = trained_kws.model.predict(pcm[None].astype("float32"), verbose=0)[0]
    np.testing.assert_allclose(served["wav_probabilities"], expected, atol=1e-4)


def test_predict_rejects_a_file_that_is_not_audio(trained_kws, tmp_path, capsys):
    fake = tmp_path / "notes.wav"
    fake.write_text("meeting notes")
    assert cli.main(["predict", trained_kws.report["path"], str(fake)]) == 1
    assert "convert it to WAV" in capsys.readouterr().err


def test_augmentation_keeps_shapes_and_range():
    clips = (np.random.default_rng(0).normal(size=(4, 16000)) * 8000).astype("int16")
    dataset = keyword_data.to_dataset((clips, np.arange(4, dtype="int32")), 4, augment=True)
    waveforms, labels = next(iter(dataset))
    assert waveforms.shape == (4, 16000) and waveforms.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(waveforms))) <= 1.0
    assert not np.allclose(waveforms.numpy(), clips / 32768.0)


def test_noise_at_10db_has_the_requested_power():
    signal = np.sin(np.linspace(0, 400, 16000, dtype="float32"))[None] * 0.3
    noisy = keyword_data.add_noise(signal, 10)
    ratio = np.mean(signal**2) / np.mean((noisy - signal) ** 2)
    assert 10 * np.log10(ratio) == pytest.approx(10, abs=0.3)


def test_edge_runner_spots_a_wav_without_tensorflow_or_scipy(trained_kws, tmp_path):
    from pathlib import Path

    edge = Path(__file__).resolve().parents[1] / "export" / "edge"
    clip = Synthesizer().speak("left", Voice("en-gb-x-rp", "f5"))
    wav = tmp_path / "left.wav"
    write_pcm_wav(wav, clip, SAMPLE_RATE)
    model = f"{trained_kws.report['path']}/speech_kws_int8.tflite"
    code = (
        "import runpy, sys\n"
        "for name in ('tensorflow', 'dlapps', 'scipy'): sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(edge)!r})\n"
        f"sys.argv = ['keywords.py', {model!r}, {str(wav)!r}, '--json', '--top-k', '12']\n"
        f"runpy.run_path({str(edge / 'keywords.py')!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    top = json.loads(done.stdout)[0]["top"]
    edge_probabilities = np.zeros(12)
    for entry in top:
        edge_probabilities[entry["index"]] = entry["probability"]
    pcm = audio.fit_length(np.round(np.clip(clip, -1, 1) * 32767) / 32768, 16000)
    expected = TFLiteModel(model)({"waveforms": pcm[None].astype("float32")})["probabilities"]
    np.testing.assert_allclose(edge_probabilities, expected[0], atol=1e-5)


def test_tfds_speech_commands_loads_through_tensorflow_datasets():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        data = keyword_data.load_keyword_data("tfds:speech_commands")
    expected = {*keyword_data.KEYWORDS, keyword_data.SILENCE, keyword_data.UNKNOWN}
    assert set(data.labels) == expected
    assert data.train[0].shape == (6, 16000) and data.train[0].dtype == np.int16
    assert len(data.validation[1]) == len(data.test[1]) == 6
    assert data.train[1].max() < len(data.labels)


def test_serving_client_sends_wavs_and_waveforms_the_signatures_accept(
    trained_kws, tmp_path, serving_client, tf_serving
):
    client, call_like_tf_serving = serving_client, tf_serving
    clip = np.zeros(16000, "float32")
    spoken = Synthesizer().speak("no", Voice("en", "m3"))[:12000]
    clip[2000 : 2000 + len(spoken)] = spoken
    wav = tmp_path / "no.wav"
    write_pcm_wav(wav, clip, SAMPLE_RATE)
    path = trained_kws.report["path"]
    whole_file = call_like_tf_serving(path, client.build_audio_body(wav_files=[wav.read_bytes()]))
    waveform = client.read_wav(wav, samples=16000)
    rows = call_like_tf_serving(path, client.build_audio_body([waveform]))
    columns = call_like_tf_serving(path, client.build_audio_body([waveform], columnar=True))
    expected = trained_kws.model.predict(np.array([waveform], "float32"), verbose=0)
    for served in (whole_file, rows, columns):
        np.testing.assert_allclose(served["probabilities"], expected, atol=1e-4)
    write_pcm_wav(tmp_path / "slow.wav", clip, 8000)  # resampled like dlapps, not refused
    assert len(client.read_wav(tmp_path / "slow.wav", samples=16000)) == 16000


def test_wav_folder_behind_a_url_loads_like_the_local_one(tmp_path, synthesizer):
    # ram:// is TensorFlow's in-memory file system: the code path of gs:// and s3://.
    write_command_folder(tmp_path, synthesizer, ("go", "stop"))
    for path in sorted(tmp_path.rglob("*.wav")):
        target = f"ram://commands/{path.relative_to(tmp_path).as_posix()}"
        tf.io.gfile.makedirs(target.rsplit("/", 1)[0])
        tf.io.gfile.copy(str(path), target, overwrite=True)
    local = keyword_data.load_keyword_folder(tmp_path)
    remote = keyword_data.load_keyword_folder("ram://commands")
    assert remote.labels == local.labels == ["go", "stop"]
    np.testing.assert_array_equal(remote.train[0], local.train[0])
    with pytest.raises(UserError, match="does not exist"):
        audio.read_wav("ram://commands/go/missing.wav")


def _random_spotter_files(labels, calibration, folder):
    """float32 and int8 TFLite files of an untrained small spotter with spread-out answers.

    One epoch on 4 clips a class leaves the session's spotter answering
    nearly the same for every clip (its int8 file exactly the same): no
    test of agreement. A fresh network with a wide output layer answers
    differently per clip, through the same front end and the same int8
    recipe (front end in float) as the app's files.
    """
    from dlapps.export import saved_model, tflite
    from dlapps.speech import kws_serving
    from dlapps.speech.keyword_spotter import build_keyword_spotter

    keras.utils.set_random_seed(0)
    model = build_keyword_spotter(len(labels), filters=8, blocks=1, spec_augment=False)
    # The head sees its features standardised on the calibration clips, so that the
    # answers follow what differs between clips rather than what they share.
    head = model.get_layer("probabilities")
    features = keras.Model(model.inputs, head.input).predict(calibration, verbose=0)
    mean, std = features.mean(0), features.std(0) + 1e-6
    kernel = head.get_weights()[0] / std[:, None] * 3
    head.set_weights([kernel, -mean @ kernel])
    saved_model.write_saved_model(model, [kws_serving.tflite_endpoint(model)], folder / "sm")

    def representative_data():
        for clip in calibration:
            yield {"waveforms": clip[None]}

    return {
        f"spotter_{name}.tflite": tflite.convert(
            folder / "sm",
            f"tflite_{name}",
            representative_data,
            float_ops=kws_serving.FRONT_END_FLOAT_OPS,
        )
        for name in ("float32", "int8")
    }


def test_float32_and_int8_run_in_mediapipe_audio_classifier_as_on_litert(trained_kws, tmp_path):
    import shutil
    from pathlib import Path

    from mediapipe_env import require_mediapipe
    from scripts import load_script

    from dlapps.export import mediapipe_metadata

    require_mediapipe()
    report, version = trained_kws.report, Path(trained_kws.report["path"])
    assert report["mediapipe"]["api"] == "AudioClassifier" and report["mediapipe"]["written"]
    assert report["mediapipe"]["options"] == {"sample_rate": SAMPLE_RATE, "channels": 1}
    labels = (version / "labels.txt").read_text().splitlines()
    exported = [version / "speech_kws_float32.tflite", version / "speech_kws_int8.tflite"]
    for path in exported:
        assert mediapipe_metadata.read_metadata_labels(path.read_bytes()) == labels
    waveforms = trained_kws.data.test[0].astype("float32") / 32768.0
    files = _random_spotter_files(labels, waveforms[:8], tmp_path)
    files = mediapipe_metadata.write_metadata(
        files, "audio_classifier", labels, report["mediapipe"]["options"]
    )
    spread = []
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        spread.append(tmp_path / name)
    models = exported + spread
    scores, names = mediapipe_metadata.mediapipe_scores(
        models, "audio_classifier", waveforms, SAMPLE_RATE
    )
    for model, mediapipe, model_labels in zip(models, scores, names, strict=True):
        assert model_labels == labels, model.name
        litert = TFLiteModel(model)({"waveforms": waveforms})["probabilities"]
        if model in spread:
            assert len(set(litert.argmax(-1))) >= 3, model.name  # answers depend on the clip
        assert (mediapipe.argmax(-1) == litert.argmax(-1)).all(), model.name
        np.testing.assert_allclose(mediapipe, litert, atol=1e-5, err_msg=model.name)
    # The .tflite alone is enough for the edge runner: labels come from its metadata.
    alone = tmp_path / "alone" / "spotter.tflite"
    alone.parent.mkdir()
    shutil.copy(exported[1], alone)
    edge = Path(__file__).resolve().parents[1] / "export" / "edge"
    load_script("litert", edge / "litert.py")
    keywords = load_script("edge_keywords", edge / "keywords.py")
    wav = tmp_path / "clip.wav"
    write_pcm_wav(wav, waveforms[0], SAMPLE_RATE)
    (result,) = keywords.spot(alone, [wav], top_k=1)
    assert result["top"][0]["label"] in labels
