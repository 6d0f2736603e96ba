"""docs/guide.md: every Python block runs, every figure exists, every quoted table is current."""

import contextlib
import importlib.util
import io
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide.md"


def python_blocks(markdown):
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


def load_benchmark_script():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_python_block_in_the_guide_runs(tmp_path, monkeypatch):
    blocks = python_blocks(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)  # the blocks write saved_models/ and runs/ here
    namespace = {"__name__": "guide"}
    output = io.StringIO()
    for number, block in enumerate(blocks, 1):
        with contextlib.redirect_stdout(output):
            try:
                exec(compile(block, f"guide.md block {number}", "exec"), namespace)
            except Exception as error:
                pytest.fail(f"guide.md Python block {number} failed: {error!r}\n{block}")
    printed = output.getvalue()
    # What the text around the blocks says they print.
    assert "['hello']" in printed
    assert "['kat']\n['cat']" in printed  # the language model fixes the spelling
    assert "positions 0-5 unchanged: True" in printed
    assert "positions 6-11 changed:  True" in printed
    assert "eight generated 7s: (8, 16, 16, 1) uint8" in printed
    assert re.search(r"int8 file agrees with the SavedModel on (9\d|100)%", printed)


def test_guide_figures_and_links_exist():
    text = GUIDE.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert any(t.endswith(".png") for t in targets)
    for target in targets:
        if "://" not in target:
            assert (GUIDE.parent / target).exists(), f"guide.md links to missing {target}"


@pytest.mark.parametrize("document", ["README.md", "docs/guide.md"])
def test_quoted_benchmark_table_matches_results_json(document):
    bench = load_benchmark_script()
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))
    text = (ROOT / document).read_text(encoding="utf-8")
    start, end = text.index(bench.MARKER_START), text.index(bench.MARKER_END)
    quoted = text[start : end + len(bench.MARKER_END)]
    expected = bench.marked_section(results)
    if document.startswith("docs/"):
        expected = expected.replace("](benchmarks/", "](../benchmarks/")
    assert quoted == expected, f"{document} is stale: run make bench (or benchmarks/run.py)"
