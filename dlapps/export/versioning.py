"""Version directories that appear whole or not at all.

TensorFlow Serving watches a model's base path and loads every new numeric
directory it sees. So an export is written to a hidden staging directory
beside the versions and renamed into place only when it is complete; a
rename within one file system is atomic, and a failed export leaves no
numeric directory behind.
"""

import os
import shutil
import tempfile
from pathlib import Path


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
    """A new hidden directory beside the versions, on the same file system."""
    base_path = Path(base_path)
    base_path.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=base_path))


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
