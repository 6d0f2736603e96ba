"""Two small fixes that let Keras 3's `model.fit` run under MultiWorkerMirroredStrategy.

Keras 3 (3.15.1, TensorFlow backend) cannot `fit` under
`tf.distribute.MultiWorkerMirroredStrategy` (keras-team/keras issue 20585,
open; tensorflow/tensorflow issue 72388):

1. `TensorFlowTrainer._maybe_symbolic_build` passes the first distributed
   `(x, y)` batch to `strategy.reduce`, which cannot take a nested
   structure; in multi-worker mode that raises "Attempt to convert a value
   (PerReplica:...)". The symbolic build only reads shapes and dtypes, so
   one replica's values do.
2. `reduce_per_replica` reduces multi-worker metrics with
   `strategy.reduce("MEAN", v, axis=0)`, which fails on scalar metrics
   ("Invalid reduction dimension 0 for input with 0 dimensions"). Scalars
   are averaged across workers instead (`axis=None`), so every worker logs
   the same values and callbacks such as EarlyStopping decide alike.

`apply()` installs both only when the installed Keras still has these code
paths (checked in its source), so a fixed Keras runs untouched; the tests
check that they are needed and that two workers end with equal weights.
The alternative routes (tf_keras with `TF_USE_LEGACY_KERAS=1`, a custom
training loop) would leave Keras 3 or `model.fit`.
"""

import inspect

_applied = False


def needed():
    """Whether the installed Keras has the two multi-worker bugs above."""
    from keras.src.backend.tensorflow import trainer

    build = inspect.getsource(trainer.TensorFlowTrainer._maybe_symbolic_build)
    reduce = inspect.getsource(trainer.reduce_per_replica)
    return "distribute_strategy.reduce(" in build and 'reduce("MEAN", v, axis=0)' in reduce


def apply():
    """Patches Keras' TensorFlow trainer for multi-worker `fit`, once, if `needed()`.

    Returns:
        True if the patches are in place.
    """
    global _applied
    if _applied:
        return True
    if not needed():
        return False
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, distributed_iterator in iterator:
                batch = next(distributed_iterator)
                data_batch = tree.map_structure(
                    lambda value: (
                        self.distribute_strategy.experimental_local_results(value)[0]
                        if isinstance(value, tf.distribute.DistributedValues)
                        else value
                    ),
                    batch,
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original_reduce_per_replica = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
            return tree.map_structure(
                lambda value: strategy.reduce(
                    "MEAN", value, axis=None if value.shape.rank == 0 else 0
                ),
                values,
            )
        return original_reduce_per_replica(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    _applied = True
    return True
