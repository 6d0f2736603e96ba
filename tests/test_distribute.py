"""Tests for dlapps.distribute on a machine without TPU and with at most one GPU."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlapps import distribute, vision
from dlapps.distribute import describe_strategy, get_strategy

TPU_VARIABLES = ("TPU_NAME", "COLAB_TPU_ADDR", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS")
at_most_one_gpu = pytest.mark.skipif(
    len(tf.config.list_physical_devices("GPU")) > 1,
    reason="expects a machine with at most one GPU",
)


@pytest.fixture
def no_tpu_environment(monkeypatch):
    for variable in (*TPU_VARIABLES, "TPU_CONFIG"):
        monkeypatch.delenv(variable, raising=False)


def test_default_strategy_is_tensorflows_current_strategy():
    strategy = get_strategy("default")
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert describe_strategy(strategy) == "default strategy with 1 replica"


@at_most_one_gpu
def test_auto_without_tpu_or_several_gpus_is_the_default_strategy_and_fast(
    no_tpu_environment,
):
    start = time.monotonic()
    strategy = get_strategy("auto")
    assert time.monotonic() - start < 5.0
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_names_are_case_insensitive_and_stripped():
    assert get_strategy("  DEFAULT ") is tf.distribute.get_strategy()


def test_unknown_strategy_error_lists_the_valid_names():
    with pytest.raises(ValueError) as error:
        get_strategy("mirror")
    assert str(error.value) == (
        "unknown distribution strategy 'mirror': choose one of "
        "auto, default, mirrored, multi_worker, tpu"
    )


def test_multi_worker_without_tf_config_says_to_set_it(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        get_strategy("multi_worker")


@pytest.mark.parametrize(
    ("tf_config", "message"),
    [("{cluster", "not valid JSON"), ('{"cluster": {}}', "'cluster' and 'task'")],
)
def test_multi_worker_with_a_malformed_tf_config_is_rejected(monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message):
        get_strategy("multi_worker")


def test_tpu_without_a_tpu_raises_a_clear_error(no_tpu_environment):
    with pytest.raises(RuntimeError, match="no TPU found.*TPU_NAME"):
        get_strategy("tpu")


@at_most_one_gpu
def test_mirrored_strategy_trains_a_model_built_in_its_scope():
    strategy = get_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert describe_strategy(strategy) == "MirroredStrategy with 1 replica"
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
    x = np.ones((8, 2), dtype="float32")
    history = model.fit(x, x[:, :1], epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_static_batches_give_tpus_one_fixed_batch_shape():
    # Vision's pipeline keeps a last partial batch; TPUs need every batch full.
    images = np.zeros((10, 8, 8, 1), "uint8")
    batches = vision.to_dataset((images, np.arange(10, dtype="int32")), batch_size=4)
    assert batches.element_spec[0].shape[0] is None
    static = distribute.static_batches(batches, 4)
    assert static.element_spec[0].shape.as_list() == [4, 8, 8, 1]
    assert [len(labels) for _, labels in static] == [4, 4]
    assert distribute.static_batches(None, 4) is None
