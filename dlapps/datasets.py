"""Data helpers every app shares: TFDS loading with a clear error, a disk cache."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from dlapps.errors import UserError


def load_tfds_splits(name, splits, data_dir=None):
    """`tfds.load(name, split=splits, as_supervised=True, with_info=True)`, explained on failure.

    Returns:
        `(datasets, info)`, one `tf.data.Dataset` per split.

    Raises:
        UserError: the dataset is unknown, missing or cannot be downloaded.
    """
    import tensorflow_datasets as tfds

    try:
        return tfds.load(
            name, split=list(splits), as_supervised=True, with_info=True, data_dir=data_dir
        )
    except Exception as error:  # tfds raises many kinds: missing, offline, bad name
        raise UserError(
            f"could not load TFDS dataset '{name}': {str(error).splitlines()[0]} "
            "(without a network, prepare it first with `tfds build` and pass --tfds-data-dir)"
        ) from None


def default_cache_dir():
    """Where generated data is kept: `$DLAPPS_CACHE` or `~/.cache/dlapps`."""
    return Path(os.environ.get("DLAPPS_CACHE", Path.home() / ".cache" / "dlapps"))


def cached_arrays(prefix, parameters, build, cache_dir=None):
    """Arrays made by `build()` once per parameter set, kept as an .npz file.

    The file name holds a hash of `parameters` (JSON-serialisable), so
    changing any of them builds anew and nothing else does. The file is
    written under a temporary name and renamed, so it is whole or absent.

    Example:

    >>> arrays = cached_arrays("squares", {"n": 4}, lambda: {"x": np.arange(4) ** 2})
    >>> arrays["x"]
    array([0, 1, 4, 9])
    """
    key = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir or default_cache_dir()) / f"{prefix}-{key}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # One partial name per process: local workers may build the same file at once.
        partial = path.with_suffix(f".{os.getpid()}.partial.npz")
        np.savez(partial, **build())
        partial.replace(path)
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}
