"""An exported face embedder (SavedModel or .tflite) with the facts enrolment needs."""

import hashlib
import json
from pathlib import Path

import numpy as np

from dlapps.errors import UserError
from dlapps.export import TFLiteModel, load_saved_model
from dlapps.export.tflite import is_tflite
from dlapps.vision.data import decode_image_file
from dlapps.vision.image_preprocessor import resize_images

MODEL_FILE = "faces.json"


def weights_fingerprint(model):
    """A short hash of a model's weights: what a gallery is tied to.

    Example:

    >>> weights_fingerprint(embedder)
    '3f9c0a1b2c3d4e5f'
    """
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight, np.float32).tobytes())
    return digest.hexdigest()[:16]


class ExportedEmbedder:
    """Embeds image files with an exported faces model, as every faces command does.

    Reads `faces.json` beside the model (the weights' fingerprint, the
    verification threshold chosen on validation people, the input size).

    Args:
        model_path: a version directory (SavedModel) or a `.tflite` file in one.

    Example:

    >>> embedder = ExportedEmbedder("saved_models/faces/1")
    >>> embedder.embed_files(["a.jpg", "b.jpg"]).shape
    (2, 128)
    """

    def __init__(self, model_path):
        self.path = Path(model_path)
        directory = self.path if self.path.is_dir() else self.path.parent
        facts_path = directory / MODEL_FILE
        if not facts_path.is_file():
            raise UserError(
                f"{model_path} is not an exported faces model (no {MODEL_FILE} beside it): "
                "pass saved_models/faces/VERSION or a .tflite file in one"
            )
        facts = json.loads(facts_path.read_text(encoding="utf-8"))
        self.fingerprint = facts["fingerprint"]
        self.threshold = float(facts["threshold"])
        self.image_size = tuple(facts["image_size"])
        # The face detector the model was trained with (whole photos), if any.
        self.detector = facts.get("detector")
        self.version = directory.name
        if is_tflite(self.path):
            model = TFLiteModel(self.path)
            self._run = lambda images: model({"images": images})["embeddings"]
        else:
            signature = load_saved_model(self.path).signatures["serving_default"]
            self._run = lambda images: signature(images=images)["embeddings"].numpy()

    def embed(self, images):
        """Embeddings of a list of uint8 `(height, width, 3)` arrays of any sizes."""
        if not images:
            return np.zeros((0, 0), np.float32)
        # The in-graph resize, rounded to uint8, as the SavedModel does itself.
        batch = np.stack(
            [np.round(resize_images(i[None], self.image_size)[0].numpy()) for i in images]
        )
        outputs = [self._run(batch[s : s + 64].astype(np.uint8)) for s in range(0, len(batch), 64)]
        return np.concatenate(outputs).astype(np.float32)

    def embed_files(self, paths, cropper=None):
        """Embeddings of image files (a bad file is a one-line `UserError` naming it).

        With a `FaceCropper`, each photo is cropped to its face first.
        """
        images = [decode_image_file(path, channels=3) for path in paths]
        if cropper is not None:
            images = cropper.crop_files(paths, images)
        return self.embed(images)
