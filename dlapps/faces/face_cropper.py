"""Crops the face out of whole photos with a face detector exported by the detection app."""

from pathlib import Path

import numpy as np

from dlapps.errors import UserError

DETECTOR_OUTPUTS = ("boxes", "scores", "num_detections")
MARGIN = 0.2


class FaceCropper:
    """Finds the face in a whole photo and cuts a square crop around it.

    The detector is a SavedModel from `dlapps train detection` on photos
    with one class (faces): its `serving_default` takes uint8 images of any
    size and returns `boxes` (ymin, xmin, ymax, xmax in the input's pixels),
    `scores` and `num_detections`. The highest-scoring box is widened by
    `margin` of its size on every side (the embedder was trained on faces
    with some hair and background around them) and made square, so the
    resize to the embedder's input does not stretch the face.

    Args:
        detector: a detection version directory (`saved_models/detection/V`).
        margin: extra context on each side, as a fraction of the box side.
        min_score: a box scoring less than this is not a face (the
            detector's own score threshold already applies).

    Example:

    >>> cropper = FaceCropper("saved_models/detection/1")
    >>> cropper.crop(photo, "door.jpg").shape
    (212, 212, 3)
    """

    def __init__(self, detector, margin=MARGIN, min_score=0.0):
        from dlapps.export import load_saved_model

        self.detector = str(detector)
        self.margin = float(margin)
        self.min_score = float(min_score)
        if not (Path(detector) / "saved_model.pb").is_file():
            raise UserError(
                f"--detector {detector}: not an exported model (no saved_model.pb): "
                "pass saved_models/detection/VERSION from dlapps train detection"
            )
        signatures = load_saved_model(detector).signatures
        signature = signatures.get("serving_default")
        outputs = set(signature.structured_outputs) if signature is not None else set()
        if not set(DETECTOR_OUTPUTS) <= outputs:
            raise UserError(
                f"--detector {detector}: its serving_default has no {', '.join(DETECTOR_OUTPUTS)}"
                " outputs: pass a model exported by dlapps train detection"
            )
        self._detect = signature

    def box(self, image):
        """`(ymin, xmin, ymax, xmax)` of the best face in pixels, and its score; None if none."""
        found = self._detect(images=np.asarray(image, np.uint8)[None])
        count = int(found["num_detections"].numpy()[0])
        scores = found["scores"].numpy()[0, :count]
        if count == 0 or scores.max() < self.min_score:
            return None, None
        best = int(np.argmax(scores))
        return found["boxes"].numpy()[0, best], float(scores[best])

    def crop(self, image, name):
        """The square face crop of one uint8 `(height, width, 3)` photo.

        Raises:
            UserError: the detector found no face in it (the message names `name`).
        """
        box, _ = self.box(image)
        if box is None:
            raise UserError(
                f"{name}: no face found by the detector {self.detector}: use a photo where "
                "the face is visible, or leave out --detector if the photo is already a face crop"
            )
        height, width = image.shape[:2]
        ymin, xmin, ymax, xmax = (float(v) for v in box)
        side = max(ymax - ymin, xmax - xmin, 1.0) * (1 + 2 * self.margin)
        # Square and inside the photo: moved in from an edge rather than cut by it.
        side = int(round(min(side, height, width)))
        top = int(round(np.clip((ymin + ymax - side) / 2, 0, height - side)))
        left = int(round(np.clip((xmin + xmax - side) / 2, 0, width - side)))
        bottom, right = top + side, left + side
        return np.ascontiguousarray(image[top:bottom, left:right])

    def crop_files(self, paths, images):
        """Crops of `images` (decoded from `paths`, named in errors)."""
        return [self.crop(image, path) for path, image in zip(paths, images, strict=True)]


def make_cropper(detector):
    """A `FaceCropper` for a `--detector` value, or None when it is empty or "none"."""
    if not detector or str(detector).lower() == "none":
        return None
    return FaceCropper(detector)
