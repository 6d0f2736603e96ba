"""The training model: augmentation -> embedder -> cosine head over the training people."""

import keras

from dlapps.faces.arcface import CosineHead


def build_face_recognizer(embedder, num_people, augment=True, flip=True):
    """Wraps an embedder for ArcFace training.

    The model maps photos to cosines with each training person's centre
    (train it with `ArcFaceLoss`); `model.get_layer("embedder")` is what
    gets exported and what recognises new people. Augmentation (random
    flips, small shifts, rotations, zoom, brightness and contrast) runs only
    in training, so the photo-to-photo changes the embedding must ignore are
    not all in the few photos a user has.

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
        if flip:
            x = keras.layers.RandomFlip("horizontal", name="flip")(x)
        x = keras.layers.RandomTranslation(0.06, 0.06, fill_mode="reflect", name="shift")(x)
        x = keras.layers.RandomRotation(0.03, fill_mode="reflect", name="rotate")(x)
        x = keras.layers.RandomZoom(0.1, fill_mode="reflect", name="zoom")(x)
        x = keras.layers.RandomBrightness(0.15, value_range=(0, 255), name="brightness")(x)
        x = keras.layers.RandomContrast(0.2, value_range=(0, 255), name="contrast")(x)
    embeddings = embedder(x)
    outputs = CosineHead(num_people, name="arcface")(embeddings)
    return keras.Model(inputs, outputs, name="face_recognizer")
