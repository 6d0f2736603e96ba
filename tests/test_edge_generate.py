"""export/edge/generate.py and litert.run_named on real GAN generator .tflite files.

The session fixture builds a tiny conditional and a tiny unconditional
generator that follow the dlapps GAN contract (inputs `noise` and `label`,
output uint8 `images`), exports them with `keras.export.ExportArchive` and
converts them to float32 .tflite files.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
EDGE = ROOT / "export" / "edge"
LABELS = ["a", "b", "c"]
LATENT = 8


litert = load_script("litert", EDGE / "litert.py")  # generate.py does `import litert`
edge = load_script("edge_generate", EDGE / "generate.py")


@pytest.fixture(scope="session")
def gans(tmp_path_factory):
    import keras
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("gan")
    keras.utils.set_random_seed(0)

    def to_uint8(x):
        return tf.cast(tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0), tf.uint8)

    def upsample(x):
        x = keras.layers.Dense(4 * 4 * 2)(x)
        x = keras.layers.Reshape((4, 4, 2))(x)
        return keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="tanh")(x)

    noise = keras.Input((LATENT,), name="noise")
    label = keras.Input((), dtype="int32", name="label")
    embedded = keras.layers.Embedding(3, 4)(label)
    conditional = keras.Model(
        [noise, label], upsample(keras.layers.Concatenate()([noise, embedded]))
    )
    unconditional = keras.Model(noise, upsample(noise))

    noise_spec = tf.TensorSpec([None, LATENT], tf.float32, name="noise")
    label_spec = tf.TensorSpec([None], tf.int32, name="label")
    endpoints = {
        "conditional": (
            conditional,
            lambda noise, label: {"images": to_uint8(conditional([noise, label]))},
            [noise_spec, label_spec],
        ),
        "unconditional": (
            unconditional,
            lambda noise: {"images": to_uint8(unconditional(noise))},
            [noise_spec],
        ),
    }
    paths = {}
    for name, (model, fn, signature) in endpoints.items():
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", fn, input_signature=signature)
        saved = folder / name / "saved_model"
        archive.write_out(str(saved), verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(saved), signature_keys=["serving_default"]
        )
        paths[name] = folder / name / "generator.tflite"
        paths[name].write_bytes(converter.convert())
    (folder / "conditional" / "labels.txt").write_text("\n".join(LABELS) + "\n")

    def expected(num, labels=None, seed=0):
        # What dlapps' Keras generator draws for the same seed and labels.
        z = np.random.default_rng(seed).standard_normal((num, LATENT)).astype("float32")
        if labels is None:
            return to_uint8(unconditional(z)).numpy()
        return to_uint8(conditional([z, np.asarray(labels, "int32")])).numpy()

    return {**paths, "expected": expected}


def _close(actual, expected):
    assert actual.dtype == np.uint8 and actual.shape == expected.shape
    assert np.abs(actual.astype(int) - expected.astype(int)).max() <= 1
    assert len(np.unique(actual)) > 10  # real images, not a constant


def test_conditional_matches_keras_with_cycling_labels(gans):
    images = edge.generate(gans["conditional"], num=7, seed=3, num_threads=1)
    _close(images, gans["expected"](7, labels=[0, 1, 2, 0, 1, 2, 0], seed=3))


def test_label_by_index_or_name(gans):
    by_name = edge.generate(gans["conditional"], num=5, label="b")
    _close(by_name, gans["expected"](5, labels=[1] * 5))
    np.testing.assert_array_equal(edge.generate(gans["conditional"], num=5, label=1), by_name)
    np.testing.assert_array_equal(edge.generate(gans["conditional"], num=5, label="1"), by_name)
    # The label matters: class c gives other images from the same noise.
    assert not np.array_equal(edge.generate(gans["conditional"], num=5, label="c"), by_name)


def test_unconditional_matches_keras(gans):
    _close(edge.generate(gans["unconditional"], num=4), gans["expected"](4))


def test_run_named_feeds_inputs_by_name(gans):
    interpreter = litert.load_interpreter(gans["conditional"])
    details = litert.input_details(interpreter)
    assert {name: d["shape_signature"].tolist() for name, d in details.items()} == {
        "noise": [-1, LATENT],
        "label": [-1],
    }
    z = np.random.default_rng(0).standard_normal((3, LATENT)).astype("float32")
    for num in (3, 2):  # the batch size changes between calls
        outputs = litert.run_named(
            interpreter, {"label": np.array([2, 0, 1][:num]), "noise": z[:num]}
        )
        _close(outputs["images"], gans["expected"](3, labels=[2, 0, 1])[:num])
    with pytest.raises(litert.EdgeError, match=r"inputs are \['label', 'noise'\]"):
        litert.run_named(interpreter, {"noise": z})
    with pytest.raises(litert.EdgeError, match="run_named"):
        litert.run(interpreter, z)


def test_save_grid_draws_the_dlapps_grid(tmp_path):
    from dlapps.report import save_image_grid

    rng = np.random.default_rng(0)
    for shape in ((11, 5, 6, 1), (3, 4, 4, 3)):
        images = rng.integers(0, 256, shape, np.uint8)
        edge.save_grid(images, tmp_path / "edge.png", columns=4, scale=3)
        save_image_grid(images, tmp_path / "dlapps.png", columns=4, scale=3)
        with (
            Image.open(tmp_path / "edge.png") as ours,
            Image.open(tmp_path / "dlapps.png") as theirs,
        ):
            assert ours.mode == theirs.mode == ("L" if shape[-1] == 1 else "RGB")
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def _run_cli(*args):
    # A fresh interpreter where `import tensorflow` (and dlapps) fails, as on a
    # device without them; the edge folder is sys.path[0] as for a script.
    code = (
        "import runpy, sys\n"
        "for name in ('tensorflow', 'dlapps'): sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(EDGE)!r})\n"
        f"sys.argv = ['generate.py', *{[str(a) for a in args]!r}]\n"
        f"runpy.run_path({str(EDGE / 'generate.py')!r}, run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_cli_writes_the_grid_without_tensorflow(gans, tmp_path):
    out = tmp_path / "samples.png"
    done = _run_cli(
        gans["conditional"], "--num", "16", "--seed", "5", "--out", out, "--threads", "1"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote 16 generated images to {out}"
    with Image.open(out) as image:
        assert image.mode == "L"
        assert image.size == ((8 * 9 + 1) * 4, (2 * 9 + 1) * 4)  # 8 columns, 2 rows
        pixels = np.asarray(image)
    edge.save_grid(edge.generate(gans["conditional"], num=16, seed=5), tmp_path / "same.png")
    with Image.open(tmp_path / "same.png") as same:
        np.testing.assert_array_equal(pixels, np.asarray(same))


def _assert_one_line_error(done, *words):
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    for word in words:
        assert word in line
    return line


def test_bad_labels_are_one_line_errors(gans, tmp_path):
    out = tmp_path / "never.png"
    done = _run_cli(gans["conditional"], "--label", "3", "--out", out)
    _assert_one_line_error(done, "label 3 is out of range", "use 0 to 2")
    done = _run_cli(gans["conditional"], "--label", "zebra", "--out", out)
    _assert_one_line_error(done, "unknown label 'zebra'", "use 0 to 2", "a, b, c")
    done = _run_cli(gans["unconditional"], "--label", "1", "--out", out)
    _assert_one_line_error(done, "not a conditional generator", "--label")
    assert not out.exists()


def _error(capsys, *argv):
    assert edge.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    return err


def test_other_errors(gans, tmp_path, capsys):
    alone = tmp_path / "generator.tflite"  # a conditional model without labels.txt
    shutil.copy(gans["conditional"], alone)
    assert "no labels file at" in _error(capsys, alone, "--out", tmp_path / "x.png")
    assert "model file not found" in _error(capsys, tmp_path / "gone.tflite")
    out = tmp_path / "no" / "such" / "folder" / "x.png"
    assert "could not write" in _error(capsys, gans["unconditional"], "--num", "2", "--out", out)
