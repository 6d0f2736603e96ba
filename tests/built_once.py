"""Session fixtures built once per test run, however many pytest-xdist workers need them.

Each xdist worker is its own pytest session, so a session fixture that
trains a model (conftest's `trained_vision`) would be trained again by every
worker that runs a file using it. `built_once` gives the workers one shared
folder under the run's temporary root and a lock around it: the first
worker builds and saves, the others wait and load what it saved.
"""

import contextlib
import fcntl
import os
import shutil


@contextlib.contextmanager
def built_once(tmp_path_factory, name):
    """Yields `(folder, built)`: `built` says whether another worker already built `name` there.

    Without xdist, a fresh folder and `built=False`. The block runs under
    a lock; it is marked built only when it ends without an exception.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield tmp_path_factory.mktemp(name), False
        return
    root = tmp_path_factory.getbasetemp().parent  # this run's root, shared by its workers
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = done.is_file()
        if not built:
            shutil.rmtree(folder, ignore_errors=True)  # a failed build's leftovers
            folder.mkdir()
        yield folder, built
        done.touch()
