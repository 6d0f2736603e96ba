import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dlapps.application import get_application
from dlapps.export import TFLiteModel, export_model, versioning
from dlapps.export.saved_model import Endpoint


@pytest.fixture(scope="module")
def report(trained_vision):
    return trained_vision.report


def _exports(report):
    return {export["format"]: export for export in report["exports"]}


def test_report_json_has_the_keys_every_app_shares(report):
    written = json.loads((Path(report["path"]) / "report.json").read_text())
    for key in ("app", "version", "labels", "metrics", "exports"):
        assert key in written
    assert written["app"] == "vision" and written["version"] == 1
    assert written["labels"] == [str(d) for d in range(10)]
    assert set(_exports(written)) == {
        "saved_model",
        "tflite_float32",
        "tflite_float16",
        "tflite_dynamic",
        "tflite_int8",
    }
    for export in written["exports"]:
        assert {
            "format",
            "path",
            "bytes",
            "metrics",
            "max_abs_diff",
            "latency_ms",
        } <= set(export)
        assert (Path(report["path"]) / export["path"]).exists()
        assert export["latency_ms"] > 0


def test_float_exports_match_keras(report):
    exports = _exports(report)
    assert exports["saved_model"]["max_abs_diff"] <= 1e-5
    assert exports["tflite_float32"]["max_abs_diff"] <= 1e-4
    assert exports["tflite_float16"]["max_abs_diff"] <= 1e-2


def test_quantized_exports_keep_accuracy_within_two_points(report):
    keras_accuracy = report["metrics"]["accuracy"]
    for tflite_format in ("tflite_dynamic", "tflite_int8"):
        accuracy = _exports(report)[tflite_format]["metrics"]["accuracy"]
        assert accuracy >= keras_accuracy - 0.02, tflite_format


def test_full_int8_file_is_under_30_percent_of_float32(report):
    exports = _exports(report)
    assert exports["tflite_int8"]["bytes"] <= 0.30 * exports["tflite_float32"]["bytes"]


def test_full_int8_file_takes_uint8_pixels_and_labels_sit_beside_it(report):
    path = Path(report["path"])
    model = TFLiteModel(path / "vision_int8.tflite")
    assert model.inputs["images"]["dtype"] == np.uint8
    assert list(model.inputs["images"]["shape"][1:]) == [8, 8, 3]  # RGB, as cameras give
    assert (path / "labels.txt").read_text().split() == [str(d) for d in range(10)]


def test_report_carries_figures(report):
    for figure in report["figures"]:
        assert (Path(report["path"]) / figure).stat().st_size > 1000
    assert "figures/confusion_matrix.png" in report["figures"]
    assert "figures/training_curves.png" in report["figures"]
    assert "figures/predictions.png" in report["figures"]


def test_saved_model_serves_in_a_process_that_imports_only_tensorflow(report, trained_vision):
    images = trained_vision.data.test[0][:4]
    expected = trained_vision.model.predict(images, verbose=0)
    np.save(Path(report["path"]).parent / "images.npy", images)
    script = textwrap.dedent(
        f"""
        import io, json, sys
        import numpy as np
        import tensorflow as tf
        from PIL import Image
        loaded = tf.saved_model.load({report["path"]!r})
        images = np.load({str(Path(report["path"]).parent / "images.npy")!r})
        raw = loaded.signatures["serving_default"](images=tf.constant(images))
        png = io.BytesIO()
        Image.fromarray(images[0, :, :, 0]).save(png, format="PNG")
        encoded = loaded.signatures["serve_bytes"](image_bytes=tf.constant([png.getvalue()]))
        print(json.dumps({{
            "probabilities": raw["probabilities"].numpy().tolist(),
            "labels": [label.decode() for label in raw["label"].numpy()],
            "bytes_probabilities": encoded["probabilities"].numpy().tolist(),
            "dlapps_imported": any(name.startswith("dlapps") for name in sys.modules),
        }}))
        """
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout
    served = json.loads(output.strip().splitlines()[-1])
    assert not served["dlapps_imported"]
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    assert served["labels"] == [str(i) for i in expected.argmax(-1)]
    np.testing.assert_allclose(served["bytes_probabilities"][0], expected[0], atol=1e-5)


def test_another_export_is_a_new_version_and_leaves_the_first_untouched(trained_vision, tmp_path):
    first = Path(trained_vision.report["path"])
    before = {p: p.stat().st_mtime_ns for p in first.rglob("*")}
    application = get_application("vision")
    spec = application.export_spec(trained_vision.model, trained_vision.data)
    spec.tflite_formats = ("tflite_float32",)
    second = export_model(spec, first.parent.parent, {"accuracy": 0.0})
    assert second["version"] == 2 and Path(second["path"]).name == "2"
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*")} == before
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".staging")]


def test_a_failed_export_leaves_no_version_directory(trained_vision, tmp_path):
    application = get_application("vision")
    spec = application.export_spec(trained_vision.model, trained_vision.data)

    def broken(images):
        raise RuntimeError("conversion failed on purpose")

    spec.tflite = Endpoint("serving_default", broken, spec.tflite.input_signature)
    with pytest.raises(RuntimeError, match="on purpose"):
        export_model(spec, tmp_path, {})
    assert list((tmp_path / "vision").iterdir()) == []


def test_publish_never_replaces_an_existing_version(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "keep.txt").write_text("user's file")
    (tmp_path / "3").mkdir()
    staging = versioning.make_staging_directory(tmp_path)
    (staging / "new.txt").write_text("new")
    target = versioning.publish(staging, tmp_path)
    assert target.name == "4"
    assert (tmp_path / "1" / "keep.txt").read_text() == "user's file"
    assert versioning.existing_versions(tmp_path) == [1, 3, 4]


def test_latency_loop_stops_at_its_budget_and_names_a_bad_one(monkeypatch):
    import time

    from dlapps.errors import UserError
    from dlapps.export import benchmark

    calls = []

    def twenty_ms():
        calls.append(None)
        time.sleep(0.02)

    monkeypatch.setenv("DLAPPS_LATENCY_SECONDS", "0.05")
    assert benchmark.median_latency_ms(twenty_ms, warmup=1) >= 20
    assert 2 <= len(calls) <= 4  # one warmup, then timed calls until 50 ms have passed
    monkeypatch.setenv("DLAPPS_LATENCY_SECONDS", "soon")
    with pytest.raises(UserError, match=r"\$DLAPPS_LATENCY_SECONDS is 'soon'"):
        benchmark.median_latency_ms(twenty_ms)


def test_latency_batch_sizes_come_from_the_environment_or_default_to_1_and_32(monkeypatch):
    from dlapps.errors import UserError
    from dlapps.export import benchmark

    monkeypatch.delenv("DLAPPS_LATENCY_BATCHES", raising=False)
    assert benchmark.export_batch_sizes() == (1, 32)
    monkeypatch.setenv("DLAPPS_LATENCY_BATCHES", "1,8")
    assert benchmark.export_batch_sizes() == (1, 8)
    for bad in ("", "one", "0,32"):
        monkeypatch.setenv("DLAPPS_LATENCY_BATCHES", bad)
        with pytest.raises(UserError, match=r"\$DLAPPS_LATENCY_BATCHES is .*such as 1,32"):
            benchmark.export_batch_sizes()


def test_tflite_formats_keep_what_the_app_offers_and_name_the_rest(capsys):
    from dlapps.errors import UserError
    from dlapps.export import ExportSpec, exporter

    offered = ("tflite_float32", "tflite_float16", "tflite_dynamic")
    spec = ExportSpec(*[None] * 10, tflite_formats=offered)
    spec.app = "speech_stt"
    assert exporter.with_tflite_formats(spec, None).tflite_formats == offered
    assert exporter.with_tflite_formats(spec, []).tflite_formats == ()
    kept = exporter.with_tflite_formats(spec, ["tflite_int8", "tflite_dynamic"])
    assert kept.tflite_formats == ("tflite_dynamic",) and spec.tflite_formats == offered
    assert "speech_stt has no tflite_int8 file" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown TFLite format 'int8': choose among tflite_"):
        exporter.with_tflite_formats(spec, ["int8"])
    # A text app's strings file is named like the others: --tflite alone writes no file at all.
    text = dataclasses.replace(spec, app="translation", text_ops_tflite="the strings endpoint")
    assert exporter.with_tflite_formats(text, []).text_ops_tflite is None
    kept = exporter.with_tflite_formats(text, ["tflite_strings"])
    assert kept.tflite_formats == () and kept.text_ops_tflite == "the strings endpoint"
    assert exporter.with_tflite_formats(text, None).text_ops_tflite == "the strings endpoint"
    exporter.with_tflite_formats(spec, ["tflite_strings"])
    assert "speech_stt has no tflite_strings file" in capsys.readouterr().err
