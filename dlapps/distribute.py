"""Picks a `tf.distribute.Strategy` by name.

Build and compile the model inside `strategy.scope()` so its variables are
placed (and mirrored) by the strategy; `model.fit` then splits each batch
across the replicas:

```python
strategy = get_strategy("auto")
with strategy.scope():
    model = build_model()
    model.compile(optimizer="adam", loss="mse")
model.fit(dataset)
```

With N replicas each step sees the global batch, so scale the batch size
(and usually the learning rate) with `strategy.num_replicas_in_sync`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")

# Environment variables set where a Cloud TPU is attached: Colab's legacy TPU
# runtime, GKE, and Cloud TPU VMs or nodes configured by name.
_TPU_ENV_VARS = ("TPU_NAME", "COLAB_TPU_ADDR", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS")


def _tpu_address():
    """The `tpu` argument for `TPUClusterResolver` in this environment."""
    colab_address = os.environ.get("COLAB_TPU_ADDR")
    if colab_address and not os.environ.get("TPU_NAME"):
        # The resolver reads TPU_NAME and the GKE variable by itself, but not
        # Colab's address, which it needs as a gRPC URL.
        return f"grpc://{colab_address}"
    return ""


def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=_tpu_address())
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, OSError, ImportError) as error:
        raise RuntimeError(
            f"no TPU found ({error}): run on a TPU runtime or set TPU_NAME to "
            "the TPU's name or grpc:// address, or use strategy 'auto'"
        ) from error
    return tf.distribute.TPUStrategy(resolver)


def _multi_worker_strategy():
    tf_config = os.environ.get("TF_CONFIG")
    if not tf_config:
        raise ValueError(
            "strategy 'multi_worker' needs the TF_CONFIG environment variable, "
            "describing the cluster and this worker's place in it, e.g. "
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\''
        )
    try:
        config = json.loads(tf_config)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {tf_config!r}") from error
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(
            f"TF_CONFIG must be a JSON object with 'cluster' and 'task' keys, got {tf_config!r}"
        )
    from dlapps import keras_patches

    keras_patches.apply()  # model.fit under this strategy needs it (keras issue 20585)
    return tf.distribute.MultiWorkerMirroredStrategy()


def get_strategy(name="auto"):
    """Returns the `tf.distribute.Strategy` called `name`.

    - `"default"`: the strategy in the current scope, outside any scope the
      no-op default strategy that runs on one device.
    - `"mirrored"`: `MirroredStrategy`, one replica per local GPU (or the
      CPU when there is none), gradients all-reduced every step.
    - `"multi_worker"`: `MultiWorkerMirroredStrategy`, mirrored across the
      machines described by the `TF_CONFIG` environment variable. Every
      worker must run the same program; construction waits for the others.
    - `"tpu"`: `TPUStrategy` on the TPU this program runs beside, found by
      `TPUClusterResolver` from the `TPU_NAME`, `COLAB_TPU_ADDR` or
      `KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS` variables.
    - `"auto"`: `"tpu"` when one of those variables is set and the TPU
      connects, else `"mirrored"` with two or more GPUs, else `"default"`.
      The TPU is only looked for when a variable names one, because the
      resolver may otherwise wait on Google Cloud's metadata server.

    Args:
        name: str. One of `STRATEGIES`, case-insensitive. Defaults to
            `"auto"`.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: if `name` is unknown, or `"multi_worker"` is asked for
            without a valid `TF_CONFIG`.
        RuntimeError: if `"tpu"` is asked for and no TPU can be reached.

    Example:

    >>> strategy = get_strategy("default")
    >>> strategy.num_replicas_in_sync
    1
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in STRATEGIES:
        raise ValueError(
            f"unknown distribution strategy {name!r}: choose one of {', '.join(STRATEGIES)}"
        )
    if key == "default":
        return tf.distribute.get_strategy()
    if key == "mirrored":
        return tf.distribute.MirroredStrategy()
    if key == "multi_worker":
        return _multi_worker_strategy()
    if key == "tpu":
        return _tpu_strategy()

    if any(os.environ.get(variable) for variable in _TPU_ENV_VARS):
        try:
            return _tpu_strategy()
        except RuntimeError as error:
            print(f"get_strategy: {error}; not using a TPU", file=sys.stderr)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in training: `index` among `count` workers."""

    index: int = 0
    count: int = 1

    @property
    def multi_worker(self):
        return self.count > 1

    @property
    def is_chief(self):
        """Worker 0 (or the task of type "chief") writes checkpoints and exports."""
        return self.index == 0


def worker_role(strategy):
    """The `WorkerRole` of this process under `strategy` (from TF_CONFIG for multi-worker).

    Example:

    >>> worker_role(get_strategy("default"))
    WorkerRole(index=0, count=1)
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return WorkerRole()
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict()
    count = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    index = resolver.task_id
    if resolver.task_type == "worker" and "chief" in cluster:
        index += len(cluster["chief"])  # the chief is worker 0
    return WorkerRole(index=index, count=count)


def shard_by_data(dataset):
    """The dataset with `AutoShardPolicy.DATA`: every worker reads it, keeping its own share.

    In-memory datasets (`from_tensor_slices`) have no files to split among
    workers, so sharding by element is the policy that applies; setting it
    explicitly avoids TensorFlow's fallback warning.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def static_batches(dataset, batch_size):
    """`dataset` re-cut into full batches of `batch_size`; a last, smaller batch is dropped.

    `TPUStrategy` compiles one XLA program for a fixed input shape, so every
    batch must have the same, statically known size (`drop_remainder`). The
    driver applies this to the training and validation data on TPUs; the
    apps' own pipelines keep their last partial batch elsewhere.

    Example:

    >>> batches = tf.data.Dataset.range(10).batch(4)  # 4, 4, 2
    >>> static_batches(batches, 4).element_spec.shape
    TensorShape([4])
    """
    if dataset is None:
        return None
    return dataset.unbatch().batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def synchronize_batch_norm(model):
    """Makes every BatchNormalization layer of `model` use the global batch's statistics.

    Under multi-worker training each worker sees its own share of a batch;
    unsynchronized, each would keep different moving means and variances,
    and the chief's export would carry statistics of its share only. With
    `synchronized=True` the moments are all-reduced across workers at every
    step, so all workers hold the same weights, statistics included.

    Returns:
        The number of layers changed.
    """
    import keras

    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in layers:
        layer.synchronized = True
    return len(layers)


def barrier(strategy):
    """Waits until every worker of `strategy` gets here (an all-reduce of one number).

    Lets the chief finish work that only it does (evaluation, export) before
    the other workers exit; a worker leaving early makes TensorFlow's
    coordination service report the cluster as crashed.
    """

    @tf.function
    def all_reduce_one():
        return strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)

    return float(all_reduce_one())


def describe_strategy(strategy):
    """One line naming a strategy and its number of replicas.

    Args:
        strategy: a `tf.distribute.Strategy`.

    Returns:
        str, such as `"MirroredStrategy with 2 replicas"`.

    Example:

    >>> describe_strategy(get_strategy("default"))
    'default strategy with 1 replica'
    """
    if isinstance(strategy, tf.distribute.TPUStrategy):
        kind = "TPUStrategy"
    elif isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        kind = "MultiWorkerMirroredStrategy"
    elif isinstance(strategy, tf.distribute.MirroredStrategy):
        kind = "MirroredStrategy"
    else:
        # The default strategy's class is private (_DefaultDistributionStrategy).
        kind = type(strategy).__name__.lstrip("_")
        if kind == "DefaultDistributionStrategy":
            kind = "default strategy"
    replicas = strategy.num_replicas_in_sync
    return f"{kind} with {replicas} replica{'' if replicas == 1 else 's'}"
