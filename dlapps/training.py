"""The one training driver every application goes through.

data (tf.data) -> model built in the strategy's scope -> `model.fit` with the
shared optimizer and callbacks -> evaluation on the test split -> export
(SavedModel + TFLite, each checked) -> report.

Example:

>>> from dlapps import training
>>> from dlapps.application import get_application
>>> config = training.TrainConfig(app="vision", epochs=5)
>>> result = training.run(get_application("vision"), config)
>>> result.report["metrics"]["accuracy"]
0.97...
"""

import dataclasses
import math
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from dlapps import callbacks as callbacks_lib
from dlapps import distribute, optimizers, report, runs
from dlapps.errors import UserError
from dlapps.export import export_model, exporter

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run; `None` means "the application's default".

    Attributes:
        app: application name.
        data: the `--data` value (app-specific; e.g. "digits", a folder,
            "tfds:mnist").
        epochs, batch_size: training length and per-replica batch size.
        optimizer, learning_rate, schedule, warmup_epochs, weight_decay,
            momentum, nesterov, clipnorm: see `dlapps.optimizers`.
        strategy: see `dlapps.distribute.get_strategy`.
        precision: "float32", "mixed_float16" (GPUs) or "mixed_bfloat16"
            (TPUs, recent CPUs and GPUs): the Keras dtype policy while the
            model is built; variables and outputs stay float32.
        jit_compile: "auto" (Keras' choice: XLA on GPUs and TPUs, not on
            CPUs, where it was several times slower here), "on" or "off".
        output: parent of the exported version directories.
        workdir: checkpoints, logs and the resume backup go to
            `<workdir>/<app>`.
        time_budget: stop training cleanly after this many seconds.
        patience: early-stopping patience in epochs (`None`: the app's
            default; 0: no early stopping).
        restart: discard an interrupted run's backup instead of resuming.
        export: write a new version under `output` after training.
        tflite: the TFLite formats to write (e.g. `("tflite_int8",)`);
            `None` writes every format the app offers, `()` none.
        seed: seeds data splits, initialisation and shuffling.
        verbose: Keras' progress output (0 silent, 1 bar, 2 one line/epoch).
        options: the application's own settings (e.g. vision's `model`).
    """

    app: str
    data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    schedule: str | None = None
    warmup_epochs: float | None = None
    weight_decay: float | None = None
    momentum: float | None = None
    nesterov: bool = False
    clipnorm: float | None = None
    strategy: str = "auto"
    precision: str = "float32"
    jit_compile: str = "auto"
    output: str = "saved_models"
    workdir: str = "runs"
    time_budget: float | None = None
    patience: int | None = None
    restart: bool = False
    export: bool = True
    tflite: tuple | None = None
    seed: int = 0
    verbose: int | str = "auto"
    options: dict = dataclasses.field(default_factory=dict)

    def with_defaults(self, defaults):
        """A copy where every `None` setting takes the application's default."""
        values = {
            field.name: defaults[field.name]
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is None and field.name in defaults
        }
        return dataclasses.replace(self, **values)


@dataclasses.dataclass
class TrainResult:
    """What `run` returns: the model, its data, history and the export report."""

    model: keras.Model
    data: object
    history: dict
    metrics: dict
    report: dict


def run(application, config):
    """Trains, evaluates and (unless `config.export` is False) exports one app.

    Returns:
        A `TrainResult`; `result.report` is the exported `report.json`
        (or, without export, the metrics and training summary).
    """
    config = config.with_defaults(application.training_defaults(config))
    if config.precision not in PRECISIONS:
        raise UserError(
            f"unknown precision {config.precision!r}: choose one of {', '.join(PRECISIONS)}"
        )
    if config.jit_compile not in JIT_COMPILE:
        raise UserError(
            f"unknown jit_compile {config.jit_compile!r}: choose one of {', '.join(JIT_COMPILE)}"
        )
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        return _run(application, config)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _run(application, config):
    # First: multi-worker collectives must be configured before any other TF op.
    try:
        strategy = distribute.get_strategy(config.strategy)
    except ValueError as error:  # a bad --strategy or TF_CONFIG
        raise UserError(str(error)) from None
    keras.utils.set_random_seed(config.seed)
    worker = distribute.worker_role(strategy)
    workdir = Path(config.workdir) / application.name
    if worker.multi_worker:
        # Each worker keeps its own backup (one shared h5 file would collide);
        # only the chief writes checkpoints, logs and the export.
        workdir = workdir / f"worker_{worker.index}"
        if config.time_budget:
            # Workers stopping at different epochs would wait on each other forever.
            print("multi-worker training: the time budget is off", file=sys.stderr)
            config = dataclasses.replace(config, time_budget=None)
    figures_dir = workdir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)

    # Fail on a bad optimizer setting before spending time on data.
    try:
        _make_optimizer(application, config, total_steps=1000, warmup_steps=0)
    except ValueError as error:  # a bad --optimizer, --schedule, --momentum...
        raise UserError(str(error)) from None
    application.check_options(config.options)
    exporter.check_tflite_formats(config.tflite)
    data = application.load_data(config)
    # Resume only the very same run; say what differs otherwise.
    fingerprint = runs.run_fingerprint(application, config, data)
    runs.prepare_run_directory(workdir, fingerprint, restart=config.restart)
    global_batch_size = config.batch_size * strategy.num_replicas_in_sync
    train_dataset, validation_dataset = application.datasets(data, global_batch_size, config.seed)
    if worker.multi_worker:
        train_dataset, validation_dataset = (
            distribute.shard_by_data(d) for d in (train_dataset, validation_dataset)
        )
    if isinstance(strategy, tf.distribute.TPUStrategy):
        train_dataset, validation_dataset = (
            distribute.static_batches(d, global_batch_size)
            for d in (train_dataset, validation_dataset)
        )
    steps_per_epoch = math.ceil(application.num_train_examples(data) / global_batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = min(int(round((config.warmup_epochs or 0) * steps_per_epoch)), total_steps - 1)

    with strategy.scope():
        model = application.build_model(config, data)
        if worker.multi_worker:
            distribute.synchronize_batch_norm(model)
        optimizer, schedule = _make_optimizer(
            application, config, total_steps, max(0, warmup_steps)
        )
        model.compile(
            optimizer=optimizer,
            jit_compile=JIT_COMPILE[config.jit_compile],
            **application.compile_arguments(config, data),
        )

    callbacks = callbacks_lib.standard_callbacks(
        workdir,
        monitor=application.defaults.get("monitor", "val_loss"),
        mode=application.defaults.get("monitor_mode", "auto"),
        checkpoint=application.defaults.get("checkpoint", True) and worker.is_chief,
        tensorboard=worker.is_chief,
        patience=config.patience or None,
        time_budget_seconds=config.time_budget,
        schedule=schedule,
    )
    callbacks += application.extra_callbacks(config, data, workdir)
    start = time.perf_counter()
    history = {}
    phases, phase, initial_epoch, planned_epochs = 0, None, 0, config.epochs
    while phases == 0 or phase is not None:
        if phase is not None:
            # A further phase: a fresh optimizer at the phase's learning rate, epochs continue.
            phase_config = dataclasses.replace(config, learning_rate=phase.learning_rate)
            with strategy.scope():
                optimizer, schedule = _make_optimizer(
                    application, phase_config, steps_per_epoch * phase.epochs, 0
                )
                model.compile(
                    optimizer=optimizer,
                    jit_compile=JIT_COMPILE[config.jit_compile],
                    **application.compile_arguments(config, data),
                )
            planned_epochs += phase.epochs
            for callback in callbacks:
                if isinstance(callback, callbacks_lib.TimeBudget):
                    # One budget for the whole run, and the new phase's schedule to end.
                    callback.seconds = max(1.0, config.time_budget - (time.perf_counter() - start))
                    callback.schedule = schedule
        fitted = model.fit(
            train_dataset,
            validation_data=validation_dataset,
            initial_epoch=initial_epoch,
            epochs=initial_epoch + (phase.epochs if phase else config.epochs),
            callbacks=callbacks,
            verbose=config.verbose,
            shuffle=False,  # the tf.data pipeline shuffles; Keras would only warn
        )
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        # Counted from epoch 1 across resumes: how far the planned run got.
        initial_epoch = fitted.epoch[-1] + 1 if fitted.epoch else initial_epoch
        phases += 1
        stopped_by = _stopped_by(callbacks)
        budget_spent = stopped_by == "time budget"
        phase = None if budget_spent else application.next_phase(model, config, data, phases)
    seconds = time.perf_counter() - start
    jit_compiled = bool(model.jit_compile)

    if config.precision != "float32" or worker.multi_worker:
        # Evaluation and export run on one machine, outside the strategy.
        model = _local_float32_copy(application, config, data, model)
    if worker.multi_worker:
        # Every worker keeps what it trained: the copies must be equal.
        model.save_weights(workdir / "final.weights.h5")
    if not worker.is_chief:
        distribute.barrier(strategy)  # stay up until the chief has exported
        runs.finish_run(workdir)
        summary = {"app": application.name, "worker": worker.index, "history": history}
        return TrainResult(model, data, history, {}, summary)
    metrics, details, figures = application.evaluate(model, data, figures_dir)
    if history:
        figures.insert(0, report.plot_history(history, figures_dir / "training_curves.png"))
    training = {
        "epochs": len(next(iter(history.values()), [])),
        "epochs_completed": initial_epoch,
        "planned_epochs": planned_epochs,
        "stopped_by": stopped_by,
        "phases": phases,
        "seconds": round(seconds, 2),
        "examples_per_second": round(
            application.num_train_examples(data) * len(next(iter(history.values()), [])) / seconds,
            1,
        ),
        "optimizer": config.optimizer,
        "learning_rate": config.learning_rate,
        "schedule": config.schedule,
        "batch_size": global_batch_size,
        "strategy": distribute.describe_strategy(strategy),
        "precision": config.precision,
        "jit_compile": jit_compiled,
        "history": history,
    }
    extra = {
        "data": data.summary(),
        "training": training,
        "evaluation": details,
        "run": fingerprint,
    }
    if config.export:
        spec = exporter.with_tflite_formats(application.export_spec(model, data), config.tflite)
        exported = export_model(spec, config.output, metrics, extra, figures)
    else:
        exported = {"app": application.name, "metrics": metrics, **extra}
    # Finished: a time budget's backup must not make the next run resume this one.
    runs.finish_run(workdir)
    if worker.multi_worker:
        distribute.barrier(strategy)
    return TrainResult(model, data, history, metrics, exported)


def _make_optimizer(application, config, total_steps, warmup_steps):
    """The optimizer, and its `EndsWithTraining` schedule (None for a constant rate)."""
    schedule = optimizers.make_schedule(
        config.schedule,
        config.learning_rate,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        # "step" decays tenfold at a third and two thirds of training.
        decay_steps=max(1, total_steps // 3),
    )
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        # A time budget that ends training early ends the schedule there too.
        schedule = optimizers.EndsWithTraining(schedule, total_steps)
    optimizer = optimizers.make_optimizer(
        config.optimizer,
        schedule,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
        clipnorm=config.clipnorm,
        **application.defaults.get("optimizer_options", {}),
    )
    return optimizer, schedule if isinstance(schedule, optimizers.EndsWithTraining) else None


def _stopped_by(callbacks):
    """What ended training before its planned epochs: "time budget", "early stopping" or None.

    A callback of an app's own that stops training says why in its
    `stop_reason` attribute (e.g. `dlapps.experience.GoalReached`).
    """
    for callback in callbacks:
        if getattr(callback, "stop_reason", None):
            return callback.stop_reason
        if isinstance(callback, callbacks_lib.TimeBudget) and callback.stopped_early:
            return "time budget"
        if isinstance(callback, keras.callbacks.EarlyStopping) and callback.stopped_epoch > 0:
            return "early stopping"
    return None


def _local_float32_copy(application, config, data, model):
    """The trained model rebuilt under the float32 policy, outside any strategy.

    Exports run everywhere (TFLite builtins, CPUs without bfloat16) and are
    compared against this copy, so mixed precision stays a training choice;
    and after multi-worker training the chief evaluates and exports it
    alone, without the other workers.
    """
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        copy = application.build_model(config, data)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    copy.set_weights(model.get_weights())
    return copy
