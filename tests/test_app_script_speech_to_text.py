"""apps/speech_to_text.py end to end; one file per script so pytest-xdist spreads them."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
            "--rnn-layers",
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
    wer = float(result.stdout.split("test WER:")[1].split(",")[0])
    version = tmp_path / "out" / "speech_stt" / "1"
    assert (version / "saved_model.pb").is_file()
    report = json.loads((version / "report.json").read_text())
    assert abs(report["metrics"]["wer"] - wer) < 1e-4
