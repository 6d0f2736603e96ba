"""Shared fixtures: data made once per session, one small trained-and-exported model."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    from dlapps import vision

    return vision.load_digits()


@pytest.fixture(scope="session")
def shapes_folder(tmp_path_factory):
    """A folder of drawn shapes in four classes, mixed sizes and formats."""
    from dlapps.vision.shapes import write_shapes_folder

    return write_shapes_folder(tmp_path_factory.mktemp("shapes"), images_per_class=60)


@pytest.fixture(scope="session")
def trained_vision(tmp_path_factory):
    """The vision app trained 3 epochs on digits through the driver, and exported.

    Returns the driver's `TrainResult`; `result.report["path"]` is the
    version directory.
    """
    from dlapps import training
    from dlapps.application import get_application

    root = tmp_path_factory.mktemp("vision")
    config = training.TrainConfig(
        app="vision",
        epochs=3,
        output=str(root / "saved_models"),
        workdir=str(root / "runs"),
        verbose=0,
    )
    return training.run(get_application("vision"), config)
