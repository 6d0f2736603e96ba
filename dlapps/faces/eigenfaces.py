"""The classical baseline: PCA "eigenfaces" (Turk and Pentland, 1991) compared by cosine."""

import numpy as np
from sklearn.decomposition import PCA


class Eigenfaces:
    """Projects greyscale pixels onto the training photos' principal components.

    Args:
        components: number of principal components. Defaults to 100.
        image_size: side the photos are shrunk to first. Defaults to 32.

    Example:

    >>> baseline = Eigenfaces().fit(train_images)
    >>> baseline.embed(test_images).shape
    (len(test_images), 100)
    """

    def __init__(self, components=100, image_size=32):
        self.components = components
        self.image_size = image_size

    def _pixels(self, images):
        from PIL import Image

        grey = [
            np.asarray(
                Image.fromarray(image).convert("L").resize((self.image_size,) * 2, Image.BILINEAR),
                np.float32,
            ).ravel()
            for image in images
        ]
        grey = np.stack(grey) / 255.0
        # Per-photo standardisation removes overall brightness and contrast.
        return (grey - grey.mean(1, keepdims=True)) / (grey.std(1, keepdims=True) + 1e-6)

    def fit(self, images):
        pixels = self._pixels(images)
        components = min(self.components, len(pixels) - 1, pixels.shape[1])
        self.pca = PCA(components, whiten=True, random_state=0).fit(pixels)
        return self

    def embed(self, images):
        """Unit-length PCA coefficients of each photo."""
        projected = self.pca.transform(self._pixels(images))
        return projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)
