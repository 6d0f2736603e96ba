"""apps/speech.py end to end; one file per script so pytest-xdist spreads them."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
