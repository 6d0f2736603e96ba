"""The training model: augmentation -> embedder -> cosine head over the training people."""

import keras

from dlapps.faces.arcface import CosineHead
from dlapps.faces.face_augmentation import FaceAugmentation


def build_face_recognizer(embedder, num_people, augment=True, flip=True):
    """Wraps an embedder for ArcFace training.

    The model maps photos to cosines with each training person's centre
    (train it with `ArcFaceLoss`); `model.get_layer("embedder")` is what
    gets exported and what recognises new people. Augmentation (random
    flips, small shifts, rotations, zoom, brightness and contrast) runs only
    in training, so the photo-to-photo changes the embedding must ignore are
    not all in the few photos a user has. The geometric changes are one
    affine resampling per photo (`FaceAugmentation`), not one per change.

    Args:
        embedder: a model from `build_mobile_face_net` or
            `build_pretrained_embedder`, named "embedder".
        num_people: training people (classes of the head).
        augment: add random geometric and photometric changes in training.
        flip: include left-right flips in the augmentation.

    Example:

    >>> model = build_face_recognizer(build_mobile_face_net(), num_people=400)
    >>> model.compile("adam", loss=ArcFaceLoss())
    """
    inputs = keras.Input(embedder.input_shape[1:], name="images")
    x = inputs
    if augment:
        x = FaceAugmentation(flip=flip, name="augment")(x)
    embeddings = embedder(x)
    outputs = CosineHead(num_people, name="arcface")(embeddings)
    return keras.Model(inputs, outputs, name="face_recognizer")
