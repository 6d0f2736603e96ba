"""A run resumes only itself: fingerprints, finished runs, evaluation on the run's own split."""

import json
import os
import socket
from pathlib import Path

import keras
import pytest

from dlapps import cli, runs, training
from dlapps.errors import UserError
from dlapps.export import versioning
from dlapps.vision.vision_app import VisionApp


class _Interrupted(VisionApp):
    """The vision app, killed (Ctrl-C) at the end of its second epoch."""

    def extra_callbacks(self, config, data, workdir):
        class Interrupt(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1:
                    raise KeyboardInterrupt

        return [Interrupt()]


def _config(workdir, **fields):
    return training.TrainConfig(
        app="vision", workdir=str(workdir), export=False, verbose=0, **{"epochs": 4, **fields}
    )


def _interrupted_run(workdir):
    with pytest.raises(KeyboardInterrupt):
        training.run(_Interrupted(), _config(workdir))
    return workdir / "vision"


def _train(capsys, workdir, *flags):
    status = cli.main(["train", "vision", "--epochs", "4", "--workdir", str(workdir), *flags])
    return status, capsys.readouterr().err


def test_an_unfinished_run_resumes_only_an_identical_run(tmp_path, capsys):
    run_dir = _interrupted_run(tmp_path)
    assert (run_dir / "backup").is_dir()
    assert json.loads((run_dir / "run.json").read_text())["seed"] == 0

    # Refused after loading the data, before any training, in one line.
    status, err = _train(capsys, tmp_path, "--seed", "1")
    assert status == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "seed 0 -> 1" in errors[0] and "--restart" in errors[0]
    status, err = _train(capsys, tmp_path, "--backbone", "mobilenet_v2")
    assert status == 1 and "--backbone None -> mobilenet_v2" in err

    # The same run resumes after its two finished epochs and, once finished, leaves no backup.
    result = training.run(VisionApp(), _config(tmp_path))
    assert result.report["training"]["epochs"] == 2
    assert result.report["training"]["epochs_completed"] == 4
    assert not (run_dir / "backup").exists()
    # Nothing to resume: another seed simply starts afresh.
    other = {**result.report["run"], "seed": 1}
    assert runs.prepare_run_directory(run_dir, other) is False
    assert json.loads((run_dir / "run.json").read_text())["seed"] == 1


def test_restart_discards_a_different_unfinished_run(tmp_path):
    assert runs.prepare_run_directory(tmp_path, {"app": "vision", "seed": 0}) is False
    (tmp_path / "backup").mkdir()  # then interrupted
    (tmp_path / "best.keras").write_bytes(b"an old run's model")
    (tmp_path / "best_generator.keras").write_bytes(b"an old run's generator")
    assert runs.prepare_run_directory(tmp_path, {"app": "vision", "seed": 0}) is True
    with pytest.raises(UserError, match="seed 0 -> 2"):
        runs.prepare_run_directory(tmp_path, {"app": "vision", "seed": 2})
    assert runs.prepare_run_directory(tmp_path, {"app": "vision", "seed": 2}, restart=True) is False
    assert json.loads((tmp_path / "run.json").read_text())["seed"] == 2
    assert not (tmp_path / "backup").exists() and not list(tmp_path.glob("best*.keras"))


def test_fingerprint_holds_every_option_and_each_split_content(digits):
    application = VisionApp()
    config = training.TrainConfig(app="vision", data="digits", options={"cache_dir": "/x"})
    fingerprint = runs.run_fingerprint(application, config, digits)
    assert fingerprint["options"]["fine_tune_blocks"] == 4  # defaults filled in
    assert "cache_dir" not in fingerprint["options"]  # a location, not the run
    assert set(fingerprint["splits"]) == {"train", "validation", "test", "labels"}
    other = runs.run_fingerprint(
        application,
        config,
        type(digits)(
            digits.train,
            digits.validation,
            (digits.test[0][::-1], digits.test[1][::-1]),
            digits.labels,
            digits.source,
        ),
    )
    assert runs.differences(fingerprint, other) == ["the data's content (test changed)"]


def test_evaluate_reads_the_runs_split_and_refuses_another(trained_vision, capsys):
    best = str(Path(trained_vision.report["path"]).parents[2] / "runs" / "vision" / "best.keras")
    status = cli.main(["evaluate", "vision", best, "--seed", "3"])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert "trained on other data (seed 0, not --seed 3)" in err
    status = cli.main(["evaluate", "vision", best])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "accuracy:" in out


def test_evaluate_refuses_a_folder_whose_content_changed(tmp_path, capsys):
    from PIL import Image

    for name, grey in (("dark", 40), ("light", 200)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(8):
            Image.new("L", (12, 12), grey + index).save(tmp_path / "photos" / name / f"{index}.png")
    options = {"image_size": (12, 12), "backbone": "small_cnn"}  # not the transfer default
    photos = str(tmp_path / "photos")
    training.run(VisionApp(), _config(tmp_path, data=photos, epochs=1, options=options))
    Image.new("L", (12, 12), 99).save(tmp_path / "photos" / "dark" / "new.png")
    status = cli.main(["evaluate", "vision", str(tmp_path / "vision" / "best.keras")])
    err = capsys.readouterr().err
    assert status == 1 and "the data's content" in err


def test_prepare_run_directory_explains_a_run_without_fingerprint(tmp_path):
    (tmp_path / "backup").mkdir()
    with pytest.raises(UserError, match="older dlapps with no run.json.*--restart"):
        runs.prepare_run_directory(tmp_path, {"app": "vision"})


def test_next_export_removes_a_killed_exports_staging_directory(tmp_path):
    host = socket.gethostname()
    dead = tmp_path / f".staging-{host}-99999999-abcd1234"
    alive = tmp_path / f".staging-{host}-{os.getpid()}-abcd1234"
    foreign = tmp_path / ".staging-x1y2z3"
    for path in (dead, alive, foreign):
        path.mkdir()
    removed, left = versioning.clean_stale_staging(tmp_path)
    assert removed == [dead] and left == [foreign]
    assert alive.is_dir() and not dead.exists()


def test_make_clean_keeps_checkpoints_and_backups(tmp_path):
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "Makefile", tmp_path / "Makefile")
    for folder in ("runs/vision/backup", ".venv", ".pytest_cache"):
        (tmp_path / folder).mkdir(parents=True)
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "runs" / "vision" / "backup").is_dir()
    assert not (tmp_path / ".venv").exists() and not (tmp_path / ".pytest_cache").exists()
