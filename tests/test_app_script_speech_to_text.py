"""apps/speech_to_text.py end to end; one file per script so pytest-xdist spreads them."""

import json


def test_speech_to_text_script_trains_decodes_and_exports(tmp_path, run_app_script):
    stdout = run_app_script(
        "speech_to_text",
        tmp_path,
        "--sentences",
        "12",
        "--epochs",
        "1",
        "--rnn-units",
        "8",
        "--rnn-layers",
        "1",
        "--tflite",  # tests/test_speech_stt.py's trained model exports the float32 file
        "tflite_float16",
        "tflite_dynamic",
        cache=True,
    )
    wer = float(stdout.split("test WER:")[1].split(",")[0])
    version = tmp_path / "out" / "speech_stt" / "1"
    assert (version / "saved_model.pb").is_file()
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["wer"] - wer) < 1e-4
    # Between them, this file and tests/test_speech_stt.py (float32) convert every variant.
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {"saved_model", "tflite_float16", "tflite_dynamic"}
    assert all((version / e["path"]).exists() for e in exports.values())
    assert exports["tflite_float16"]["max_abs_diff"] < 1e-2
