"""apps/speech.py end to end; one file per script so pytest-xdist spreads them."""


def test_speech_script_trains_evaluates_and_exports(tmp_path, run_app_script):
    # The int8 file only: tests/test_speech_kws.py converts and checks all four.
    flags = ("--clips-per-class", "8", "--epochs", "1", "--tflite", "tflite_int8")
    stdout = run_app_script("speech", tmp_path, *flags, cache=True)
    assert "at 10 dB SNR" in stdout and "speech_kws v1" in stdout
    assert (tmp_path / "out" / "speech_kws" / "1" / "speech_kws_int8.tflite").is_file()
