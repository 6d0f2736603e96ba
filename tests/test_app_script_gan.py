"""apps/gan.py end to end; one file per script so pytest-xdist spreads them."""


def test_gan_script_trains_scores_and_exports(tmp_path, run_app_script):
    stdout = run_app_script("gan", tmp_path, "--epochs", "1", "--classifier-epochs", "1")
    assert "fid_floor" in stdout
    assert (tmp_path / "out" / "gan" / "1" / "gan_float32.tflite").is_file()
    assert (tmp_path / "runs" / "samples.png").is_file()
