"""Tests for dlapps.optimizers: names, hyperparameters, schedules, training."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from dlapps.optimizers import (
    OPTIMIZERS,
    SCHEDULES,
    LinearWarmup,
    make_optimizer,
    make_schedule,
)


def rate(schedule, step):
    return float(schedule(step))


@pytest.mark.parametrize(
    ("name", "expected_class"),
    [
        ("adam", keras.optimizers.Adam),
        ("adamw", keras.optimizers.AdamW),
        ("rmsprop", keras.optimizers.RMSprop),
        ("sgd", keras.optimizers.SGD),
    ],
)
def test_each_name_builds_its_keras_class_with_the_learning_rate(name, expected_class):
    optimizer = make_optimizer(name, learning_rate=0.02)
    assert type(optimizer) is expected_class
    assert float(optimizer.learning_rate) == pytest.approx(0.02)


def test_every_listed_name_builds_and_its_schedule_decays_by_the_end():
    for name in OPTIMIZERS:
        assert isinstance(make_optimizer(name), keras.optimizers.Optimizer)
    rates = {}
    for name in SCHEDULES:
        schedule = make_schedule(name, learning_rate=0.1, total_steps=100, decay_steps=30)
        rates[name] = float(schedule(99)) if callable(schedule) else schedule
    cosine = 0.05 * (1 + math.cos(math.pi * 0.99))
    assert rates == pytest.approx({"constant": 0.1, "cosine": cosine, "step": 1e-4}, rel=1e-3)


def test_names_are_case_insensitive_and_stripped():
    assert type(make_optimizer("  AdamW ")) is keras.optimizers.AdamW
    assert float(make_schedule(" Constant", learning_rate=0.5)) == 0.5


def test_unknown_optimizer_error_names_the_value_and_the_choices():
    with pytest.raises(ValueError) as error:
        make_optimizer("adma")
    assert str(error.value) == ("unknown optimizer 'adma': choose one of adam, adamw, rmsprop, sgd")


def test_sgd_defaults_to_momentum_0_9_and_receives_nesterov():
    optimizer = make_optimizer("sgd", nesterov=True)
    assert optimizer.momentum == pytest.approx(0.9)
    assert optimizer.nesterov is True
    assert make_optimizer("sgd", momentum=0.0).momentum == 0.0
    assert make_optimizer("sgd").nesterov is False


def test_rmsprop_momentum_defaults_to_zero_and_can_be_set():
    assert make_optimizer("rmsprop").momentum == 0.0
    assert make_optimizer("rmsprop", momentum=0.5).momentum == pytest.approx(0.5)


def test_adamw_has_a_default_weight_decay_and_others_only_when_given():
    assert make_optimizer("adamw").weight_decay == pytest.approx(1e-4)
    assert make_optimizer("adamw", weight_decay=0.05).weight_decay == 0.05
    assert make_optimizer("adam").weight_decay is None
    assert make_optimizer("sgd", weight_decay=1e-3).weight_decay == 1e-3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "adam", "momentum": 0.9}, "beta_1"),
        ({"name": "adamw", "momentum": 0.9}, "momentum applies to sgd and rmsprop"),
        ({"name": "adam", "nesterov": True}, "nesterov applies to sgd only"),
        ({"name": "rmsprop", "nesterov": True}, "nesterov applies to sgd only"),
        ({"clipnorm": 1.0, "global_clipnorm": 1.0}, "choose one of them"),
        ({"clipnorm": 0.0}, "clipnorm must be a number > 0"),
        ({"weight_decay": -0.1}, "weight_decay must be a number >= 0"),
        ({"learning_rate": 0.0}, "learning_rate must be a number > 0"),
        ({"schedule": "linear"}, "choose one of constant, cosine, step"),
    ],
)
def test_arguments_that_do_not_apply_or_are_out_of_range_are_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(**arguments)


def test_clipnorm_and_global_clipnorm_reach_the_optimizer():
    assert make_optimizer("adam", clipnorm=1.5).clipnorm == 1.5
    assert make_optimizer("sgd", global_clipnorm=2.0).global_clipnorm == 2.0


def test_extra_keyword_arguments_reach_the_optimizer():
    assert make_optimizer("adam", beta_1=0.8).beta_1 == 0.8
    assert make_optimizer("rmsprop", rho=0.95).rho == 0.95


def test_a_ready_schedule_is_used_as_the_learning_rate():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert make_optimizer("sgd", learning_rate=schedule)._learning_rate is schedule
    with pytest.raises(ValueError, match="already a schedule"):
        make_optimizer("sgd", learning_rate=schedule, schedule="cosine")


def test_schedule_arguments_reach_the_optimizer_schedule():
    optimizer = make_optimizer("sgd", 0.1, schedule="step", decay_steps=5, decay_rate=0.5)
    schedule = optimizer._learning_rate
    assert rate(schedule, 4) == pytest.approx(0.1)
    assert rate(schedule, 5) == pytest.approx(0.05)


def test_constant_schedule_without_warmup_is_a_plain_float():
    assert make_schedule("constant", learning_rate=0.01) == 0.01


def test_constant_schedule_with_warmup_ramps_then_holds():
    schedule = make_schedule("constant", learning_rate=0.01, warmup_steps=10)
    assert rate(schedule, 0) == 0.0
    assert rate(schedule, 5) == pytest.approx(0.005)
    assert rate(schedule, 10) == pytest.approx(0.01)
    assert rate(schedule, 1000) == pytest.approx(0.01)


def test_cosine_with_warmup_rises_from_zero_peaks_then_decays_to_alpha():
    schedule = make_schedule(
        "cosine", learning_rate=0.1, total_steps=110, warmup_steps=10, alpha=0.1
    )
    assert rate(schedule, 0) == pytest.approx(0.0, abs=1e-7)
    assert rate(schedule, 5) == pytest.approx(0.05)
    assert rate(schedule, 10) == pytest.approx(0.1)
    # Halfway through the decay the cosine is at the midpoint of lr and alpha*lr.
    assert rate(schedule, 60) == pytest.approx(0.055)
    assert rate(schedule, 110) == pytest.approx(0.01)
    assert rate(schedule, 500) == pytest.approx(0.01)


def test_cosine_without_warmup_starts_at_the_learning_rate():
    schedule = make_schedule("cosine", learning_rate=0.1, total_steps=100)
    assert rate(schedule, 0) == pytest.approx(0.1)
    assert rate(schedule, 100) == pytest.approx(0.0, abs=1e-7)


def test_step_schedule_multiplies_by_decay_rate_every_decay_steps():
    schedule = make_schedule("step", learning_rate=0.1, decay_steps=10, decay_rate=0.5)
    assert rate(schedule, 0) == pytest.approx(0.1)
    assert rate(schedule, 9) == pytest.approx(0.1)
    assert rate(schedule, 10) == pytest.approx(0.05)
    assert rate(schedule, 25) == pytest.approx(0.025)


def test_step_schedule_with_warmup_starts_decaying_after_the_warmup():
    schedule = make_schedule(
        "step", learning_rate=0.1, warmup_steps=4, decay_steps=10, decay_rate=0.5
    )
    assert rate(schedule, 0) == 0.0
    assert rate(schedule, 2) == pytest.approx(0.05)
    assert rate(schedule, 4) == pytest.approx(0.1)
    assert rate(schedule, 13) == pytest.approx(0.1)
    assert rate(schedule, 14) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "cosin"}, "unknown learning-rate schedule 'cosin': choose one of"),
        ({"learning_rate": 0}, "learning_rate must be a number > 0"),
        ({"learning_rate": -1e-3}, "learning_rate must be a number > 0"),
        ({"learning_rate": True}, "learning_rate must be a number > 0"),
        ({"name": "cosine"}, "needs total_steps"),
        (
            {"name": "cosine", "total_steps": 100, "warmup_steps": 100},
            r"warmup_steps \(100\) must be smaller than total_steps \(100\)",
        ),
        ({"warmup_steps": -1}, "warmup_steps must be >= 0, got -1"),
        ({"total_steps": 0}, "total_steps must be >= 1, got 0"),
        ({"warmup_steps": 2.5}, "warmup_steps must be an integer"),
        ({"name": "step"}, "needs decay_steps"),
        ({"name": "step", "decay_steps": 10, "decay_rate": 0.0}, "decay_rate"),
        ({"name": "cosine", "total_steps": 10, "alpha": 2.0}, "alpha"),
    ],
)
def test_bad_schedule_arguments_raise_value_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        make_schedule(**arguments)


def test_warmup_schedule_survives_saving_and_loading_a_model(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(
        make_optimizer("sgd", 0.1, schedule="step", warmup_steps=4, decay_steps=10),
        "mse",
    )
    model.optimizer.build(model.trainable_variables)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, LinearWarmup)
    assert rate(schedule, 2) == pytest.approx(0.05)
    assert rate(schedule, 14) == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("name", "learning_rate"),
    [("adam", 0.05), ("adamw", 0.05), ("rmsprop", 0.05), ("sgd", 0.05)],
)
def test_every_optimizer_fits_a_linear_regression(name, learning_rate):
    keras.utils.set_random_seed(1)
    x = np.random.default_rng(0).normal(size=(128, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32") + 0.3
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(make_optimizer(name, learning_rate), loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.3 * losses[0]
