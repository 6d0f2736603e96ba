"""Shared fixtures: data made once per session, one small trained-and-exported model."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests check that every export is timed, not how fast: a short latency loop
# at batch 1 only (dlapps.export.benchmark), here and in every subprocess a
# test starts.
os.environ.setdefault("DLAPPS_LATENCY_SECONDS", "0.05")
os.environ.setdefault("DLAPPS_LATENCY_BATCHES", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    from dlapps import vision

    return vision.load_digits()


@pytest.fixture(scope="session")
def shapes_folder(tmp_path_factory):
    """A folder of drawn shapes in four classes, mixed sizes and formats."""
    from dlapps.vision.shapes import write_shapes_folder

    return write_shapes_folder(tmp_path_factory.mktemp("shapes"), images_per_class=60)


@pytest.fixture(scope="session")
def trained_vision(tmp_path_factory):
    """The vision app trained 3 epochs on digits through the driver, and exported.

    Returns the driver's `TrainResult`; `result.report["path"]` is the
    version directory. Trained once per test run: other xdist workers load
    the saved model and report (tests/built_once.py).
    """
    import json

    from built_once import built_once

    from dlapps import report, training
    from dlapps.application import get_application

    app = get_application("vision")
    with built_once(tmp_path_factory, "trained_vision") as (root, built):
        config = training.TrainConfig(
            app="vision",
            epochs=3,
            output=str(root / "saved_models"),
            workdir=str(root / "runs"),
            verbose=0,
        )
        saved = root / "result.json"
        if built:
            kept = json.loads(saved.read_text(encoding="utf-8"))
            data = app.load_data(config.with_defaults(app.training_defaults(config)))
            model = app.load_model(root / "model.keras")
            history, metrics = kept["history"], kept["metrics"]
            return training.TrainResult(model, data, history, metrics, kept["report"])
        result = training.run(app, config)
        result.model.save(root / "model.keras")
        kept = {"history": result.history, "metrics": result.metrics, "report": result.report}
        report.write_json(kept, saved)
        return result


def load_serving_client():
    """export/serving/client.py as a module (it is a script, not part of the package)."""
    from scripts import ROOT, load_script

    return load_script("serving_client", ROOT / "export" / "serving" / "client.py")


def call_like_tf_serving(saved_model_path, body):
    """Feeds a REST `:predict` body to a SavedModel signature the way TF Serving does.

    Row bodies (`instances`) are stacked per input name, columnar ones
    (`inputs`) taken as they are, and `{"b64": ...}` objects decoded to
    bytes. The body must name exactly the signature's inputs.
    """
    import base64
    import json

    import tensorflow as tf

    body = json.loads(json.dumps(body))  # only what survives JSON
    signature = tf.saved_model.load(saved_model_path).signatures[body["signature_name"]]
    specs = signature.structured_input_signature[1]
    if "instances" in body:
        columns = {name: [row[name] for row in body["instances"]] for name in body["instances"][0]}
    else:
        columns = body["inputs"]
    assert set(columns) == set(specs), f"body inputs {set(columns)} != signature {set(specs)}"

    def decode(value):
        if isinstance(value, dict):
            return base64.b64decode(value["b64"])
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    inputs = {
        name: tf.constant(decode(value), specs[name].dtype) for name, value in columns.items()
    }
    return {name: tensor.numpy() for name, tensor in signature(**inputs).items()}


@pytest.fixture(scope="session")
def serving_client():
    return load_serving_client()


@pytest.fixture(scope="session")
def tf_serving():
    return call_like_tf_serving


# The slowest files first (seconds measured with three workers on two cores), so that
# `pytest -n 3 --dist loadfile --no-loadscope-reorder` (what `make test`
# runs) hands them out first and the short files even out the end: a file is
# the unit of work, and a long file started last would finish alone.
SLOWEST_FIRST = (
    "test_faces.py",  # ~120 s
    "test_training.py",  # ~110 s
    "test_speech_stt.py",  # ~110 s
    "test_translation.py",  # ~105 s
    "test_detection.py",  # ~100 s
    "test_guide.py",  # ~95 s
    "test_multi_worker.py",  # ~85 s
    "test_speech_kws.py",  # ~75 s
    "test_app_script_translation.py",  # ~70 s
    "test_gan.py",  # ~70 s
    "test_summarization.py",  # ~70 s
    "test_app_script_speech_to_text.py",  # ~65 s
    "test_vision_transfer.py",  # ~50 s
    "test_app_script_faces.py",  # ~50 s
    "test_app_script_summarization.py",  # ~40 s
    "test_runs.py",  # ~40 s
    "test_app_script_speech.py",  # ~40 s
    "test_app_script_gan.py",  # ~35 s
    "test_cli.py",  # ~35 s
    "test_app_script_vision.py",  # ~35 s
    "test_game.py",  # ~25 s
    "test_export.py",  # ~25 s
    "test_app_script_game.py",  # ~20 s
)


def pytest_collection_modifyitems(items):
    """Runs the files in SLOWEST_FIRST order, then the rest; order within a file is kept."""

    def rank(item):
        name = item.path.name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable


@pytest.fixture
def run_app_script():
    """`run(script, tmp_path, *flags, cache=False)`: runs `apps/<script>.py`, returns stdout.

    Exports go to `tmp_path/out`, checkpoints to `tmp_path/runs`; `cache`
    gives the run its own `DLAPPS_CACHE`. Fails the test with the end of
    stderr when the script exits non-zero.
    """
    return _run_app_script


def _run_app_script(script, tmp_path, *flags, cache=False):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DLAPPS_CACHE": str(tmp_path / "cache")} if cache else None
    result = subprocess.run(
        [sys.executable, str(repo / "apps" / f"{script}.py"), *flags]
        + ["--output", str(tmp_path / "out"), "--workdir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
