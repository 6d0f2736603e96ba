import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_vision_script_trains_evaluates_and_exports(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "apps" / "vision.py"),
            "--epochs",
            "2",
            "--output",
            str(tmp_path / "out"),
            "--workdir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(result.stdout.split("test accuracy:")[1].split()[0])
    assert accuracy > 0.5
    assert (tmp_path / "out" / "vision" / "1" / "vision_int8.tflite").is_file()


def test_gan_script_trains_scores_and_exports(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "apps" / "gan.py"),
            "--epochs",
            "1",
            "--classifier-epochs",
            "1",
            "--output",
            str(tmp_path / "out"),
            "--workdir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fid_floor" in result.stdout
    assert (tmp_path / "out" / "gan" / "1" / "gan_float32.tflite").is_file()
    assert (tmp_path / "runs" / "samples.png").is_file()


def test_speech_script_trains_evaluates_and_exports(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "apps" / "speech.py"),
            "--clips-per-class",
            "8",
            "--epochs",
            "1",
            "--output",
            str(tmp_path / "out"),
            "--workdir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DLAPPS_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "at 10 dB SNR" in result.stdout and "speech_kws v1" in result.stdout
    assert (tmp_path / "out" / "speech_kws" / "1" / "speech_kws_int8.tflite").is_file()


def test_speech_to_text_script_trains_decodes_and_exports(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "apps" / "speech_to_text.py"),
            "--sentences",
            "12",
            "--epochs",
            "1",
            "--rnn-units",
            "8",
            "--output",
            str(tmp_path / "out"),
            "--workdir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DLAPPS_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    wer = float(result.stdout.split("test WER:")[1].split(",")[0])
    version = tmp_path / "out" / "speech_stt" / "1"
    assert (version / "saved_model.pb").is_file()
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["wer"] - wer) < 1e-4


def test_translation_script_trains_translates_and_exports(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "apps" / "translation.py"),
            "--data",
            "dates",
            "--pairs",
            "200",
            "--epochs",
            "1",
            "--output",
            str(tmp_path / "out"),
            "--workdir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bleu = float(result.stdout.split("test BLEU:")[1].split(",")[0])
    version = tmp_path / "out" / "translation" / "1"
    assert (version / "target_vocabulary.txt").is_file()
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["bleu"] - bleu) < 0.01
