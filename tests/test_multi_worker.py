"""Multi-worker training on one machine: `dlapps launch`, equal weights, resume after a kill."""

import json
import os
import re
import signal
import socket
import sys
import time

import h5py
import numpy as np
import pytest

from dlapps import keras_patches, launch
from dlapps.errors import UserError


def test_the_keras_patches_are_needed_by_this_keras():
    # If this fails, Keras fixed issue 20585: drop dlapps/keras_patches.py.
    assert keras_patches.needed()


def test_tf_config_names_every_worker_and_this_task():
    config = launch.tf_config([1111, 2222], 1)
    assert config == (
        '{"cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]}, '
        '"task": {"type": "worker", "index": 1}}'
    )
    ports = launch.free_ports(3)
    assert len(set(ports)) == 3


def weights(path):
    arrays = []
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                arrays.append((name, item[()])) if isinstance(item, h5py.Dataset) else None
            )
        )
    return dict(arrays)


class KillWorkerOne:
    """Launch output that kills worker 1 when it starts epoch 3, like a lost machine."""

    def __init__(self):
        self.lines, self.pids, self.killed = [], {}, False

    def write(self, text):
        self.lines.append(text)
        if text.startswith("[launch] worker"):
            index, pid = text.split()[2].rstrip(":"), int(text.split()[4].rstrip(","))
            self.pids[index] = pid
        if not self.killed and text.startswith("[worker 1]") and "Epoch 3/" in text:
            os.kill(self.pids["1"], signal.SIGKILL)
            self.killed = True

    def flush(self):
        pass


def test_two_workers_survive_a_killed_worker_and_end_with_equal_weights(tmp_path):
    # Few, large steps without augmentation: start-up and the first epoch's
    # tracing dominate each launch, so only the epochs that matter are run.
    train = [
        "vision",
        "--epochs",
        "4",
        "--batch-size",
        "128",
        "--no-augment",
        "--patience",
        "0",
        "--tflite",  # the SavedModel only: this test is about the workers, not the files
        "--output",
        str(tmp_path / "out"),
        "--workdir",
        str(tmp_path / "runs"),
    ]
    killer = KillWorkerOne()
    with pytest.raises(UserError, match="worker 1 exited with status -9; every worker was stopped"):
        launch.launch(train, workers=2, timeout=150, output=killer)
    assert killer.killed
    assert not (tmp_path / "out" / "vision").exists()  # nothing half-exported

    class Lines(list):
        def write(self, text):
            self.append(text)

        def flush(self):
            pass

    relaunched = Lines()
    assert launch.launch(train, workers=2, timeout=150, output=relaunched) == 0
    epochs = [
        match.group(1)
        for line in relaunched
        if line.startswith("[worker 0]") and (match := re.search(r"Epoch (\d+/\d+)", line))
    ]
    # Resumed from the backup of epoch 2 (or later), not from epoch 1.
    assert epochs[0] in ("3/4", "4/4"), epochs
    first = weights(tmp_path / "runs" / "vision" / "worker_0" / "final.weights.h5")
    second = weights(tmp_path / "runs" / "vision" / "worker_1" / "final.weights.h5")
    assert first.keys() == second.keys() and first
    assert max(np.max(np.abs(first[k] - second[k])) for k in first) == 0.0
    assert sorted(p.name for p in (tmp_path / "out" / "vision").iterdir()) == ["1"]
    report = json.loads((tmp_path / "out" / "vision" / "1" / "report.json").read_text())
    assert [e["format"] for e in report["exports"]] == ["saved_model"]
    assert not list((tmp_path / "out" / "vision" / "1").glob("*.tflite"))


def test_a_taken_port_stops_every_worker_with_a_clear_error(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        start = time.monotonic()
        with pytest.raises(UserError, match="multi-worker training failed: worker"):
            launch.launch(
                ["vision", "--epochs", "1", "--workdir", str(tmp_path)],
                workers=2,
                timeout=90,
                ports=[taken.getsockname()[1], launch.free_ports(1)[0]],
                output=sys.stderr,
            )
        assert time.monotonic() - start < 90
    finally:
        taken.close()
