"""apps/translation.py end to end; one file per script so pytest-xdist spreads them."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
