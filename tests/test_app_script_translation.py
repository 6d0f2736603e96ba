"""apps/translation.py end to end; one file per script so pytest-xdist spreads them."""

import json


def test_translation_script_trains_the_gru_baseline_translates_and_exports(
    tmp_path, run_app_script
):
    # The script's GRU baseline: tests/test_translation.py trains and exports the
    # Transformer (every TFLite variant) through the driver, so this one run covers
    # the script and the other model, whose TFLite files run an unrolled copy of its GRUs.
    stdout = run_app_script(
        "translation",
        tmp_path,
        "--model",
        "gru",
        "--data",
        "dates",
        "--pairs",
        "200",
        "--epochs",
        "1",
        "--tflite",
        "tflite_float32",
        "tflite_strings",
    )
    bleu = float(stdout.split("test BLEU:")[1].split(",")[0])
    version = tmp_path / "out" / "translation" / "1"
    assert (version / "target_vocabulary.txt").is_file()
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["bleu"] - bleu) < 0.01
    # The float32 file, and the strings file that every export writes: both give
    # the Keras model's translations, token for token.
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {"saved_model", "tflite_float32", "tflite_strings"}
    for name, export in exports.items():
        assert export["identical_to_keras"] == 1.0, name
        assert "bleu" in export["metrics"], name
