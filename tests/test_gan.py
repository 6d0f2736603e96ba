import numpy as np
import pytest

from dlapps import gan, training
from dlapps.application import get_application
from dlapps.callbacks import BuildOptimizer
from dlapps.gan import gan_app
from dlapps.vision import to_dataset


@pytest.fixture(scope="module")
def digit_batches(digits):
    """256 digits at 16x16, scaled to [-1, 1], in batches of 32 with labels."""
    import tensorflow as tf

    images, labels = digits.resized((16, 16)).train
    split = (images[:256], labels[:256])
    return to_dataset(split, 32).map(lambda x, y: (tf.cast(x, tf.float32) / 127.5 - 1.0, y))


@pytest.mark.parametrize("flavour", ["dcgan", "conditional", "wgan_gp"])
def test_each_flavour_trains_with_model_fit_without_nan(flavour, digit_batches):
    num_classes = 10 if flavour == "conditional" else None
    generator = gan.build_generator(16, (16, 16, 1), num_classes)
    discriminator = gan.build_discriminator((16, 16, 1), num_classes)
    if flavour == "dcgan":
        model = gan.DCGAN(generator, discriminator, 16, label_smoothing=0.1)
    elif flavour == "conditional":
        model = gan.ConditionalGAN(generator, discriminator, 16, num_classes=10)
    else:
        model = gan.WGANGP(generator, discriminator, 16, critic_steps=2)
    model.compile("adam")
    traces = []
    train_step = model.train_step

    def counting_train_step(data):  # Python runs this once per trace, not per step
        traces.append(1)
        return train_step(data)

    model.train_step = counting_train_step
    history = model.fit(
        digit_batches.take(3), epochs=2, verbose=0, callbacks=[BuildOptimizer()]
    ).history
    # Both optimizers exist before the first trace (build_optimizers), so it is the only one.
    assert len(traces) == 1
    assert set(history) == {"generator_loss", "discriminator_loss"}
    assert np.isfinite(history["generator_loss"]).all()
    assert np.isfinite(history["discriminator_loss"]).all()
    images = model.generate(5, labels=[0, 1, 2, 3, 4] if num_classes else None)
    assert images.shape == (5, 16, 16, 1) and images.dtype == np.uint8


def test_generator_output_maps_to_uint8_pixels():
    pixels = gan.to_uint8(np.array([-1.0, -0.999, 0.0, 1.0, 1.5], "float32")).numpy()
    assert pixels.tolist() == [0, 0, 128, 255, 255]


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift():
    features = np.random.default_rng(0).normal(size=(400, 8))
    assert gan.frechet_distance(features, features) < 1e-6
    assert gan.frechet_distance(features, features + 1.0) == pytest.approx(8.0, rel=0.05)


def test_generator_needs_sides_divisible_by_four():
    with pytest.raises(ValueError, match="multiples of 4"):
        gan.build_generator(16, (18, 18, 1))


@pytest.fixture(scope="module")
def trained_gan(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan")
    config = training.TrainConfig(
        app="gan",
        epochs=2,
        output=str(root / "saved_models"),
        workdir=str(root / "runs"),
        verbose=0,
        options={"gan": "conditional", "samples_every": 1, "classifier_epochs": 3},
        seed=1,  # the feature classifier once trained with seed 0 whatever the run's seed
    )
    # The float32 file only, the one these tests run (each variant is converted
    # and scored on 1000 images); test_app_script_gan.py exports all three.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gan_app, "TFLITE_FORMATS", ("tflite_float32",))
        return training.run(get_application("gan"), config)


def test_conditional_gan_goes_through_the_driver_and_exports(trained_gan):
    report = trained_gan.report
    assert {"fid", "fid_floor", "label_accuracy"} <= set(report["metrics"])
    exports = {e["format"]: e for e in report["exports"]}
    assert set(exports) == {"saved_model", "tflite_float32"}
    # Same noise, same images: float32 TFLite within one grey level of Keras.
    assert exports["saved_model"]["max_abs_diff"] <= 1
    assert exports["tflite_float32"]["max_abs_diff"] <= 1
    # The files are scored on the samples the Keras model was (FID grows as samples shrink).
    keras_fid = report["metrics"]["fid"]
    assert exports["saved_model"]["metrics"]["fid"] == pytest.approx(keras_fid, rel=1e-4)
    assert exports["tflite_float32"]["metrics"]["fid"] == pytest.approx(keras_fid, rel=1e-4)
    assert "figures/samples.png" in report["figures"]


def test_sample_grids_are_written_during_training(trained_gan):
    from pathlib import Path

    samples = Path(trained_gan.report["path"]).parents[2] / "runs" / "gan" / "samples"
    assert (samples / "epoch_001.png").is_file() and (samples / "final.png").is_file()


def test_predict_writes_a_grid_of_the_requested_label(trained_gan, tmp_path, capsys):
    from PIL import Image

    from dlapps import cli

    version = trained_gan.report["path"]
    out = tmp_path / "threes.png"
    assert cli.main(["predict", version, "--num", "16", "--label", "3", "--out", str(out)]) == 0
    # 16 images of 16x16 in rows of 8, one-pixel borders, drawn 4x larger.
    assert Image.open(out).size == ((8 * 17 + 1) * 4, (2 * 17 + 1) * 4)
    tflite_out = tmp_path / "tflite.png"
    status = cli.main(
        [
            "predict",
            f"{version}/gan_float32.tflite",
            "--num",
            "16",
            "--label",
            "3",
            "--out",
            str(tflite_out),
        ]
    )
    assert status == 0
    saved = np.asarray(Image.open(out), "int16")
    converted = np.asarray(Image.open(tflite_out), "int16")
    assert np.abs(saved - converted).max() <= 1


def test_predict_rejects_a_label_out_of_range(trained_gan, capsys):
    from dlapps import cli

    status = cli.main(["predict", trained_gan.report["path"], "--label", "12"])
    assert status == 1
    assert "--label 12 is out of range: use 0 to 9" in capsys.readouterr().err


def test_mixed_float16_gan_scales_its_losses_and_stays_finite(digit_batches):
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = gan.DCGAN(
            gan.build_generator(16, (16, 16, 1)), gan.build_discriminator((16, 16, 1)), 16
        )
        model.compile("adam")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.generator_optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(digit_batches.take(2), epochs=1, verbose=0).history
    assert np.isfinite(history["generator_loss"]).all()
    assert model.generator.output.dtype == "float32"


def test_serving_client_noise_body_fits_the_generator_signature(
    trained_gan, tmp_path, serving_client, tf_serving
):
    body = serving_client.build_noise_body(3, latent_dim=64, label=7, seed=1)
    images = tf_serving(trained_gan.report["path"], body)["images"]
    assert images.shape == (3, 16, 16, 1) and images.dtype == np.uint8
    expected = trained_gan.model.generate_from(
        {"noise": np.array(body["inputs"]["noise"], "float32"), "label": np.array([7, 7, 7])}
    )
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1
    serving_client.write_netpbm(tmp_path / "seven.pgm", images[0].tolist())
    data = (tmp_path / "seven.pgm").read_bytes()
    assert data.startswith(b"P5\n16 16\n255\n") and len(data) == len(b"P5\n16 16\n255\n") + 256


def test_feature_classifier_trained_on_the_runs_own_split_whatever_the_seed(trained_gan):
    import json

    from dlapps import runs, vision
    from dlapps.datasets import default_cache_dir

    split = runs.split_signatures(vision.load_digits(seed=1))  # what the seed-1 run split
    classifier_runs = default_cache_dir().glob("gan_feature_classifiers/run-*/vision/run.json")
    trained_on = [json.loads(path.read_text()) for path in classifier_runs]
    ours = [run for run in trained_on if run["seed"] == 1]
    assert any(run["splits"] == split for run in ours)
    # Seed 0's split (which the classifier used to be trained on) holds seed 1's test digits.
    assert split["test"] != runs.split_signatures(vision.load_digits(seed=0))["test"]


def test_floor_uses_as_many_real_images_as_the_score(trained_gan, tmp_path):
    data = trained_gan.data

    class RealImages:
        """A perfect generator: it draws real training digits."""

        conditional = False
        latent_dim = 8

        def generate_from(self, inputs):
            order = np.random.default_rng(5).permutation(len(data.train[1]))
            return data.train[0][order[: len(inputs["noise"])]]

        def generate(self, count, labels=None, seed=5):  # the sample grid
            return self.generate_from({"noise": np.zeros((count, self.latent_dim))})

    metrics, details, _ = get_application("gan").evaluate(RealImages(), data, tmp_path)
    assert details["scored_samples"] == min(1000, len(data.train[1]))
    assert abs(metrics["fid"] - metrics["fid_floor"]) < 0.25 * metrics["fid_floor"]


def test_evaluate_and_export_gan_take_the_best_generator(trained_gan, tmp_path, capsys):
    from pathlib import Path

    from dlapps import cli

    best = Path(trained_gan.report["path"]).parents[2] / "runs" / "gan" / "best_generator.keras"
    assert cli.main(["evaluate", "gan", str(best)]) == 0
    out = capsys.readouterr().out
    assert "fid:" in out and "label_accuracy:" in out
    export = ["export", "gan", str(best), "--output", str(tmp_path), "--tflite", "tflite_float32"]
    assert cli.main(export) == 0
    assert [p.name for p in (tmp_path / "gan" / "1").glob("*.tflite")] == ["gan_float32.tflite"]


def test_predict_never_overwrites_an_existing_grid(trained_gan, tmp_path, capsys):
    from dlapps import cli

    out = tmp_path / "samples.png"
    out.write_bytes(b"the user's picture")
    assert cli.main(["predict", trained_gan.report["path"], "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == b"the user's picture"
