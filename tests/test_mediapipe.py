"""The vision TFLite files load in MediaPipe Tasks' ImageClassifier and answer as LiteRT does."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from mediapipe_env import require_mediapipe
from PIL import Image
from scripts import load_script

from dlapps.export import TFLiteModel, exporter, load_saved_model, mediapipe_metadata

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("float32", "float16", "dynamic_int8", "int8")
SCORE_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def version(trained_vision):
    return Path(trained_vision.report["path"])


def test_every_vision_variant_runs_in_mediapipe_as_on_litert(trained_vision, version):
    require_mediapipe()
    report = trained_vision.report
    assert report["mediapipe"] == {
        "task": "image_classifier",
        "api": "ImageClassifier",
        "written": True,
        "options": {},
    }
    grey = trained_vision.data.test[0]
    rgb = np.repeat(grey, 3, axis=-1)  # what a camera gives
    models = [version / f"vision_{variant}.tflite" for variant in VARIANTS]
    scores, labels = mediapipe_metadata.mediapipe_scores(models, "image_classifier", rgb)
    expected_labels = (version / "labels.txt").read_text().splitlines()
    keras = trained_vision.model.predict(grey, verbose=0).argmax(-1)
    assert len(set(keras)) == 10  # a trained model, not a constant answer
    for model, mediapipe, names in zip(models, scores, labels, strict=True):
        assert names == expected_labels, model.name
        assert mediapipe_metadata.read_metadata_labels(model.read_bytes()) == expected_labels
        litert = TFLiteModel(model).run_batched({"images": rgb})["probabilities"]
        assert (mediapipe.argmax(-1) == litert.argmax(-1)).all(), model.name
        np.testing.assert_allclose(mediapipe, litert, atol=SCORE_TOLERANCE, err_msg=model.name)
        assert (litert.argmax(-1) == keras).mean() >= 0.97, model.name


def test_metadata_adds_under_two_percent_and_keeps_the_answers(trained_vision):
    for entry in trained_vision.report["exports"][1:]:
        assert 0 < entry["metadata_bytes"] < 0.02 * entry["bytes"], entry["path"]
    float32 = {e["format"]: e for e in trained_vision.report["exports"]}["tflite_float32"]
    assert float32["max_abs_diff"] <= 1e-5


def test_greyscale_model_takes_rgb_and_rgba_everywhere(trained_vision, version):
    grey = trained_vision.data.test[0][:16]
    expected = trained_vision.model.predict(grey, verbose=0)
    rgb = np.repeat(grey, 3, axis=-1)
    rgba = np.concatenate([rgb, np.full_like(grey, 255)], axis=-1)
    signature = load_saved_model(version).signatures["serving_default"]
    for images in (grey, rgb, rgba):
        probabilities = signature(images=images)["probabilities"].numpy()
        np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    with pytest.raises(Exception, match="1 \\(grey\\), 3 \\(RGB\\) or 4"):
        signature(images=np.zeros((1, 8, 8, 2), np.uint8))
    # Colour is turned into luma as Pillow's "L" does, within rounding.
    colour = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    luma = np.stack([np.asarray(Image.fromarray(c).convert("L"))[..., None] for c in colour])
    np.testing.assert_allclose(
        signature(images=colour)["probabilities"].numpy(),
        signature(images=luma)["probabilities"].numpy(),
        atol=0.02,
    )
    tflite = TFLiteModel(version / "vision_float32.tflite")
    np.testing.assert_allclose(tflite({"images": rgb})["probabilities"], expected, atol=1e-5)


def test_edge_runner_needs_only_the_tflite_file(trained_vision, version, tmp_path):
    alone = tmp_path / "model.tflite"
    shutil.copy(version / "vision_int8.tflite", alone)  # no labels.txt beside it
    litert = load_script("litert", ROOT / "export" / "edge" / "litert.py")
    classify = load_script("edge_classify", ROOT / "export" / "edge" / "classify.py")
    assert litert.metadata_labels(alone) == trained_vision.data.labels
    image = tmp_path / "digit.png"
    Image.fromarray(trained_vision.data.test[0][0][..., 0], "L").save(image)
    (result,) = classify.classify(alone, [image], top_k=1)
    expected = trained_vision.model.predict(trained_vision.data.test[0][:1], verbose=0)
    assert result["top"][0]["label"] == trained_vision.data.labels[expected.argmax()]


def test_export_without_mediapipe_reports_it_and_keeps_the_files(trained_vision, monkeypatch):
    def unavailable():
        raise mediapipe_metadata.MetadataUnavailable("no MediaPipe environment (test)")

    monkeypatch.setattr(mediapipe_metadata, "mediapipe_python", unavailable)
    spec = SimpleNamespace(mediapipe_task="image_classifier", labels=["a"], mediapipe_options={})
    files = {"vision_float32.tflite": b"plain"}
    kept, report = exporter._add_mediapipe_metadata(spec, files)
    assert kept == files
    assert report["written"] is False and "no MediaPipe environment" in report["reason"]


def test_image_embedder_kind_loads_in_mediapipe_image_embedder(tmp_path):
    """The kind the face embedder will name: MediaPipe's embeddings equal LiteRT's."""
    import keras
    import tensorflow as tf

    require_mediapipe()
    keras.utils.set_random_seed(0)
    images = keras.Input((16, 16, 3), dtype="uint8", name="images")
    x = keras.layers.Rescaling(1 / 255)(keras.ops.cast(images, "float32"))
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.Dense(16)(keras.layers.GlobalAveragePooling2D()(x))
    embedder = keras.Model(images, keras.layers.UnitNormalization()(x))
    content = tf.lite.TFLiteConverter.from_keras_model(embedder).convert()
    path = tmp_path / "embedder.tflite"
    path.write_bytes(mediapipe_metadata.write_metadata({"e": content}, "image_embedder")["e"])
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (8, 1, 1, 3))  # a different colour per image, and noise
    pixels = np.clip(colours + rng.integers(-20, 21, (8, 16, 16, 3)), 0, 255).astype(np.uint8)
    (mediapipe,) = mediapipe_metadata.mediapipe_embeddings([path], pixels)
    (litert,) = TFLiteModel(path).run_batched({"images": pixels}).values()
    assert np.abs(litert[:, None] - litert[None]).max() > 0.1  # a different vector per image
    cosine = (mediapipe * litert).sum(-1) / np.linalg.norm(mediapipe, axis=-1)
    assert cosine.min() >= 0.999
