"""Optimizers and learning-rate schedules, built by name.

`make_optimizer("adamw", 3e-4, schedule="cosine", total_steps=10_000,
warmup_steps=500)` gives a ready `keras.optimizers.Optimizer`, so scripts and
the CLI can expose the choice as plain strings and numbers.
"""

from __future__ import annotations

import numbers

import keras
from keras import ops

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "step")

# The conventional momentum for each optimizer that has one: heavy-ball SGD
# is nearly always run with 0.9, while RMSProp is normally run without.
_DEFAULT_MOMENTUM = {"sgd": 0.9, "rmsprop": 0.0}
_DEFAULT_ADAMW_WEIGHT_DECAY = 1e-4


@keras.saving.register_keras_serializable(package="dlapps")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Ramps the learning rate linearly from 0, then hands over to a schedule.

    For the first `warmup_steps` steps the rate grows linearly from 0 to the
    rate `after_warmup` starts with; from then on it is
    `after_warmup(step - warmup_steps)`, so the wrapped schedule begins its
    own decay only once the warmup is over. Registered with Keras so that
    `.keras` files whose optimizer uses it load again.

    Args:
        after_warmup: float or `keras.optimizers.schedules.LearningRateSchedule`.
            The learning rate, or schedule, that follows the warmup.
        warmup_steps: int. Number of optimizer steps the ramp lasts; must be
            greater than 0.

    Example:

    >>> schedule = LinearWarmup(1e-3, warmup_steps=100)
    >>> round(float(schedule(50)), 6)
    0.0005
    """

    def __init__(self, after_warmup, warmup_steps):
        super().__init__()
        self.after_warmup = after_warmup
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup_steps = ops.cast(self.warmup_steps, "float32")
        if isinstance(self.after_warmup, keras.optimizers.schedules.LearningRateSchedule):
            target = ops.cast(self.after_warmup(0), "float32")
            after = ops.cast(self.after_warmup(ops.maximum(step - warmup_steps, 0.0)), "float32")
        else:
            target = after = ops.cast(self.after_warmup, "float32")
        return ops.where(step < warmup_steps, target * step / warmup_steps, after)

    def get_config(self):
        after_warmup = self.after_warmup
        if isinstance(after_warmup, keras.optimizers.schedules.LearningRateSchedule):
            after_warmup = keras.optimizers.schedules.serialize(after_warmup)
        return {"after_warmup": after_warmup, "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["after_warmup"], dict):
            config["after_warmup"] = keras.optimizers.schedules.deserialize(config["after_warmup"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="dlapps")
class EndsWithTraining(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule that can be told, during training, that training will end sooner.

    It returns `schedule(step * planned_steps / end_step)`: until `end_at`
    is called that is `schedule` itself; after `end_at(n)` the rest of the
    schedule is compressed so that it reaches its final value at step `n`.
    A cosine schedule cut by a time budget at 60% of its steps would
    otherwise stop at a high learning rate and never anneal;
    `dlapps.callbacks.TimeBudget` calls `end_at` with the steps that the
    budget leaves room for.

    Args:
        schedule: `keras.optimizers.schedules.LearningRateSchedule` planned
            over `planned_steps`.
        planned_steps: int > 0. Steps the run was planned for.

    Example:

    >>> schedule = EndsWithTraining(
    ...     keras.optimizers.schedules.CosineDecay(1.0, decay_steps=100), 100
    ... )
    >>> schedule.end_at(60)
    >>> round(float(schedule(60)), 6)
    0.0
    """

    def __init__(self, schedule, planned_steps):
        super().__init__()
        _check_steps("planned_steps", planned_steps, 1)
        self.schedule = schedule
        self.planned_steps = planned_steps
        self.end_step = keras.Variable(
            float(planned_steps), dtype="float32", trainable=False, name="schedule_end_step"
        )

    def end_at(self, steps):
        """Compresses the rest of the schedule to end at optimizer step `steps`."""
        self.end_step.assign(float(min(max(1, steps), self.planned_steps)))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        return self.schedule(step * (float(self.planned_steps) / self.end_step))

    def get_config(self):
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "planned_steps": self.planned_steps,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.optimizers.schedules.deserialize(config["schedule"])
        return cls(**config)


def _choice(kind, value, choices):
    """Returns `value` lower-cased and stripped, or raises if not in `choices`."""
    key = value.strip().lower() if isinstance(value, str) else value
    if key not in choices:
        raise ValueError(f"unknown {kind} {value!r}: choose one of {', '.join(choices)}")
    return key


def _is_number(value):
    # bool is a numbers.Real, but `learning_rate=True` is always a mistake.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_steps(argument, value, minimum):
    if value is None:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{argument} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{argument} must be >= {minimum}, got {value}")


def make_schedule(
    name="constant",
    learning_rate=1e-3,
    total_steps=None,
    warmup_steps=0,
    decay_steps=None,
    decay_rate=0.1,
    alpha=0.0,
):
    """Builds a learning-rate schedule by name.

    Schedules count optimizer steps (batches), not epochs: for
    `model.fit(..., epochs=E)` on a dataset of `B` batches, training lasts
    `E * B` steps.

    - `"constant"`: `learning_rate` throughout.
    - `"cosine"`: cosine decay from `learning_rate` to
      `alpha * learning_rate`, reached at `total_steps` and held after it
      (`keras.optimizers.schedules.CosineDecay`).
    - `"step"`: `learning_rate` multiplied by `decay_rate` once every
      `decay_steps` steps (staircase `ExponentialDecay`).

    With `warmup_steps > 0` every schedule first ramps linearly from 0 to
    `learning_rate`; the decay of `"cosine"` and `"step"` starts after the
    warmup. A short warmup keeps the first, noisy updates from pushing the
    weights far off while optimizer statistics such as Adam's second-moment
    estimate are still poor.

    Args:
        name: str. One of `SCHEDULES`, case-insensitive. Defaults to
            `"constant"`.
        learning_rate: float > 0. Peak learning rate. Defaults to `1e-3`.
        total_steps: int or `None`. Number of steps the whole training run
            lasts, warmup included. Required by `"cosine"`; elsewhere only
            checked against `warmup_steps`. Defaults to `None`.
        warmup_steps: int >= 0. Length of the linear warmup. Defaults to `0`.
        decay_steps: int or `None`. Interval between two drops of `"step"`,
            which requires it; unused otherwise. Defaults to `None`.
        decay_rate: float in (0, 1]. Factor applied at each drop of
            `"step"`. Defaults to `0.1`.
        alpha: float in [0, 1]. Final learning rate of `"cosine"` as a
            fraction of `learning_rate`. Defaults to `0.0`.

    Returns:
        The float `learning_rate` for `"constant"` without warmup, otherwise a
        `keras.optimizers.schedules.LearningRateSchedule`. Either can be
        passed as `learning_rate` to any Keras optimizer.

    Raises:
        ValueError: if `name` is unknown or an argument is out of range.

    Example:

    >>> schedule = make_schedule(
    ...     "cosine", learning_rate=1e-3, total_steps=1000, warmup_steps=100
    ... )
    >>> round(float(schedule(100)), 6)
    0.001
    """
    name = _choice("learning-rate schedule", name, SCHEDULES)
    if not _is_number(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a number > 0, such as 1e-3; got {learning_rate!r}")
    _check_steps("total_steps", total_steps, 1)
    _check_steps("warmup_steps", warmup_steps, 0)
    _check_steps("decay_steps", decay_steps, 1)
    if total_steps is not None and warmup_steps >= total_steps:
        raise ValueError(
            f"warmup_steps ({warmup_steps}) must be smaller than total_steps "
            f"({total_steps}): warmup is part of the run"
        )
    learning_rate = float(learning_rate)

    if name == "constant":
        if warmup_steps == 0:
            return learning_rate
        return LinearWarmup(learning_rate, warmup_steps)

    if name == "cosine":
        if total_steps is None:
            raise ValueError(
                "the 'cosine' schedule needs total_steps, the number of optimizer "
                "steps in the run (epochs * batches per epoch)"
            )
        if not _is_number(alpha) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
        if warmup_steps == 0:
            return keras.optimizers.schedules.CosineDecay(
                learning_rate, decay_steps=total_steps, alpha=float(alpha)
            )
        # CosineDecay's `decay_steps` counts from the end of the warmup, so the
        # decay is shortened by the warmup to end exactly at total_steps.
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0,
            decay_steps=total_steps - warmup_steps,
            alpha=float(alpha),
            warmup_target=learning_rate,
            warmup_steps=warmup_steps,
        )

    if decay_steps is None:
        raise ValueError(
            "the 'step' schedule needs decay_steps, the number of optimizer steps "
            "between two drops of the learning rate"
        )
    if not _is_number(decay_rate) or not 0.0 < decay_rate <= 1.0:
        raise ValueError(f"decay_rate must be a number in (0, 1], got {decay_rate!r}")
    decay = keras.optimizers.schedules.ExponentialDecay(
        learning_rate,
        decay_steps=decay_steps,
        decay_rate=float(decay_rate),
        staircase=True,
    )
    return LinearWarmup(decay, warmup_steps) if warmup_steps else decay


def make_optimizer(
    name="adam",
    learning_rate=1e-3,
    schedule="constant",
    total_steps=None,
    warmup_steps=0,
    momentum=None,
    nesterov=False,
    weight_decay=None,
    clipnorm=None,
    global_clipnorm=None,
    *,
    decay_steps=None,
    decay_rate=0.1,
    alpha=0.0,
    **kwargs,
):
    """Builds a Keras optimizer by name, with an optional learning-rate schedule.

    - `"adam"`: combines momentum (a moving average of the gradients) with
      RMSProp-style per-parameter scaling (division by the root of a moving
      average of squared gradients), and bias-corrects both averages for
      starting at zero. A robust default.
    - `"adamw"`: Adam with weight decay decoupled from the gradient-based
      update: weights shrink by `learning_rate * weight_decay * weight` each
      step instead of an L2 penalty being added to the loss, where Adam's
      per-parameter scaling would weaken it for parameters with large
      gradients. The usual choice for transformers.
    - `"rmsprop"`: divides each step by a running RMS of recent gradients, so
      each parameter moves at a similar pace whatever its gradient scale.
      Momentum is optional and off by default.
    - `"sgd"`: plain gradient steps, with heavy-ball momentum 0.9 by default
      and optional Nesterov momentum.

    In Keras 3 `weight_decay` is applied the decoupled way by every optimizer,
    so `"adam"` with a `weight_decay` behaves as `"adamw"`.

    Args:
        name: str. One of `OPTIMIZERS`, case-insensitive. Defaults to `"adam"`.
        learning_rate: float > 0, or a ready
            `keras.optimizers.schedules.LearningRateSchedule` (then `schedule`
            must stay `"constant"` and `warmup_steps` 0). Defaults to `1e-3`.
        schedule: str. One of `SCHEDULES`; see `make_schedule`. Defaults to
            `"constant"`.
        total_steps: int or `None`. Length of the run in optimizer steps;
            required by the `"cosine"` schedule. Defaults to `None`.
        warmup_steps: int >= 0. Steps of linear warmup. Defaults to `0`.
        momentum: float in [0, 1) or `None`. Momentum of `"sgd"` and
            `"rmsprop"`; `None` means each optimizer's usual value, 0.9 for
            SGD and 0.0 for RMSProp. Adam's equivalent is `beta_1`, which
            can be passed through `**kwargs`. Defaults to `None`.
        nesterov: bool. Use Nesterov momentum, which evaluates the gradient at
            the look-ahead point the momentum is about to carry the weights
            to; `"sgd"` only. Defaults to `False`.
        weight_decay: float >= 0 or `None`. Decoupled weight decay; `None`
            means 1e-4 for `"adamw"` and no decay for the others. Defaults
            to `None`.
        clipnorm: float > 0 or `None`. Clip each weight's gradient to this L2
            norm. Defaults to `None`.
        global_clipnorm: float > 0 or `None`. Scale all gradients together so
            their joint L2 norm is at most this; cannot be combined with
            `clipnorm`. Defaults to `None`.
        decay_steps: int or `None`. Keyword-only; interval of the `"step"`
            schedule. Defaults to `None`.
        decay_rate: float. Keyword-only; factor of the `"step"` schedule.
            Defaults to `0.1`.
        alpha: float. Keyword-only; final fraction of the `"cosine"`
            schedule. Defaults to `0.0`.
        **kwargs: passed on to the Keras optimizer, e.g. `beta_1`, `rho`,
            `epsilon`, `clipvalue`, `use_ema`.

    Returns:
        A `keras.optimizers.Optimizer`.

    Raises:
        ValueError: if `name` or `schedule` is unknown, a value is out of
            range, or an argument does not apply to the chosen optimizer.

    Example:

    >>> optimizer = make_optimizer(
    ...     "sgd", 0.1, schedule="cosine", total_steps=5000, nesterov=True
    ... )
    >>> optimizer.nesterov
    True
    """
    name = _choice("optimizer", name, OPTIMIZERS)
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        schedule = _choice("learning-rate schedule", schedule, SCHEDULES)
        if schedule != "constant" or warmup_steps:
            raise ValueError(
                f"learning_rate is already a schedule, {type(learning_rate).__name__}, "
                f"so schedule={schedule!r} and warmup_steps={warmup_steps} cannot "
                "apply: leave them at 'constant' and 0, or pass a float learning_rate"
            )
    else:
        learning_rate = make_schedule(
            schedule,
            learning_rate,
            total_steps=total_steps,
            warmup_steps=warmup_steps,
            decay_steps=decay_steps,
            decay_rate=decay_rate,
            alpha=alpha,
        )

    if momentum is not None and name not in _DEFAULT_MOMENTUM:
        raise ValueError(
            f"momentum applies to sgd and rmsprop, not {name!r}: for Adam pass "
            "beta_1 (default 0.9) instead"
        )
    if nesterov and name != "sgd":
        raise ValueError(f"nesterov applies to sgd only, not {name!r}")
    if clipnorm is not None and global_clipnorm is not None:
        raise ValueError(
            f"clipnorm={clipnorm} and global_clipnorm={global_clipnorm} are both set: "
            "choose one of them"
        )
    for argument, value in (
        ("clipnorm", clipnorm),
        ("global_clipnorm", global_clipnorm),
    ):
        if value is not None and (not _is_number(value) or value <= 0):
            raise ValueError(f"{argument} must be a number > 0, got {value!r}")
    if name == "adamw" and weight_decay is None:
        weight_decay = _DEFAULT_ADAMW_WEIGHT_DECAY
    if weight_decay is not None and (not _is_number(weight_decay) or weight_decay < 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")

    common = dict(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        clipnorm=clipnorm,
        global_clipnorm=global_clipnorm,
        **kwargs,
    )
    if momentum is None:
        momentum = _DEFAULT_MOMENTUM.get(name)
    if name == "adam":
        return keras.optimizers.Adam(**common)
    if name == "adamw":
        return keras.optimizers.AdamW(**common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(momentum=momentum, **common)
    return keras.optimizers.SGD(momentum=momentum, nesterov=nesterov, **common)
