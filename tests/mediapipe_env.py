"""The MediaPipe environment for tests: skipped without one, unless `make test` requires it."""

import os

import pytest

from dlapps.export import mediapipe_metadata


def require_mediapipe():
    """Skips the test when there is no MediaPipe environment (fails under `make test`)."""
    try:
        return mediapipe_metadata.mediapipe_python()
    except mediapipe_metadata.MetadataUnavailable as error:
        if os.environ.get("DLAPPS_REQUIRE_MEDIAPIPE"):
            pytest.fail(str(error))
        pytest.skip(str(error))
