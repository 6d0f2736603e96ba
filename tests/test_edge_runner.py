"""The deployment kit in export/: the edge runner on real TFLite files, and the
TF Serving config and client (no server, no network).

The session fixture builds a tiny uint8-input classifier that follows the
dlapps TFLite contract, exports it with `keras.export.ExportArchive` and
converts it to a float32 and a full-int8 .tflite file.
"""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
EDGE = ROOT / "export" / "edge"
SERVING = ROOT / "export" / "serving"
LABELS = ["a", "b", "c"]


litert = load_script("litert", EDGE / "litert.py")  # classify.py does `import litert`
edge = load_script("edge_classify", EDGE / "classify.py")
client = load_script("serving_client", SERVING / "client.py")


def _write_images(folder):
    """Greyscale PNG and JPEG, a larger PNG, an RGB PNG, a GIF and a corrupt file."""
    rng = np.random.default_rng(1)
    ramp = np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))
    images = {
        "ramp.png": Image.fromarray(ramp, "L"),
        "ramp_t.jpg": Image.fromarray(np.ascontiguousarray(ramp.T), "L"),
        "big.png": Image.fromarray(rng.integers(0, 256, (20, 14), np.uint8), "L"),
        "rgb.png": Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8), "RGB"),
        "dark.gif": Image.fromarray(rng.integers(0, 40, (12, 12), np.uint8), "L"),
    }
    paths = []
    for name, image in images.items():
        image.save(folder / name)
        paths.append(folder / name)
    (folder / "corrupt.png").write_bytes(rng.integers(0, 256, 300, np.uint8).tobytes())
    return paths


def _pixels(path):
    # What the model should see: Pillow greyscale, bilinear resize to 8x8.
    with Image.open(path) as image:
        image = image.convert("L").resize((8, 8), Image.Resampling.BILINEAR)
    return np.asarray(image, np.uint8)[..., None]


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    import keras
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("edge")
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(8, 8, 1), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(keras.ops.cast(inputs, "float32"))
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    # Large weights and biases spread the probabilities so that bright and
    # dark images get different labels, and top labels are not near ties.
    big = keras.initializers.RandomNormal(stddev=4.0, seed=0)
    bias = keras.initializers.RandomNormal(stddev=1.0, seed=1)
    outputs = keras.layers.Dense(3, "softmax", kernel_initializer=big, bias_initializer=bias)(x)
    model = keras.Model(inputs, outputs)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda images: {"probabilities": model(images)},
        input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.uint8, name="images")],
    )
    archive.write_out(str(folder / "saved_model"), verbose=False)

    def converter():
        return tf.lite.TFLiteConverter.from_saved_model(
            str(folder / "saved_model"), signature_keys=["serving_default"]
        )

    (folder / "model.tflite").write_bytes(converter().convert())
    rng = np.random.default_rng(0)
    int8 = converter()
    int8.optimizations = [tf.lite.Optimize.DEFAULT]
    int8.representative_dataset = lambda: (
        {"images": rng.integers(0, 256, (1, 8, 8, 1), np.uint8)} for _ in range(32)
    )
    int8.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    int8.inference_input_type = tf.uint8
    (folder / "int8").mkdir()
    (folder / "int8" / "model.tflite").write_bytes(int8.convert())
    for model_dir in (folder, folder / "int8"):
        (model_dir / "labels.txt").write_text("\n".join(LABELS) + "\n")

    images = _write_images(folder)
    batch = np.stack([_pixels(path) for path in images])
    expected = keras.ops.convert_to_numpy(model(batch))
    return {"folder": folder, "images": images, "expected": expected}


def _check_against_keras(results, kit, atol):
    assert [r["image"] for r in results] == [str(p) for p in kit["images"]]
    probabilities = np.array([r["probabilities"] for r in results])
    np.testing.assert_allclose(probabilities, kit["expected"], atol=atol)
    return [r["top"][0]["label"] for r in results]


def test_float_model_matches_keras(kit):
    results = edge.classify(kit["folder"] / "model.tflite", kit["images"], top_k=3)
    top = _check_against_keras(results, kit, atol=1e-5)
    assert top == [LABELS[i] for i in kit["expected"].argmax(axis=1)]
    assert len(set(top)) > 1  # the images are told apart, not one constant answer
    for result in results:
        probabilities = [t["probability"] for t in result["top"]]
        assert len(probabilities) == 3
        assert probabilities == sorted(probabilities, reverse=True)


def test_int8_model_is_close_to_keras(kit):
    results = edge.classify(kit["folder"] / "int8" / "model.tflite", kit["images"])
    _check_against_keras(results, kit, atol=0.05)


def _run_cli(*args, block=("tensorflow", "dlapps")):
    # A fresh interpreter where `import tensorflow` (and dlapps) fails, as on a
    # device without them; the edge folder is sys.path[0] as for a script.
    code = (
        "import runpy, sys\n"
        f"for name in {list(block)!r}: sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(EDGE)!r})\n"
        f"sys.argv = ['classify.py', *{[str(a) for a in args]!r}]\n"
        f"runpy.run_path({str(EDGE / 'classify.py')!r}, run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_cli_runs_without_tensorflow(kit):
    images = kit["images"]
    done = _run_cli(kit["folder"] / "model.tflite", *images, "--top-k", "2", "--threads", "1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(images)
    for line, path, row in zip(lines, images, kit["expected"], strict=True):
        assert re.fullmatch(rf"{re.escape(str(path))}: [abc] \(\d\.\d{{3}}\), [abc] \(.*\)", line)
        assert line.split(": ")[1].startswith(LABELS[row.argmax()])


def test_cli_json_output(kit, capsys):
    image = kit["images"][0]
    assert edge.main([str(kit["folder"] / "model.tflite"), str(image), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["image"] == str(image)
    assert {t["label"] for t in result["top"]} == set(LABELS)


def test_corrupt_image_is_a_one_line_error(kit):
    corrupt = kit["folder"] / "corrupt.png"
    done = _run_cli(kit["folder"] / "model.tflite", kit["images"][0], corrupt)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert str(corrupt) in line and "could not be decoded" in line


def _error(capsys, *argv):
    assert edge.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    return err


def test_missing_image(kit, capsys):
    err = _error(capsys, kit["folder"] / "model.tflite", kit["folder"] / "nope.png")
    assert "image not found" in err and "nope.png" in err


def test_not_a_tflite_model(kit, tmp_path, capsys):
    text = tmp_path / "notes.tflite"
    text.write_text("this is not a model")
    assert "is not a TFLite model" in _error(capsys, text, kit["images"][0])
    # A real header with the rest cut off: the interpreter's complaint, one line.
    cut = tmp_path / "cut.tflite"
    cut.write_bytes((kit["folder"] / "model.tflite").read_bytes()[:200])
    assert "could not load TFLite model" in _error(capsys, cut, kit["images"][0])
    assert "model file not found" in _error(capsys, tmp_path / "gone.tflite", kit["images"][0])


def test_wrong_label_count(kit, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    err = _error(capsys, kit["folder"] / "model.tflite", kit["images"][0], "--labels", labels)
    assert "has 2 labels but the model has 3 classes" in err


def test_no_interpreter_installed_says_what_to_install(kit):
    block = ("tensorflow", "ai_edge_litert", "tflite_runtime")
    done = _run_cli(kit["folder"] / "model.tflite", kit["images"][0], block=block)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "pip install ai-edge-litert" in done.stderr


def test_quantize_and_dequantize_helpers():
    pixels = np.array([0, 100, 255], np.uint8)
    raw = {"dtype": np.uint8, "quantization": (0.0, 0)}
    np.testing.assert_array_equal(litert.quantize_input(pixels, raw), pixels)
    int8 = {"dtype": np.int8, "quantization": (1.0, -128)}
    np.testing.assert_array_equal(litert.quantize_input(pixels, int8), [-128, -28, 127])
    clipped = {"dtype": np.int8, "quantization": (0.5, 0)}
    np.testing.assert_array_equal(litert.quantize_input(pixels, clipped), [0, 127, 127])
    floats = litert.quantize_input(pixels, {"dtype": np.float32, "quantization": (0.0, 0)})
    assert floats.dtype == np.float32 and floats.max() == 255.0
    out = {"dtype": np.uint8, "quantization": (0.25, 4)}
    np.testing.assert_allclose(litert.dequantize_output(np.array([4, 8], np.uint8), out), [0, 1])


def test_models_config_serves_every_app_and_is_generated_from_saved_models(tmp_path):
    from dlapps.application import application_names

    text = (SERVING / "models.config").read_text()
    configs = re.findall(r'name:\s*"(\w+)"\s*base_path:\s*"([^"]+)"', text)
    assert dict(configs) == {name: f"/models/{name}" for name in application_names()}
    assert len(re.findall(r"model_version_policy\s*{\s*latest\s*{", text)) == len(configs)

    make_config = load_script("make_config", SERVING / "make_config.py")
    (tmp_path / "vision" / "1").mkdir(parents=True)
    (tmp_path / "vision" / "1" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "gan" / ".staging-x").mkdir(parents=True)  # not a version yet
    (tmp_path / "translation" / "3").mkdir(parents=True)
    (tmp_path / "translation" / "3" / "saved_model.pb").write_bytes(b"")
    assert make_config.served_models(tmp_path) == ["translation", "vision"]
    written = tmp_path / "models.config"
    assert make_config.main(["--saved-models", str(tmp_path), "--output", str(written)]) == 0
    served = re.findall(r'name:\s*"(\w+)"\s*base_path:\s*"([^"]+)"', written.read_text())
    assert served == [("translation", "/models/translation"), ("vision", "/models/vision")]
    assert make_config.main(["--saved-models", str(tmp_path / "gan")]) == 1


def test_client_builds_both_request_bodies(kit, tmp_path):
    path = kit["images"][2]  # 20x14, resized to the model's 8x8
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps({"app": "vision", "inputs": {"images": {"shape": [None, 8, 8, 1]}}})
    )
    assert client.input_size(report_path=report) == (8, 8, 1)
    assert client.input_size("8x8", 3) == (8, 8, 3)
    assert client.input_size("6x4", report_path=report) == (6, 4, 1)
    with pytest.raises(client.ClientError, match="--size"):
        client.input_size()

    raw = client.build_body("raw", [client.load_pixels(path, 8, 8, 1)])
    assert raw["signature_name"] == "serving_default"
    (instance,) = raw["instances"]
    np.testing.assert_array_equal(np.array(instance["images"]), _pixels(path))

    data = path.read_bytes()
    encoded = json.loads(json.dumps(client.build_body("bytes", [data, data])))
    assert encoded["signature_name"] == "serve_bytes"
    assert len(encoded["instances"]) == 2
    assert base64.b64decode(encoded["instances"][0]["image_bytes"]["b64"]) == data
