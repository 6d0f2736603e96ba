import pytest

from dlapps import training
from dlapps.application import get_application
from dlapps.errors import UserError


def _config(tmp_path, **overrides):
    values = dict(
        app="vision",
        output=str(tmp_path / "out"),
        workdir=str(tmp_path / "runs"),
        verbose=0,
        export=False,
    )
    values.update(overrides)
    return training.TrainConfig(**values)


def test_trained_digits_model_beats_chance_by_far(trained_vision):
    assert trained_vision.metrics["accuracy"] > 0.8
    assert trained_vision.report["training"]["epochs"] == 3


def test_time_budget_stops_a_long_run_early(tmp_path):
    result = training.run(get_application("vision"), _config(tmp_path, epochs=500, time_budget=3.0))
    training_report = result.report["training"]
    assert 1 <= training_report["epochs"] < 500
    assert training_report["seconds"] < 30
    assert training_report["planned_epochs"] == 500
    assert training_report["stopped_by"] == "time budget"
    # The run finished (evaluated): nothing is left for the next run to resume.
    assert not (tmp_path / "runs" / "vision" / "backup").exists()


def test_unknown_optimizer_fails_before_any_data_is_loaded(tmp_path):
    config = _config(tmp_path, optimizer="adma", data=str(tmp_path / "missing"))
    with pytest.raises(UserError, match="unknown optimizer 'adma': choose one of adam, adamw"):
        training.run(get_application("vision"), config)


def test_unknown_application_lists_the_known_ones():
    from dlapps.application import APPLICATIONS

    assert {"gan", "vision", "translation"} <= set(APPLICATIONS)
    # Every registered app, in order, so a new app's registry line needs no edit here.
    with pytest.raises(UserError, match="choose one of " + ", ".join(sorted(APPLICATIONS))):
        get_application("visoin")


def test_folder_of_shapes_trains_to_95_percent(tmp_path, shapes_folder):
    config = _config(
        tmp_path,
        data=str(shapes_folder),
        epochs=20,  # 1.0 at 20 and 30 epochs (seed 0), 0.94 at 12
        batch_size=16,
        patience=0,
        options={"image_size": (32, 32), "backbone": "small_cnn"},  # from scratch
    )
    result = training.run(get_application("vision"), config)
    assert result.metrics["accuracy"] >= 0.95


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_and_hands_back_a_float32_model(tmp_path, precision):
    import keras
    import numpy as np

    # float16 is emulated on CPUs (the default-width CNN takes minutes for one
    # epoch), so a narrow CNN without augmentation on the digits' own 8x8 pixels:
    # this test is about the policy round trip, not accuracy.
    options = {"cnn_filters": (8, 16), "augment": False, "image_size": (8, 8)}
    config = _config(tmp_path, epochs=2, precision=precision, options=options)
    result = training.run(get_application("vision"), config)
    assert result.report["training"]["precision"] == precision
    assert result.model.dtype_policy.name == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"
    # The handed-back model computes in float32 and gives finite,
    # input-dependent answers (not one class for every image).
    images = result.data.test[0][:200]
    probabilities = keras.ops.convert_to_numpy(result.model(images, training=False))
    assert probabilities.dtype == np.float32
    assert np.isfinite(probabilities).all()
    assert len(np.unique(probabilities.argmax(axis=-1))) > 1


def test_jit_compile_on_trains_with_xla(tmp_path):
    # Keras' random augmentation layers do not support XLA, so leave them out.
    options = {"augment": False, "cnn_filters": (8, 16)}  # narrow: XLA compiles it faster
    # XLA compiles a step once per batch shape: one batch per split, no smaller last one.
    config = _config(tmp_path, epochs=1, batch_size=2048, jit_compile="on", options=options)
    result = training.run(get_application("vision"), config)
    assert result.report["training"]["jit_compile"] is True


def test_unknown_precision_lists_the_valid_ones(tmp_path):
    with pytest.raises(UserError, match="choose one of float32, mixed_float16, mixed_bfloat16"):
        training.run(get_application("vision"), _config(tmp_path, precision="float16"))


def test_summary_says_how_many_of_the_planned_epochs_ran():
    from dlapps import report

    training_report = {
        "epochs": 9,
        "epochs_completed": 17,
        "planned_epochs": 30,
        "seconds": 251.0,
        "stopped_by": "time budget",
    }
    summary = {"app": "speech_kws", "version": 2, "metrics": {}, "exports": []}
    text = report.format_summary({**summary, "training": training_report})
    assert (
        "trained 17 of 30 planned epochs (9 in this run, 251.0 s), stopped by time budget" in text
    )


def test_summary_columns_never_run_together():
    from dlapps import report

    metrics = {"rouge1": 0.78843, "rouge2": 0.67151, "rougeL": 0.76151}
    exports = [
        {"format": "saved_model", "bytes": 2048, "metrics": metrics, "identical_to_keras": 1.0},
        {"format": "tflite_int8", "bytes": 1024, "metrics": {"return": 500.0}, "latency_ms": 0.5},
    ]
    text = report.format_summary(
        {"app": "summarization", "version": 1, "metrics": {}, "exports": exports}
    )
    saved_model, int8 = text.splitlines()[-2:]
    # Before: "rougeL 0.7615100.0% same" (a metric and the parity column as one number).
    assert "rougeL 0.7615  " in saved_model and saved_model.rstrip().endswith("100.0% same")
    assert int8.split()[-2:] == ["-", "0.500"]
