"""Training callbacks: a wall-clock budget, a schedule that anneals to it, and the standard set.

`standard_callbacks(workdir)` gives every training run the same layout on
disk, so that an interrupted run resumes where it stopped:

```
workdir/
    backup/        BackupAndRestore state; exists only while a run is unfinished
    best.keras     best model so far according to `monitor`
    history.csv    one row per epoch, across resumed runs
    logs/          TensorBoard event files
```
"""

from __future__ import annotations

import csv
import importlib.util
import math
import numbers
import pathlib
import statistics
import sys
import time
import warnings

import keras

_MODES = ("auto", "min", "max")


class TimeBudget(keras.callbacks.Callback):
    """Stops training cleanly once a wall-clock budget is spent.

    The clock starts in `on_train_begin` and is checked after every batch and
    every epoch. When it has run out, the callback sets
    `model.stop_training = True`, so `fit` finishes the current step, runs
    that epoch's validation and epoch-end callbacks (checkpoints, logs) and
    returns normally. The budget is therefore a target, not a hard limit: the
    overshoot is one batch plus the end of that epoch.

    A budget is a safety net, not the schedule: once a `fit` has run two
    epochs after its first (which also traces and compiles), the callback
    estimates how many of the planned epochs the budget leaves room for,
    from the lower median of those steady epochs' times, so one epoch slowed
    by another process on the machine does not shorten the plan; two do.
    When fewer epochs fit than planned, training stops after the last epoch
    that fits, and a `schedule` (`dlapps.optimizers.EndsWithTraining`) is
    told to end there, so the learning rate still anneals fully. The plan
    only ever shrinks (the schedule has been told where to end), and the
    budget itself still stops the run mid-epoch if the pace drops later.

    After `fit` returns, `stopped_early` tells whether the budget ended the
    run, `elapsed` holds the seconds the run took, and `planned_end` the
    epoch count the budget allowed (`None` if all planned epochs fit).

    Args:
        seconds: float > 0. The budget in seconds.
        backup: `keras.callbacks.BackupAndRestore` or `None`. If given and
            the budget stops the run, that callback's backup is kept instead
            of being deleted when `fit` returns, so the next `fit` with the
            same backup directory resumes where this one stopped. Defaults
            to `None`.
        verbose: int. 1 prints one line to stderr when the budget stops the
            run, 0 is silent. Defaults to `1`.
        schedule: `dlapps.optimizers.EndsWithTraining` or `None`. The
            optimizer's learning-rate schedule, compressed to end where the
            budget ends training. Defaults to `None`.

    Example:

    >>> budget = TimeBudget(3600)
    >>> model.fit(dataset, epochs=1000, callbacks=[budget])  # doctest: +SKIP
    >>> budget.stopped_early  # doctest: +SKIP
    True
    """

    def __init__(self, seconds, backup=None, verbose=1, schedule=None):
        super().__init__()
        if not isinstance(seconds, numbers.Real) or isinstance(seconds, bool):
            raise ValueError(f"seconds must be a number > 0, got {seconds!r}")
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        self.seconds = float(seconds)
        self.backup = backup
        self.verbose = verbose
        self.schedule = schedule
        self.stopped_early = False
        self.elapsed = 0.0
        self.planned_end = None
        self._start = None
        self._kept_backup = False
        self._epoch_seconds = []
        self._epoch_start = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self.stopped_early = False
        self.elapsed = 0.0
        self.planned_end = None
        self._epoch_seconds = []
        # A backup kept by the previous fit must be cleaned up normally by
        # this one if it runs to its end.
        if self._kept_backup:
            self.backup.delete_checkpoint = True
            self._kept_backup = False

    def on_train_batch_end(self, batch, logs=None):
        self._check_budget()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self._check_budget()
        if self.stopped_early or self._epoch_start is None:
            return
        self._epoch_seconds.append(time.monotonic() - self._epoch_start)
        # The first epoch of a fit also traces and compiles; the ones after it show the
        # steady pace. The lower median of two or more ignores one slow outlier.
        steady = self._epoch_seconds[1:]
        if len(steady) < 2:
            return
        planned = (self.params or {}).get("epochs")
        if not planned:
            return
        epoch_seconds = statistics.median_low(steady)
        fits = epoch + 1 + int((self.seconds - self.elapsed) // epoch_seconds)
        if fits < min(planned, self.planned_end or planned):
            self.planned_end = fits
            steps = (self.params or {}).get("steps")
            if self.schedule is not None and steps:
                self.schedule.end_at(fits * steps)
            if self.verbose and epoch + 1 < fits:
                print(
                    f"TimeBudget: {fits} of {planned} epochs fit in {self.seconds:g}s; "
                    "the learning-rate schedule now ends there",
                    file=sys.stderr,
                )
        if self.planned_end is not None and epoch + 1 >= self.planned_end:
            self._stop(f"after epoch {epoch + 1}: the budget leaves no room for another")

    def on_train_end(self, logs=None):
        self.elapsed = time.monotonic() - self._start

    def _check_budget(self):
        self.elapsed = time.monotonic() - self._start
        if self.stopped_early or self.elapsed < self.seconds:
            return
        self._stop(f"after {self.elapsed:.1f}s (budget {self.seconds:g}s)")

    def _stop(self, reason):
        self.stopped_early = True
        self.model.stop_training = True
        if self.backup is not None and self.backup.delete_checkpoint:
            self.backup.delete_checkpoint = False
            self._kept_backup = True
        if self.verbose:
            print(f"TimeBudget: stopping training {reason}", file=sys.stderr)


class BuildOptimizer(keras.callbacks.Callback):
    """Creates the optimizer's variables when `fit` begins, before a step is traced.

    With no distribution strategy, Keras creates the optimizer's variables
    (its step count and each weight's moments) inside the first traced
    training step, and a `tf.function` whose first trace creates variables
    is traced a second time. Built here first, the step is traced once: the
    detector's first `fit` takes 13 s instead of 25, with the same weights.
    Under a strategy, Keras builds the optimizer itself and this does
    nothing. A new optimizer (a second `compile`) is built at its `fit`. A
    model with its own `train_step` knows best which variables its
    optimizers update (a GAN has two): it is built through its
    `build_optimizers()` method when it has one, and left alone otherwise.

    Example:

    >>> model.fit(x, y, callbacks=[BuildOptimizer()])  # doctest: +SKIP
    """

    def on_train_begin(self, logs=None):
        model, optimizer = self.model, self.model.optimizer
        if type(model).train_step is not keras.Model.train_step:
            if callable(getattr(model, "build_optimizers", None)):
                model.build_optimizers()
            return
        if optimizer is not None and not optimizer.built and model.trainable_variables:
            optimizer.build(model.trainable_variables)


def _tensorboard_installed():
    return importlib.util.find_spec("tensorboard") is not None


def _best_logged_value(history_csv, monitor, mode):
    """Best `monitor` value of the latest run logged in `history_csv`, or None.

    The latest run starts at the last row with epoch 0, since resumed runs
    continue the epoch count. Returns None when the file, the column or the
    direction of improvement is unknown.
    """
    if mode == "auto":
        # Keras resolves "auto" from the compiled metrics, which do not exist
        # yet; only losses are known to improve downwards without them.
        if not monitor.removeprefix("val_").endswith("loss"):
            return None
        mode = "min"
    if not history_csv.is_file():
        return None
    with history_csv.open(newline="") as file:
        rows = list(csv.DictReader(file))
    starts = [i for i, row in enumerate(rows) if row.get("epoch") == "0"]
    values = []
    for row in rows[starts[-1] if starts else 0 :]:
        try:
            value = float(row.get(monitor) or "nan")
        except ValueError:
            continue
        if not math.isnan(value):
            values.append(value)
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


def standard_callbacks(
    workdir,
    monitor="val_loss",
    mode="auto",
    patience=10,
    time_budget_seconds=None,
    tensorboard=True,
    csv_log=True,
    backup=True,
    checkpoint=True,
    restore_best_weights=True,
    schedule=None,
):
    """Returns the callbacks every training run uses, writing under `workdir`.

    In order:

    - `BuildOptimizer()`, always: the first training step is traced once,
      not twice.
    - `keras.callbacks.BackupAndRestore(workdir/"backup")`, if `backup`:
      saves weights, optimizer state and epoch at the end of every epoch. If
      `fit` is interrupted (crash, Ctrl-C, preempted machine), a new `fit`
      with callbacks from the same `workdir` restores that state and
      continues from the next epoch; when `fit` ends normally the backup is
      deleted. It goes first so the state is restored before any other
      callback runs. The model must be built before `fit` (e.g. start it
      with `keras.Input`).
    - `keras.callbacks.ModelCheckpoint(workdir/"best.keras")`, if
      `checkpoint`: saves the whole model each time `monitor` improves.
    - `keras.callbacks.EarlyStopping`, unless `patience` is `None`: stops
      after `patience` epochs without improvement of `monitor`, and with
      `restore_best_weights` puts back the weights of the best epoch.
    - `keras.callbacks.TensorBoard(workdir/"logs")`, if `tensorboard`;
      left out with a warning when the `tensorboard` package is missing,
      which TensorFlow 2.21 no longer installs.
    - `keras.callbacks.CSVLogger(workdir/"history.csv", append=True)`, if
      `csv_log`: appends so that a resumed run keeps its earlier rows.
    - `TimeBudget(time_budget_seconds)`, if given: it ends training after
      the last epoch that fits (ending `schedule` there too); a run it stops
      keeps its backup and resumes on the next `fit`.

    On a resumed run (a backup exists), Keras starts ModelCheckpoint and
    EarlyStopping afresh, so the first resumed epoch would count as the best
    so far and could overwrite a better `best.keras`. To prevent that, the
    best `monitor` value logged in `history.csv` is passed on as their
    starting point when its direction is known: `mode` `"min"` or `"max"`, or
    a monitor ending in `loss`. EarlyStopping's patience counter restarts at
    0 on resume, and `restore_best_weights` restores the best epoch since
    the resume; `best.keras` holds the best over the whole run.

    Args:
        workdir: str or `pathlib.Path`. Directory for the run's files,
            created if missing.
        monitor: str. Quantity that defines the best epoch, a key of the
            epoch logs such as `"val_loss"` or `"val_accuracy"`; `val_`
            quantities need `validation_data` in `fit`. Defaults to
            `"val_loss"`.
        mode: str. `"min"`, `"max"`, or `"auto"` to infer the direction from
            the compiled metrics. Defaults to `"auto"`.
        patience: int >= 0 or `None`. Epochs without improvement before
            early stopping; `None` disables early stopping. Defaults to `10`.
        time_budget_seconds: float > 0 or `None`. Wall-clock budget of each
            `fit` call. Defaults to `None` (no budget).
        tensorboard: bool. Add TensorBoard logging. Defaults to `True`.
        csv_log: bool. Add the CSV history. Defaults to `True`.
        backup: bool. Add BackupAndRestore. Defaults to `True`.
        checkpoint: bool. Add the best-model checkpoint. Defaults to `True`.
        restore_best_weights: bool. Whether EarlyStopping restores the best
            weights when training ends. Defaults to `True`.
        schedule: `dlapps.optimizers.EndsWithTraining` or `None`: the
            learning-rate schedule the time budget ends early when it must.

    Returns:
        A list of `keras.callbacks.Callback`, to pass as `fit(callbacks=...)`.

    Raises:
        ValueError: if `mode`, `patience` or `time_budget_seconds` is invalid.

    Example:

    >>> callbacks = standard_callbacks("runs/mnist", patience=5)  # doctest: +SKIP
    >>> model.fit(
    ...     train, validation_data=val, epochs=100, callbacks=callbacks
    ... )  # doctest: +SKIP
    """
    if mode not in _MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(_MODES)}")
    if patience is not None and (
        not isinstance(patience, numbers.Integral) or isinstance(patience, bool) or patience < 0
    ):
        raise ValueError(
            f"patience must be an integer >= 0, or None to disable early stopping; got {patience!r}"
        )
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    backup_dir = workdir / "backup"
    best_so_far = None
    if backup and backup_dir.exists():
        best_so_far = _best_logged_value(workdir / "history.csv", monitor, mode)

    callbacks = [BuildOptimizer()]
    backup_callback = None
    if backup:
        backup_callback = keras.callbacks.BackupAndRestore(str(backup_dir))
        callbacks.append(backup_callback)
    if checkpoint:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(workdir / "best.keras"),
                monitor=monitor,
                mode=mode,
                save_best_only=True,
                initial_value_threshold=best_so_far,
            )
        )
    if patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=mode,
                patience=patience,
                baseline=best_so_far,
                restore_best_weights=restore_best_weights,
            )
        )
    if tensorboard and _tensorboard_installed():
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(workdir / "logs")))
    elif tensorboard:
        # TensorFlow 2.21 no longer installs TensorBoard, and Keras' callback
        # only fails at the end of the first epoch; a run should not die for
        # want of its logs.
        warnings.warn(
            "TensorBoard is not installed, so no logs are written to "
            f"{workdir / 'logs'}: `pip install tensorboard`, or pass "
            "tensorboard=False to silence this warning",
            stacklevel=2,
        )
    if csv_log:
        callbacks.append(keras.callbacks.CSVLogger(str(workdir / "history.csv"), append=True))
    if time_budget_seconds is not None:
        callbacks.append(TimeBudget(time_budget_seconds, backup=backup_callback, schedule=schedule))
    return callbacks


class SampleGrid(keras.callbacks.Callback):
    """Writes a PNG grid of images from a fixed input every `every` epochs.

    For generative models: the same noise each time, so the grids show how
    the generator's output for one input evolves. The last grid is also
    written as `final.png`.

    Args:
        generate: `callable(model) -> uint8 images (n, height, width, channels)`,
            called with the model being trained.
        directory: where to write `epoch_NNN.png` and `final.png`.
        every: epochs between grids.

    Example:

    >>> SampleGrid(lambda model: model.generate(64, seed=0), "runs/gan/samples", every=5)
    """

    def __init__(self, generate, directory, every=5):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.generate = generate
        self.directory = pathlib.Path(directory)
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._write(f"epoch_{epoch + 1:03d}.png")

    def on_train_end(self, logs=None):
        self._write("final.png")

    def _write(self, name):
        from dlapps.report import save_image_grid

        self.directory.mkdir(parents=True, exist_ok=True)
        save_image_grid(self.generate(self.model), self.directory / name)


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


def anneal_to_budget(config, num_train_examples):
    """The `AnnealToBudget` callback for a run whose schedule is "constant", else none.

    An app that anneals to its time budget sets `schedule: "constant"` in its
    defaults and returns this from `extra_callbacks`: warmup over the first
    epoch (at most a tenth of training), then a cosine that ends where
    training ends. A user's own `--schedule` leaves the optimizer to it.
    """
    if config.schedule != "constant":
        return []
    steps_per_epoch = math.ceil(num_train_examples / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    return [
        AnnealToBudget(
            config.learning_rate,
            total_steps,
            warmup_steps=min(steps_per_epoch, total_steps // 10),
            seconds=config.time_budget,
        )
    ]
