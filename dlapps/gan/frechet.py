"""Fréchet distance between image sets, on features of a classifier of the same data."""

import warnings

import numpy as np
from scipy import linalg


def frechet_distance(features_a, features_b):
    """The Fréchet distance between Gaussians fitted to two feature sets.

    `|mu_a - mu_b|^2 + trace(C_a + C_b - 2 (C_a C_b)^(1/2))`: the distance
    behind FID (Heusel et al. 2017). Lower is closer; two samples of the
    same distribution score above 0 because of sampling noise, which
    shrinks as the samples grow, so report the real-vs-real floor measured
    with the same sample sizes next to it.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> frechet_distance(rng.normal(size=(500, 4)), rng.normal(size=(500, 4))) < 0.2
    True
    """
    features_a = np.asarray(features_a, "float64")
    features_b = np.asarray(features_b, "float64")
    mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)
    covariance_a = np.cov(features_a, rowvar=False)
    covariance_b = np.cov(features_b, rowvar=False)
    with warnings.catch_warnings():
        # A collapsed generator gives singular covariances; handled just below.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(covariance_a @ covariance_b)
        if not np.isfinite(root).all():
            # Nudge both diagonals, as the FID reference code does.
            offset = np.eye(len(covariance_a)) * 1e-6
            root = linalg.sqrtm((covariance_a + offset) @ (covariance_b + offset))
    root = root.real
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(covariance_a + covariance_b - 2 * root)
    return float(max(distance, 0.0))


class FeatureScorer:
    """Scores generated images against real ones with a trained image classifier.

    Features are the classifier's globally pooled activations (the layer
    named "pool" in `dlapps.vision.build_image_classifier`). Real and
    generated images go in at the same resolution, so neither is resampled
    differently from the other.

    Args:
        classifier: a trained `dlapps.vision` classifier.
        real_images: uint8 real images at the generator's resolution.
        real_labels: their classes.
    """

    def __init__(self, classifier, real_images, real_labels):
        import keras

        self.classifier = classifier
        self.features = keras.Model(classifier.inputs, classifier.get_layer("pool").output)
        self.real_features = self.features.predict(real_images, batch_size=256, verbose=0)
        self.real_labels = np.asarray(real_labels)

    def floor(self, real_images):
        """The distance from other real images to the reference ones: the best a generator can do.

        FID is biased upwards by sampling noise, and the bias depends on
        both sample sizes; pass as many real images (e.g. from the training
        split) as generated images are scored, so floor and score compare.
        """
        features = self.features.predict(real_images, batch_size=256, verbose=0)
        return frechet_distance(self.real_features, features)

    def score(self, images, labels=None):
        """`{"fid": ...}`, plus `label_accuracy` when the requested labels are given."""
        features = self.features.predict(images, batch_size=256, verbose=0)
        result = {"fid": frechet_distance(self.real_features, features)}
        if labels is not None:
            predicted = np.argmax(self.classifier.predict(images, batch_size=256, verbose=0), -1)
            result["label_accuracy"] = float(np.mean(predicted == np.asarray(labels)))
        return result
