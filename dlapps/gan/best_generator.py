"""Keeps the generator weights that scored best on validation images during training."""

import keras
import numpy as np


class BestGenerator(keras.callbacks.Callback):
    """Model selection for GANs: restore the generator with the lowest validation FID.

    GAN losses do not say how good the samples are, and sample quality
    drifts up and down as the two networks chase each other. Every `every`
    epochs this scores `samples` generated images (fixed noise) against the
    *validation* images with a `FeatureScorer` and remembers the generator's
    weights when the Fréchet distance is the lowest so far; at the end of
    training those weights are put back. The test images stay unseen until
    the final evaluation. With `path`, the best generator is also saved
    there as a `.keras` file, which `dlapps evaluate gan` and
    `dlapps export gan` take. The model gets a `generator_selection` dict
    (selected epoch, validation FID by epoch) for its report.

    Args:
        scorer: a `FeatureScorer` built on validation images.
        every: epochs between scorings.
        samples: images generated for each scoring.
        path: where to save the best generator, or None.

    Example:

    >>> scorer = FeatureScorer(classifier, *validation)
    >>> model.fit(dataset, epochs=100, callbacks=[BestGenerator(scorer, every=5)])
    """

    def __init__(self, scorer, every=5, samples=500, path=None):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.path = path
        self.scorer = scorer
        self.every = every
        self.samples = samples
        self.best_fid = np.inf
        self.best_epoch = None
        self.scores = []
        self._best_weights = None

    def _score(self, epoch):
        num_classes = len(np.unique(self.scorer.real_labels))
        labels = np.arange(self.samples) % num_classes if self.model.conditional else None
        images = self.model.generate(self.samples, labels, seed=1234)
        fid = self.scorer.score(images)["fid"]
        self.scores.append((epoch + 1, fid))
        if fid < self.best_fid:
            self.best_fid, self.best_epoch = fid, epoch + 1
            self._best_weights = self.model.generator.get_weights()
            if self.path is not None:
                self.model.generator.save(self.path)

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch
        if (epoch + 1) % self.every == 0:
            self._score(epoch)

    def on_train_end(self, logs=None):
        last_epoch = getattr(self, "_last_epoch", None)
        if last_epoch is not None and (not self.scores or self.scores[-1][0] != last_epoch + 1):
            self._score(last_epoch)  # training may stop between scorings (time budget)
        if self._best_weights is not None:
            self.model.generator.set_weights(self._best_weights)
            self.model.generator_selection = {
                "selected_epoch": self.best_epoch,
                "validation_fid_by_epoch": self.scores,
            }
