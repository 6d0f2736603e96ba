"""apps/vision.py end to end; one file per script so pytest-xdist spreads them."""

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
