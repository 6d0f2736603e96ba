"""Version directories that appear whole or not at all.

TensorFlow Serving watches a model's base path and loads every new numeric
directory it sees. So an export is written to a hidden staging directory
beside the versions and renamed into place only when it is complete; a
rename within one file system is atomic, and a failed export leaves no
numeric directory behind.
"""

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

STAGING_PREFIX = ".staging-"
# .staging-<host>-<pid>-<random>: who is writing it, so leftovers can be told apart.
_OWNED_STAGING = re.compile(r"^\.staging-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]+$")


def existing_versions(base_path):
    """The numeric version directories under `base_path`, sorted."""
    base_path = Path(base_path)
    if not base_path.is_dir():
        return []
    return sorted(int(p.name) for p in base_path.iterdir() if p.name.isdigit())


def next_version(base_path):
    """One more than the highest existing version, starting at 1."""
    versions = existing_versions(base_path)
    return versions[-1] + 1 if versions else 1


def make_staging_directory(base_path):
    """A new hidden directory beside the versions, on the same file system.

    Its name holds this host and process id, so that `clean_stale_staging`
    can tell a killed export's leftovers from an export still running.
    """
    base_path = Path(base_path)
    base_path.mkdir(parents=True, exist_ok=True)
    prefix = f"{STAGING_PREFIX}{socket.gethostname()}-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base_path))


def _process_is_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def clean_stale_staging(base_path):
    """Deals with staging directories that killed exports left under `base_path`.

    Directories of a process of this host that no longer runs are removed;
    those whose owner cannot be checked (another host, an older dlapps) are
    left alone. TF Serving ignores both, since their names are not numbers.

    Returns:
        `(removed, left)`: lists of paths.
    """
    base_path = Path(base_path)
    removed, left = [], []
    if not base_path.is_dir():
        return removed, left
    for path in sorted(base_path.glob(f"{STAGING_PREFIX}*")):
        match = _OWNED_STAGING.match(path.name)
        if (
            match
            and match["host"] == socket.gethostname()
            and not _process_is_alive(int(match["pid"]))
        ):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        elif not match or match["host"] != socket.gethostname():
            left.append(path)
    return removed, left


def publish(staging_path, base_path, before_rename=None):
    """Renames a complete staging directory to the next free version number.

    Never replaces an existing version: if another export takes the number
    first, the next one is tried.

    Args:
        staging_path: the finished directory, inside `base_path`.
        base_path: the model's base path, e.g. `saved_models/vision`.
        before_rename: optional `callable(version)` run just before the
            rename, e.g. to write the version number into a report.

    Returns:
        The path of the new version directory.
    """
    base_path = Path(base_path)
    for _ in range(100):
        version = next_version(base_path)
        if before_rename is not None:
            before_rename(version)
        target = base_path / str(version)
        try:
            # os.rename onto an existing non-empty directory fails: no overwrite.
            if target.exists():
                continue
            os.rename(staging_path, target)
            return target
        except OSError:
            if not Path(staging_path).exists():
                raise
    raise RuntimeError(f"could not find a free version number under {base_path}")


def discard(staging_path):
    """Removes an unfinished staging directory."""
    shutil.rmtree(staging_path, ignore_errors=True)
