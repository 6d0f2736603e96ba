"""benchmarks/run.py's shared machinery: where results go and what they record."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_to_a_scratch_folder_never_the_committed_results(bench, tmp_path):
    scratch = bench.output_folder(quick=True)
    assert scratch.is_dir() and ROOT not in scratch.parents
    scratch.rmdir()
    assert bench.output_folder(str(tmp_path), quick=True) == tmp_path
    for committed in (ROOT / "benchmarks", ROOT / "benchmarks" / "full"):
        with pytest.raises(SystemExit, match="--quick numbers are meaningless"):
            bench.output_folder(str(committed), quick=True)
    assert bench.output_folder() == ROOT / "benchmarks"
    assert bench.output_folder(full=True) == ROOT / "benchmarks" / "full"


def test_each_app_records_the_commit_and_whether_the_tree_was_dirty(bench):
    state = bench.source_state()
    assert re.fullmatch("[0-9a-f]{40}", state["commit"])
    assert isinstance(state["dirty"], bool)
