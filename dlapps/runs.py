"""What defines a training run, kept beside its backup and checkpoints.

A run directory (`runs/<app>`) holds a resume backup and `best.keras`. Both
are only meaningful for the run that wrote them, so the driver stores the
run's fingerprint there as `run.json`:

- `app`, `data` (the `--data` value), `seed`, `optimizer`;
- `options`: the application's own settings, every flag at its value or
  default, apart from locations such as `--cache-dir`;
- `splits`: a SHA-256 of each split's content, so a folder whose files
  changed, or another seed's split, is a different run.

An unfinished run resumes only when the new run's fingerprint is identical;
otherwise one line says what differs and that `--restart` starts over. A
finished run (evaluated and exported) leaves no backup. `dlapps evaluate`
and `dlapps export` read `run.json` beside the `.keras` file to rebuild the
same split, and refuse data that no longer gives it.

Example:

>>> fingerprint = run_fingerprint(application, config, data)  # doctest: +SKIP
>>> prepare_run_directory("runs/vision", fingerprint, restart=False)  # doctest: +SKIP
"""

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from dlapps.errors import UserError

FINGERPRINT_FILE = "run.json"
SPLITS = ("train", "validation", "test")


def _update_hash(digest, value):
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for key in sorted(value):
            digest.update(str(key).encode())
            _update_hash(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(f"[{len(value)}".encode())
        for item in value:
            _update_hash(digest, item)
    elif isinstance(value, bytes):
        digest.update(value)
    else:
        digest.update(repr(value).encode())


def split_signatures(data):
    """`{split: sha256 hex prefix}` of the train, validation and test splits' contents.

    Reads `data.train`, `data.validation` and `data.test` (arrays, lists of
    strings or tuples of them), or those of `data.pairs` (translation).
    """
    holder = data if hasattr(data, "test") else getattr(data, "pairs", data)
    signatures = {}
    for split in SPLITS:
        if not hasattr(holder, split):
            continue
        digest = hashlib.sha256()
        _update_hash(digest, getattr(holder, split))
        signatures[split] = digest.hexdigest()[:16]
    labels = getattr(data, "labels", None)
    if labels is not None:
        signatures["labels"] = hashlib.sha256(json.dumps(list(labels)).encode()).hexdigest()[:16]
    return signatures


def option_defaults(application):
    """The application's flags at their defaults, as `TrainConfig.options` keys."""
    parser = argparse.ArgumentParser(add_help=False)
    application.add_arguments(parser)
    return vars(parser.parse_args([]))


def run_fingerprint(application, config, data):
    """The JSON-able description of a run that decides whether it may resume."""
    options = {**option_defaults(application), **config.options}
    ignored = set(getattr(application, "options_outside_fingerprint", ()))
    options = {
        key: value
        for key, value in sorted(options.items())
        if not key.endswith("_dir") and key not in ignored
    }
    fingerprint = {
        "app": application.name,
        "data": config.data,
        "seed": config.seed,
        "optimizer": config.optimizer,
        "options": options,
        "splits": split_signatures(data),
    }
    return json.loads(json.dumps(fingerprint))  # as it reads back from run.json


def differences(stored, current):
    """What differs between two fingerprints, e.g. `["seed 0 -> 1", "--gan a -> b"]`."""
    changes = []
    for key in ("app", "data", "seed", "optimizer"):
        if stored.get(key) != current.get(key):
            changes.append(f"{key} {stored.get(key)} -> {current.get(key)}")
    stored_options, options = stored.get("options", {}), current.get("options", {})
    for key in sorted(set(stored_options) | set(options)):
        if stored_options.get(key) != options.get(key):
            flag = "--" + key.replace("_", "-")
            changes.append(f"{flag} {stored_options.get(key)} -> {options.get(key)}")
    if not changes and stored.get("splits") != current.get("splits"):
        changed = [
            split
            for split in sorted(set(stored.get("splits", {})) | set(current.get("splits", {})))
            if stored.get("splits", {}).get(split) != current.get("splits", {}).get(split)
        ]
        changes.append(f"the data's content ({', '.join(changed)} changed)")
    return changes


def read_fingerprint(directory):
    """The fingerprint stored in `directory`, or None."""
    path = Path(directory) / FINGERPRINT_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def prepare_run_directory(workdir, fingerprint, restart=False):
    """Makes `workdir` ready for the run `fingerprint`: resume it, or start afresh.

    An unfinished run (a `backup/` directory) with the same fingerprint is
    kept, so training resumes. With `restart`, or when no run is unfinished,
    the backup and the best checkpoints (`best*.keras`) go and `run.json`
    describes the new run.

    Returns:
        True when the run resumes.

    Raises:
        UserError: an unfinished, different run is there and `restart` is False.
    """
    workdir = Path(workdir)
    backup = workdir / "backup"
    if backup.exists() and not restart:
        stored = read_fingerprint(workdir)
        if stored == fingerprint:
            return True
        what = (
            "; ".join(differences(stored, fingerprint))
            if stored
            else "a run of an older dlapps with no run.json"
        )
        raise UserError(
            f"{workdir} holds an unfinished run that differs from this one ({what}): "
            "pass --restart to start over, or --workdir to keep both"
        )
    shutil.rmtree(backup, ignore_errors=True)
    for checkpoint in workdir.glob("best*.keras"):  # best.keras, the GAN's best_generator.keras
        checkpoint.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / FINGERPRINT_FILE).write_text(
        json.dumps(fingerprint, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return False


def finish_run(workdir):
    """Removes the resume backup of a run that finished: nothing is left to resume."""
    shutil.rmtree(Path(workdir) / "backup", ignore_errors=True)


def check_same_run(stored, current, model_path):
    """Raises UserError when `current` would evaluate `model_path` on another split."""
    changes = differences(stored, current)
    if changes:
        raise UserError(
            f"{model_path} was trained on another split than this data gives "
            f"({'; '.join(changes)}): evaluate it with the run's own data and seed "
            f"(see {Path(model_path).parent / FINGERPRINT_FILE})"
        )
