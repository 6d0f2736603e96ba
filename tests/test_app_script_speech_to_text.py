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
        # The dynamic-range file (int8 weights in the GRUs' matmuls); tests/test_speech_stt.py's
        # model exports float32. Converting the unrolled GRUs takes most of each export, so the
        # float16 file, the same float graph with float16 weights, is left to make bench.
        "--tflite",
        "tflite_dynamic",
        cache=True,
    )
    wer = float(stdout.split("test WER:")[1].split(",")[0])
    version = tmp_path / "out" / "speech_stt" / "1"
    assert (version / "saved_model.pb").is_file()
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["wer"] - wer) < 1e-4
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {"saved_model", "tflite_dynamic"}
    assert all((version / e["path"]).exists() for e in exports.values())
