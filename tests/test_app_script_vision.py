"""apps/vision.py end to end; one file per script so pytest-xdist spreads them."""


def test_vision_script_trains_evaluates_and_exports(tmp_path, run_app_script):
    # The int8 file only: the trained_vision fixture converts and checks all four.
    stdout = run_app_script("vision", tmp_path, "--epochs", "2", "--tflite", "tflite_int8")
    accuracy = float(stdout.split("test accuracy:")[1].split()[0])
    assert accuracy > 0.5
    assert (tmp_path / "out" / "vision" / "1" / "vision_int8.tflite").is_file()
