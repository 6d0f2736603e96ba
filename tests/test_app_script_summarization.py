"""apps/summarization.py end to end; one file per script so pytest-xdist spreads them."""

import json


def test_summarization_script_trains_evaluates_and_exports(tmp_path, run_app_script):
    # The SavedModel only: tests/test_summarization.py converts and checks the TFLite files.
    flags = ("--documents", "60", "--epochs", "1", "--tflite")
    stdout = run_app_script("summarization", tmp_path, *flags)
    rouge = float(stdout.split("test ROUGE-L: model")[1].split(",")[0])
    version = tmp_path / "out" / "summarization" / "1"
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["rougeL"] - rouge) < 1e-4
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {"saved_model"}
    assert exports["saved_model"]["identical_to_keras"] == 1.0
    assert list((version / "figures").glob("*.png"))
