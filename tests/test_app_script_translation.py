"""apps/translation.py end to end; one file per script so pytest-xdist spreads them."""

import json


def test_translation_script_trains_translates_and_exports(tmp_path, run_app_script):
    stdout = run_app_script(
        "translation",
        tmp_path,
        "--data",
        "dates",
        "--pairs",
        "200",
        "--epochs",
        "1",
        "--tflite",
        "tflite_float16",  # tests/test_translation.py converts the others
    )
    bleu = float(stdout.split("test BLEU:")[1].split(",")[0])
    version = tmp_path / "out" / "translation" / "1"
    assert (version / "target_vocabulary.txt").is_file()
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["bleu"] - bleu) < 0.01
    # The float16 file, and the strings file that every export writes; tests/test_translation.py
    # converts and checks the float32 and dynamic-range ones.
    exports = {e["format"]: e["metrics"] for e in report["exports"]}
    assert set(exports) == {"saved_model", "tflite_float16", "tflite_strings"}
    assert all("bleu" in metrics for metrics in exports.values())
