"""Training on experience that the model itself collects, through the same `model.fit`.

Reinforcement learning has no fixed dataset: the examples of each epoch
are collected by the current policy. Wrapped as a `tf.data.Dataset` whose
generator asks an `ExperienceSource` for the epoch's minibatches, such
training goes through the shared driver unchanged, so checkpoints, the
time budget, resume, TensorBoard and early stopping apply as they do to
any app:

- Keras starts a new pass over the dataset each epoch, so each epoch
  calls `source.epoch_batches(batch_size)` afresh: the source runs the
  current policy (numpy and the environment, outside the graph) and yields
  minibatches (dicts of arrays) of what it collected. Nothing is
  prefetched, so every collection sees the weights of the last step.
- The source needs the model; the app hands it over in `build_model`
  (`source.model = model`), before `fit` pulls the first batch.
- `batches_per_epoch(batch_size)` gives the epoch's length, which Keras
  (steps per epoch) and the learning-rate schedule need; an app's
  `num_train_examples` returns it times the batch size.
- A run needs no validation set (`datasets` returns `(train, None)`); the
  monitored quantity comes from the training logs (e.g. `episode_return`
  carried in the batches), and `GoalReached` stops a run once a goal is
  met on held-out episodes.

Example:

>>> dataset = experience_dataset(collector, batch_size=256)  # doctest: +SKIP
>>> agent.fit(dataset, epochs=40, callbacks=[GoalReached(lambda m: play(m), 475)])  # doctest: +SKIP
"""

import sys

import keras
import tensorflow as tf


class ExperienceSource:
    """What `experience_dataset` draws on: collects with `model`, yields minibatches.

    Attributes:
        model: the model whose policy collects (set by the app before `fit`).
        element_spec: dict name -> `tf.TensorSpec` of ONE example (no batch
            dimension).
    """

    model = None
    element_spec = {}

    def epoch_batches(self, batch_size):
        """Yields one epoch of minibatches: dicts name -> numpy array `(batch, ...)`."""
        raise NotImplementedError

    def batches_per_epoch(self, batch_size):
        """How many minibatches `epoch_batches(batch_size)` yields (Keras' steps per epoch)."""
        raise NotImplementedError


def experience_dataset(source, batch_size):
    """A `tf.data.Dataset` of minibatches that `source` collects afresh every epoch.

    Args:
        source: an `ExperienceSource`.
        batch_size: examples per minibatch.
    """
    signature = {
        name: tf.TensorSpec((None, *spec.shape), spec.dtype, name=name)
        for name, spec in source.element_spec.items()
    }
    dataset = tf.data.Dataset.from_generator(
        lambda: source.epoch_batches(batch_size), output_signature=signature
    )
    # A known length gives Keras its steps per epoch from the first epoch on.
    batches = source.batches_per_epoch(batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(batches))


class GoalReached(keras.callbacks.Callback):
    """Stops training once a score measured on held-out episodes reaches a goal.

    After every epoch whose `monitor` log value has reached `trigger`
    (cheap: the training episodes' return), `score(model)` is measured
    (e.g. the greedy policy's mean return over 20 validation episodes);
    when it reaches `goal`, training stops and `stop_reason` says why, so
    the driver's report names it. The score of each check is kept in
    `scores` as `(epoch, score)`.

    Args:
        score: `callable(model) -> float`, higher is better.
        goal: the score that counts as solved.
        monitor: the epoch log that triggers a check, or `None` to check
            every epoch.
        trigger: `monitor`'s value from which on to check (default: `goal`).

    Example:

    >>> GoalReached(lambda model: mean_return(model, seeds=range(20)), goal=475.0,
    ...             monitor="episode_return")  # doctest: +SKIP
    """

    def __init__(self, score, goal, monitor=None, trigger=None):
        super().__init__()
        self.score = score
        self.goal = float(goal)
        self.monitor = monitor
        self.trigger = self.goal if trigger is None else float(trigger)
        self.scores = []
        self.stop_reason = None

    def on_train_begin(self, logs=None):
        self.stop_reason = None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is not None and float((logs or {}).get(self.monitor, -1e30)) < self.trigger:
            return
        value = float(self.score(self.model))
        self.scores.append((epoch, value))
        print(f"GoalReached: held-out score {value:.2f} (goal {self.goal:g})", file=sys.stderr)
        if value >= self.goal:
            self.stop_reason = "goal reached"
            self.model.stop_training = True
