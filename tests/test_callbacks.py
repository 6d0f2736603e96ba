"""Tests for dlapps.callbacks: the time budget and resumable standard callbacks."""

from __future__ import annotations

import csv
import time

import keras
import numpy as np
import pytest

from dlapps import callbacks as callbacks_module
from dlapps.callbacks import BuildOptimizer, TimeBudget, standard_callbacks


def regression_data(samples=64):
    x = np.random.default_rng(0).normal(size=(samples, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    return x, y


def small_model(learning_rate=0.05):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate), loss="mse")
    return model


class RecordEpochs(keras.callbacks.Callback):
    """Records the epochs run and the optimizer step count when fit starts."""

    def __init__(self):
        super().__init__()
        self.epochs = []
        self.iterations_at_start = None

    def on_train_begin(self, logs=None):
        self.iterations_at_start = int(self.model.optimizer.iterations)

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


class CrashAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError(f"simulated crash at epoch {epoch}")


class CountBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def read_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("seconds", [0, -1.0, "10", True])
def test_time_budget_rejects_a_budget_that_is_not_a_positive_number(seconds):
    with pytest.raises(ValueError, match="seconds must be"):
        TimeBudget(seconds)


def test_time_budget_stops_a_long_fit_soon_after_the_budget(capsys):
    x, y = regression_data(256)
    budget = TimeBudget(0.5)
    start = time.monotonic()
    history = small_model().fit(x, y, epochs=1000, batch_size=8, verbose=0, callbacks=[budget])
    took = time.monotonic() - start
    assert budget.stopped_early is True
    assert len(history.epoch) < 1000
    # It stops after the last epoch that fits, or mid-epoch at the budget at the latest.
    assert 0.25 <= budget.elapsed < 5.0
    assert took < 10.0
    assert "TimeBudget: stopping training after" in capsys.readouterr().err


def test_time_budget_stops_in_the_middle_of_an_epoch():
    x, y = regression_data(4000)
    budget, counter = TimeBudget(0.3, verbose=0), CountBatches()
    history = small_model().fit(
        x, y, epochs=1, batch_size=1, verbose=0, callbacks=[budget, counter]
    )
    assert budget.stopped_early is True
    assert len(history.epoch) == 1
    assert 0 < counter.batches < 4000


def test_time_budget_leaves_a_short_fit_alone():
    x, y = regression_data()
    budget = TimeBudget(600)
    history = small_model().fit(x, y, epochs=2, verbose=0, callbacks=[budget])
    assert budget.stopped_early is False
    assert history.epoch == [0, 1]
    assert 0.0 < budget.elapsed < 600


def test_standard_callbacks_come_in_order_with_their_files(tmp_path, monkeypatch):
    monkeypatch.setattr(callbacks_module, "_tensorboard_installed", lambda: True)
    workdir = tmp_path / "runs" / "first"
    callbacks = standard_callbacks(
        str(workdir), monitor="val_accuracy", mode="max", time_budget_seconds=60
    )
    assert workdir.is_dir()
    assert [type(callback) for callback in callbacks] == [
        BuildOptimizer,
        keras.callbacks.BackupAndRestore,
        keras.callbacks.ModelCheckpoint,
        keras.callbacks.EarlyStopping,
        keras.callbacks.TensorBoard,
        keras.callbacks.CSVLogger,
        TimeBudget,
    ]
    _, backup, checkpoint, early_stopping, tensorboard, csv_logger, budget = callbacks
    assert backup.backup_dir == str(workdir / "backup")
    assert backup.delete_checkpoint is True
    assert checkpoint.filepath == str(workdir / "best.keras")
    assert checkpoint.save_best_only is True
    assert checkpoint.monitor == "val_accuracy"
    assert early_stopping.patience == 10
    assert early_stopping.restore_best_weights is True
    assert early_stopping.mode == "max"
    assert tensorboard.log_dir == str(workdir / "logs")
    assert csv_logger.filename == str(workdir / "history.csv")
    assert csv_logger.append is True
    assert budget.seconds == 60
    assert budget.backup is backup


def test_standard_callbacks_flags_leave_callbacks_out(tmp_path):
    callbacks = standard_callbacks(
        tmp_path,
        patience=None,
        tensorboard=False,
        csv_log=False,
        backup=False,
        checkpoint=False,
    )
    assert [type(callback) for callback in callbacks] == [BuildOptimizer]


def test_missing_tensorboard_is_left_out_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(callbacks_module, "_tensorboard_installed", lambda: False)
    with pytest.warns(UserWarning, match="pip install tensorboard"):
        callbacks = standard_callbacks(tmp_path)
    assert not any(isinstance(c, keras.callbacks.TensorBoard) for c in callbacks)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"mode": "maximum"}, "unknown mode 'maximum': choose one of auto, min, max"),
        ({"patience": -1}, "patience must be an integer >= 0"),
        ({"time_budget_seconds": 0}, "seconds must be > 0"),
    ],
)
def test_standard_callbacks_reject_bad_arguments(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        standard_callbacks(tmp_path, tensorboard=False, **arguments)


class CountTrainingTraces(keras.layers.Layer):
    """Passes its input through; counts the training steps traced through it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.training_traces = 0

    def call(self, inputs, training=None):
        if training:  # Python runs this once per trace, not per step
            self.training_traces += 1
        return inputs


@pytest.mark.parametrize(("callbacks", "traces"), [([], 2), ([BuildOptimizer()], 1)])
def test_build_optimizer_makes_fit_trace_its_training_step_once(callbacks, traces):
    counter = CountTrainingTraces()
    model = keras.Sequential([keras.Input((3,)), counter, keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), loss="mse")
    x, y = regression_data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=callbacks)
    # Keras alone creates Adam's variables inside the first trace, so tf.function traces again.
    assert counter.training_traces == traces
    assert model.optimizer.iterations.numpy() == 8


def test_interrupted_fit_resumes_after_the_last_finished_epoch(tmp_path):
    x, y = regression_data()
    fit_arguments = dict(x=x, y=y, validation_data=(x, y), epochs=8, batch_size=16, verbose=0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        small_model().fit(
            **fit_arguments,
            callbacks=standard_callbacks(tmp_path, tensorboard=False) + [CrashAtEpoch(3)],
        )
    assert (tmp_path / "backup").is_dir()
    assert (tmp_path / "best.keras").is_file()

    recorder = RecordEpochs()
    history = small_model().fit(
        **fit_arguments,
        callbacks=standard_callbacks(tmp_path, tensorboard=False) + [recorder],
    )
    # The crash came after epoch 3 was backed up, so the run goes on at 4 with
    # the weights and optimizer state of the end of epoch 3 (4 epochs x 4 steps).
    assert recorder.epochs == [4, 5, 6, 7]
    assert history.epoch == [4, 5, 6, 7]
    assert recorder.iterations_at_start == 16
    assert [row["epoch"] for row in read_rows(tmp_path / "history.csv")] == [
        str(epoch) for epoch in range(8)
    ]
    assert (tmp_path / "best.keras").is_file()
    assert not (tmp_path / "backup").exists()


def test_resumed_run_starts_checkpoint_and_early_stopping_from_the_logged_best(
    tmp_path,
):
    (tmp_path / "backup").mkdir()
    with open(tmp_path / "history.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["epoch", "loss", "val_loss", "val_accuracy"])
        # An earlier, finished run in the same directory, then the current one.
        writer.writerow([0, 1.0, 0.01, 0.99])
        writer.writerow([0, 2.0, 0.9, 0.50])
        writer.writerow([1, 1.5, 0.4, 0.70])
        writer.writerow([2, 1.2, 0.6, 0.60])

    callbacks = standard_callbacks(tmp_path, tensorboard=False)
    checkpoint, early_stopping = callbacks[2], callbacks[3]
    assert checkpoint.best == pytest.approx(0.4)
    assert early_stopping.baseline == pytest.approx(0.4)

    callbacks = standard_callbacks(tmp_path, monitor="val_accuracy", mode="max", tensorboard=False)
    assert callbacks[2].best == pytest.approx(0.70)

    # With "auto" the direction of accuracy is only known once Keras has the
    # compiled metrics, so nothing is assumed.
    callbacks = standard_callbacks(tmp_path, monitor="val_accuracy", tensorboard=False)
    assert callbacks[2].best is None

    # Without a backup the next fit starts from scratch, so the log is history.
    (tmp_path / "backup").rmdir()
    callbacks = standard_callbacks(tmp_path, backup=True, tensorboard=False)
    assert callbacks[2].best is None


def test_time_budget_stop_keeps_the_backup_so_the_next_fit_resumes(tmp_path):
    x, y = regression_data(256)
    budget_callbacks = standard_callbacks(
        tmp_path, monitor="loss", time_budget_seconds=0.5, tensorboard=False
    )
    history = small_model().fit(
        x, y, epochs=1000, batch_size=8, verbose=0, callbacks=budget_callbacks
    )
    assert budget_callbacks[-1].stopped_early is True
    assert (tmp_path / "backup").is_dir()

    stopped_at = history.epoch[-1]
    recorder = RecordEpochs()
    small_model().fit(
        x,
        y,
        epochs=stopped_at + 3,
        batch_size=8,
        verbose=0,
        callbacks=standard_callbacks(tmp_path, monitor="loss", tensorboard=False) + [recorder],
    )
    assert recorder.epochs == [stopped_at + 1, stopped_at + 2]
    assert not (tmp_path / "backup").exists()


def test_early_stopping_ends_the_run_normally_and_deletes_the_backup(tmp_path):
    x, y = regression_data()
    model = small_model(learning_rate=0.0)
    history = model.fit(
        x,
        y,
        epochs=50,
        batch_size=len(x),
        shuffle=False,
        verbose=0,
        callbacks=standard_callbacks(tmp_path, monitor="loss", patience=2, tensorboard=False),
    )
    # A zero learning rate never improves the loss: stop after patience epochs.
    # One unshuffled batch an epoch makes the loss bit-identical; with several
    # shuffled batches, summation order alone can "improve" it by an ulp.
    assert history.epoch == [0, 1, 2]
    assert not (tmp_path / "backup").exists()
    assert len(read_rows(tmp_path / "history.csv")) == 3


def test_time_budget_ends_the_cosine_schedule_where_training_ends():
    from dlapps.optimizers import EndsWithTraining

    class SlowEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.2)

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    schedule = EndsWithTraining(keras.optimizers.schedules.CosineDecay(0.1, 400), 400)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(schedule), "mse")
    budget = TimeBudget(2.0, schedule=schedule, verbose=0)
    history = model.fit(
        x, y, batch_size=16, epochs=100, callbacks=[SlowEpochs(), budget], verbose=0
    )
    epochs = len(history.epoch)
    assert 3 <= epochs < 100
    assert budget.planned_end == epochs and budget.stopped_early
    # Cut at its planned 100 epochs, a cosine would still be near 0.1 here.
    assert float(schedule(model.optimizer.iterations)) < 1e-3


def test_time_budget_does_not_shorten_the_plan_for_one_slow_epoch():
    class OneSlowEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(2.0 if epoch == 1 else 0.1)  # another job took the CPU for a while

    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    budget = TimeBudget(6.0, verbose=0)
    history = model.fit(
        x, y, batch_size=16, epochs=6, callbacks=[OneSlowEpoch(), budget], verbose=0
    )
    # Projected from epoch 1 alone, no further epoch would have fitted after it.
    assert len(history.epoch) == 6
    assert budget.planned_end is None and not budget.stopped_early
