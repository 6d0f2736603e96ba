"""One preprocessing path per input kind: the same file gives the same answer everywhere.

The contracts (written out in docs/guide.md, "Inputs"):

- images: the first frame, turned upright by its EXIF orientation,
  converted to L or RGB, resized bilinearly with antialiasing (TF's resize
  in dlapps and the SavedModel; Pillow's bilinear, the same triangle filter,
  on the edge and in the client). Probabilities agree within 0.05 (uint8
  rounding of the resized pixels); the top label is the same unless the
  model is near a tie.
- audio: PCM scaled to [-1, 1], channels averaged, resampled to 16 kHz with
  SciPy's polyphase filter, centre-cropped or zero-padded at the end to the
  model's length. Waveforms agree within 1e-4.
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scripts import load_script

from dlapps import cli
from dlapps.speech import audio as dlapps_audio

ROOT = Path(__file__).resolve().parents[1]
PROBABILITY_TOLERANCE = 0.05
WAVEFORM_TOLERANCE = 1e-4


litert = load_script("litert", ROOT / "export" / "edge" / "litert.py")
edge_classify = load_script("edge_classify", ROOT / "export" / "edge" / "classify.py")
edge_keywords = load_script("edge_keywords", ROOT / "export" / "edge" / "keywords.py")


@pytest.fixture(scope="module")
def sideways_digits(trained_vision, tmp_path_factory):
    """Test digits enlarged to 40x32 and stored sideways with EXIF orientation 6 (phone style)."""
    folder = tmp_path_factory.mktemp("sideways")
    images, _ = trained_vision.data.test
    paths = []
    for index in range(8):
        upright = Image.fromarray(images[index][..., 0], "L").resize((32, 40), Image.BICUBIC)
        stored = upright.transpose(Image.Transpose.ROTATE_90)  # EXIF 6 turns it back
        exif = Image.Exif()
        exif[0x0112] = 6
        path = folder / f"digit_{index}.jpg"
        stored.save(path, quality=95, exif=exif)
        paths.append(path)
    return paths


def _predict_lines(capsys, model, paths):
    assert cli.main(["predict", str(model), *map(str, paths), "--top-k", "1"]) == 0
    return [line.split(": ")[1].split(" (")[0] for line in capsys.readouterr().out.splitlines()]


def test_every_image_path_gives_dlapps_answer(
    trained_vision, sideways_digits, capsys, serving_client, tf_serving
):
    version = Path(trained_vision.report["path"])
    labels = (version / "labels.txt").read_text().split()
    tflite = version / "vision_float32.tflite"

    # dlapps itself: the SavedModel resizes inside the graph, in float.
    from dlapps.export import load_saved_model
    from dlapps.vision.data import decode_image_file

    signature = load_saved_model(version).signatures["serving_default"]
    reference = np.stack(
        [
            signature(images=decode_image_file(p, 1)[None])["probabilities"].numpy()[0]
            for p in sideways_digits
        ]
    )
    expected = [labels[i] for i in reference.argmax(-1)]
    assert len(set(expected)) >= 3  # a trained model, not a constant answer

    paths = {
        "dlapps predict, SavedModel": _predict_lines(capsys, version, sideways_digits),
        "dlapps predict, TFLite": _predict_lines(capsys, tflite, sideways_digits),
    }
    edge = edge_classify.classify(tflite, sideways_digits, top_k=1)
    edge_probabilities = np.array([r["probabilities"] for r in edge])
    paths["edge runner"] = [r["top"][0]["label"] for r in edge]

    height, width, _ = trained_vision.report["inputs"]["images"]["shape"][1:]
    raw = serving_client.build_body(
        "raw", [serving_client.load_pixels(p, height, width, 1) for p in sideways_digits]
    )
    raw_probabilities = tf_serving(str(version), raw)["probabilities"]
    paths["serving client, pixels"] = [labels[i] for i in raw_probabilities.argmax(-1)]
    encoded = serving_client.build_body(
        "bytes", [serving_client.upright_image_bytes(p) for p in sideways_digits]
    )
    bytes_probabilities = tf_serving(str(version), encoded)["probabilities"]
    paths["serving client, file bytes"] = [labels[i] for i in bytes_probabilities.argmax(-1)]

    # Labels must agree wherever the model is not near a tie (top two 0.2 apart or more).
    ranked = np.sort(reference, axis=-1)
    clear = ranked[:, -1] - ranked[:, -2] >= 0.2
    assert clear.sum() >= 5
    for name, answers in paths.items():
        assert np.array(answers)[clear].tolist() == np.array(expected)[clear].tolist(), name
    for probabilities in (edge_probabilities, raw_probabilities, bytes_probabilities):
        np.testing.assert_allclose(probabilities, reference, atol=PROBABILITY_TOLERANCE)

    # Without the EXIF turn the pixels are sideways: the answer would differ.
    stored = np.stack([np.asarray(Image.open(p).convert("L"))[..., None] for p in sideways_digits])
    sideways = signature(images=stored)["probabilities"].numpy()
    assert (sideways.argmax(-1) != reference.argmax(-1)).any()


def _write(path, audio, rate):
    from scipy.io import wavfile

    wavfile.write(path, rate, np.round(np.clip(audio, -1, 1) * 32767).astype("int16"))
    return path


@pytest.fixture(scope="module")
def wav_files(tmp_path_factory):
    """A long 16 kHz clip, a stereo one, a 44.1 kHz one and a short 8 kHz one."""
    folder = tmp_path_factory.mktemp("wavs")
    rng = np.random.default_rng(0)

    def chirp(seconds, rate):
        t = np.arange(int(seconds * rate)) / rate
        return 0.5 * np.sin(2 * np.pi * (300 + 900 * t) * t) * np.linspace(0.2, 1, len(t))

    def two_tones(seconds, rate):
        # 500 Hz speech-band tone + 15 kHz, which 16 kHz cannot hold (it would fold to 1 kHz).
        t = np.arange(int(seconds * rate)) / rate
        return 0.4 * np.sin(2 * np.pi * 500 * t) + 0.4 * np.sin(2 * np.pi * 15000 * t)

    stereo = np.stack([chirp(1.5, 16000), rng.uniform(-0.3, 0.3, 24000)], axis=1)
    return {
        "long_16k": _write(folder / "long.wav", chirp(2.5, 16000), 16000),
        "stereo_16k": _write(folder / "stereo.wav", stereo, 16000),
        "long_44k": _write(folder / "cd.wav", two_tones(2.0, 44100), 44100),
        "short_8k": _write(folder / "phone.wav", chirp(0.5, 8000), 8000),
    }


def _serve_wav(wav_bytes):
    """What the exported `serve_wav` signature feeds the model, for a batch of WAV files."""
    import tensorflow as tf

    from dlapps.speech.kws_serving import serving_endpoints

    labels = [str(i) for i in range(16000)]
    endpoint = serving_endpoints(lambda waveforms, training=False: waveforms, labels)[1]
    function = tf.function(endpoint.function, input_signature=endpoint.input_signature)
    return function(tf.constant(wav_bytes))["probabilities"].numpy()


def test_every_audio_path_prepares_the_same_waveform(wav_files, serving_client):
    for name, path in wav_files.items():
        expected = dlapps_audio.fit_length(dlapps_audio.read_wav(path), 16000)
        edge = edge_keywords.fit_length(edge_keywords.read_wav(path), 16000)
        client = np.array(serving_client.read_wav(path, samples=16000), "float32")
        np.testing.assert_allclose(edge, expected, atol=WAVEFORM_TOLERANCE, err_msg=name)
        np.testing.assert_allclose(client, expected, atol=WAVEFORM_TOLERANCE, err_msg=name)
        if serving_client.is_model_rate_wav(path):
            (served,) = _serve_wav([path.read_bytes()])
            np.testing.assert_allclose(served, expected, atol=WAVEFORM_TOLERANCE, err_msg=name)
    # The long clip is cut around its centre, not its head.
    long_clip = dlapps_audio.read_wav(wav_files["long_16k"])
    np.testing.assert_allclose(
        dlapps_audio.fit_length(long_clip, 16000), long_clip[12000:28000], atol=1e-6
    )
    # Resampling filters out what 16 kHz cannot hold instead of folding it to 1 kHz.
    resampled = dlapps_audio.read_wav(wav_files["long_44k"])
    spectrum = np.abs(np.fft.rfft(resampled))
    frequencies = np.fft.rfftfreq(len(resampled), 1 / 16000)
    tone = spectrum[np.abs(frequencies - 500) < 20].max()
    assert spectrum[np.abs(frequencies - 1000) < 50].max() < 0.01 * tone
