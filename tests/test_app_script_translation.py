"""apps/translation.py end to end; one file per script so pytest-xdist spreads them."""

import json


def test_translation_script_trains_translates_and_exports(tmp_path, run_app_script):
    stdout = run_app_script(
        "translation", tmp_path, "--data", "dates", "--pairs", "200", "--epochs", "1"
    )
    bleu = float(stdout.split("test BLEU:")[1].split(",")[0])
    version = tmp_path / "out" / "translation" / "1"
    assert (version / "target_vocabulary.txt").is_file()
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["bleu"] - bleu) < 0.01
    # Every TFLite variant is converted and checked here (tests/test_translation.py skips float16).
    exports = {e["format"]: e["metrics"] for e in report["exports"]}
    assert set(exports) == {
        "saved_model",
        "tflite_float32",
        "tflite_float16",
        "tflite_dynamic",
        "tflite_strings",
    }
    assert all("bleu" in metrics for metrics in exports.values())
