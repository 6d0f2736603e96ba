"""apps/gan.py end to end; one file per script so pytest-xdist spreads them."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
