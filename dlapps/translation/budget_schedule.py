"""A learning-rate schedule that ends where training ends: at the last epoch or the time budget."""

import math
import time

import keras


class AnnealToBudget(keras.callbacks.Callback):
    """Warms the learning rate up, then decays it on a cosine to zero by the end of training.

    A schedule counted in steps (`epochs * batches`) does not end where a
    run stopped by `--time-budget` ends: the rate is still high when the
    clock runs out, and the weights never settle. Here the progress through
    training is the larger of the steps done and the time spent, each as a
    fraction of its limit, so the rate reaches zero when the first of the
    two runs out, whichever machine the run is on.

    It sets the optimizer's learning rate before every batch, so the
    optimizer must have a plain (constant) rate.

    Args:
        peak: the learning rate after the warmup.
        total_steps: the steps of all epochs.
        warmup_steps: steps of the linear warmup from 0 to `peak`.
        seconds: the time budget, or `None` to count steps only.

    Example:

    >>> anneal = AnnealToBudget(1e-3, total_steps=3000, warmup_steps=300, seconds=600)
    >>> model.fit(dataset, epochs=10, callbacks=[anneal])  # doctest: +SKIP
    """

    def __init__(self, peak, total_steps, warmup_steps, seconds=None):
        super().__init__()
        self.peak = float(peak)
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(1, int(warmup_steps))
        self.seconds = seconds
        self.step = 0
        self._start = None

    def progress(self):
        """Fraction of training done, 0..1: steps or time, whichever is further."""
        done = self.step / self.total_steps
        if self.seconds:
            done = max(done, (time.monotonic() - self._start) / self.seconds)
        return min(1.0, done)

    def learning_rate(self):
        warmup = min(1.0, (self.step + 1) / self.warmup_steps)
        return self.peak * warmup * 0.5 * (1.0 + math.cos(math.pi * self.progress()))

    def on_train_begin(self, logs=None):
        if isinstance(
            self.model.optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule
        ):
            raise ValueError("AnnealToBudget needs an optimizer with a constant learning rate")
        self._start = time.monotonic()
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.learning_rate()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
