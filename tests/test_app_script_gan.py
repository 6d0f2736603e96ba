"""apps/gan.py end to end; one file per script so pytest-xdist spreads them."""

import json


def test_gan_script_trains_scores_and_exports(tmp_path, run_app_script):
    stdout = run_app_script("gan", tmp_path, "--epochs", "1", "--classifier-epochs", "1")
    assert "fid_floor" in stdout
    version = tmp_path / "out" / "gan" / "1"
    assert (version / "gan_float32.tflite").is_file()
    # Every TFLite variant is converted and scored here (tests/test_gan.py exports float32 only).
    report = json.loads((version / "report.json").read_text())
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {"saved_model", "tflite_float32", "tflite_float16", "tflite_dynamic"}
    assert all("fid" in e["metrics"] for e in exports.values())
    assert (tmp_path / "runs" / "samples.png").is_file()
