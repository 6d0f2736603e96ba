"""apps/faces.py end to end; one file per script so pytest-xdist spreads them."""


def test_faces_script_trains_evaluates_and_exports(tmp_path, run_app_script):
    # 18 training photos (6 people less a held-out photo each) in whole batches of 9: one
    # traced training step. The int8 file only: tests/test_faces.py converts float32 and int8.
    flags = ("--people", "10", "--photos", "4", "--epochs", "1", "--batch-size", "9")
    flags += ("--tflite", "tflite_int8")
    stdout = run_app_script("faces", tmp_path, *flags, cache=True)
    auc = float(stdout.split("embedder: verification accuracy")[1].split("ROC AUC")[1].split()[0])
    assert 0.0 <= auc <= 1.0 and "eigenfaces: verification accuracy" in stdout
    assert "impostors rejected" in stdout
    assert (tmp_path / "out" / "faces" / "1" / "faces_int8.tflite").is_file()
