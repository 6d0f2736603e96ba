"""An enrolled gallery: one template embedding per person, saved as `.npz` and checked on load."""

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from dlapps.errors import UserError

FORMAT_VERSION = 1


def templates(embeddings, people):
    """One unit-length template per person: the normalised mean of their photos' embeddings.

    Returns:
        `(person ids in sorted order, templates (people, dim))`.
    """
    ids = np.unique(people)
    means = np.stack([embeddings[people == i].mean(axis=0) for i in ids])
    return ids, means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


@dataclasses.dataclass
class Gallery:
    """Enrolled people for one embedder: names, templates, the decision threshold, the model.

    A gallery only means something for the model that made its embeddings:
    another model (even another training run of the same network) puts
    people elsewhere. `model_fingerprint` (a hash of the embedder's weights)
    is therefore stored and checked against the model that loads it.

    Attributes:
        names: person names, one per template.
        embeddings: float32 `(people, dim)` unit-length templates.
        threshold: cosine similarity at or above which a face is that person.
        model_fingerprint: the embedder's weight hash.
        model_version: the export version it was made with (for messages).

    Example:

    >>> gallery = Gallery(["ada", "bo"], np.eye(2, 128), 0.4, "abc123", "1")
    >>> gallery.save("team.npz")
    >>> Gallery.load("team.npz", expected_fingerprint="abc123").names
    ['ada', 'bo']
    """

    names: list
    embeddings: np.ndarray
    threshold: float
    model_fingerprint: str
    model_version: str

    def save(self, path, overwrite=False):
        """Writes the gallery; an existing file is an error unless `overwrite`."""
        path = Path(path)
        if path.suffix != ".npz":
            raise UserError(f"gallery file {path} must end in .npz")
        if path.exists() and not overwrite:
            raise UserError(f"{path} already exists: choose another --out or pass --force")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial.npz")
        np.savez(
            partial,
            names=np.asarray(self.names, dtype=str),
            embeddings=np.asarray(self.embeddings, np.float32),
            threshold=np.float32(self.threshold),
            model_fingerprint=np.asarray(self.model_fingerprint),
            model_version=np.asarray(self.model_version),
            format_version=np.int32(FORMAT_VERSION),
        )
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path, expected_fingerprint=None, expected_version=None):
        """Reads a gallery; raises `UserError` if it is unreadable or made with another model."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"gallery {path} does not exist: make one with dlapps enroll")
        try:
            with np.load(path, allow_pickle=False) as stored:
                gallery = cls(
                    names=[str(n) for n in stored["names"]],
                    embeddings=stored["embeddings"].astype(np.float32),
                    threshold=float(stored["threshold"]),
                    model_fingerprint=str(stored["model_fingerprint"]),
                    model_version=str(stored["model_version"]),
                )
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise UserError(
                f"{path} is not a dlapps face gallery ({error}): make one with dlapps enroll"
            ) from None
        if expected_fingerprint is not None and gallery.model_fingerprint != expected_fingerprint:
            raise UserError(
                f"gallery {path} was enrolled with another model (version "
                f"{gallery.model_version}, not this version {expected_version}): enrol the "
                "people again with this model (dlapps enroll MODEL FOLDER --out NEW.npz)"
            )
        return gallery

    def match(self, embeddings):
        """Best person for each embedding: `(indices, similarities, known)`."""
        similarities = np.asarray(embeddings, np.float32) @ self.embeddings.T
        best = np.argmax(similarities, axis=1)
        best_similarity = similarities[np.arange(len(best)), best]
        return best, best_similarity, best_similarity >= self.threshold
