"""The faces app: split by person, the ArcFace loss, galleries, exports, CLI and edge runner.

One module fixture trains the app for a few dozen steps on a few generated people
through the driver and exports it (float32 and full-int8 TFLite only, to keep the
tests fast); recognition quality is measured in benchmarks/. A tiny one-class
detector (untrained weights, its head set so that any non-black region is a
face) checks the `--detector` wiring.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scripts import ROOT

from dlapps import cli

EDGE = ROOT / "export" / "edge"


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """`(TrainResult, version directory, team folder of test people's photos)`."""
    from dlapps import training
    from dlapps.application import get_application
    from dlapps.export import export_model
    from dlapps.faces import Gallery
    from dlapps.faces.exported_embedder import weights_fingerprint

    root = tmp_path_factory.mktemp("faces")
    app = get_application("faces")
    config = training.TrainConfig(
        app="faces",
        data="generated:16x8",
        epochs=3,
        # Small batches: more steps for the batch-norm statistics to settle in (with 8,
        # inference-mode embeddings were near-constant: cosine 0.9995 between people).
        batch_size=4,
        optimizer="adam",  # AdamW's weight decay only adds tracing time here
        workdir=str(root / "runs"),
        export=False,
        verbose=0,
        options={"augment": False},
    )
    result = training.run(app, config)
    # Exported with a gallery of two test photos baked in (`--gallery` at export).
    embedder = result.model.get_layer("embedder")
    templates = embedder.predict(result.data.test[0][[0, 8]].astype("float32"), verbose=0)
    fingerprint = weights_fingerprint(embedder)
    baked = Gallery(["p0", "p1"], templates, 0.99999, fingerprint, "fixture")
    result.data.gallery_path = baked.save(root / "baked.npz")
    spec = app.export_spec(result.model, result.data)
    spec = dataclasses.replace(spec, tflite_formats=("tflite_float32", "tflite_int8"))
    version = Path(export_model(spec, root / "saved_models", result.metrics)["path"])
    team = root / "team"
    images, people = result.data.test
    for index, (image, person) in enumerate(zip(images, people, strict=True)):
        folder = team / result.data.names[person]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index}.png")
    return result, version, team


def test_the_split_never_shares_a_person():
    from dlapps.faces import load_generated, split_people

    for people in (6, 37, 600):
        train, validation, test = split_people(people, seed=3)
        assert not set(train) & set(validation) and not set(train) & set(test)
        assert not set(validation) & set(test)
        assert len(train) + len(validation) + len(test) == people
    assert not np.array_equal(split_people(50, seed=0)[2], split_people(50, seed=1)[2])
    data = load_generated(seed=0, identities=12, photos=3)
    names = [set(np.asarray(data.labels)[data.train[1]])]
    names += [{data.names[p] for p in split[1]} for split in (data.validation, data.test)]
    assert all(not a & b for i, a in enumerate(names) for b in names[i + 1 :])
    # Held-out photos for the validation loss are of training people, never fitted on.
    assert len(data.holdout[1]) == 0 or set(data.holdout[1]) <= set(data.fitting[1])


def test_arcface_loss_decreases_on_a_toy_set_and_the_margin_costs():
    import keras

    from dlapps.faces import ArcFaceLoss, CosineHead

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8))
    labels = np.repeat(np.arange(4), 32)
    points = (centres[labels] + 0.3 * rng.normal(size=(128, 8))).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), CosineHead(4)])
    model.compile(keras.optimizers.Adam(0.02), loss=ArcFaceLoss(scale=16.0, margin=0.3))
    history = model.fit(points, labels, epochs=20, batch_size=64, verbose=0).history["loss"]
    assert history[-1] < 0.3 * history[0]
    cosines = keras.ops.convert_to_tensor(model.predict(points, verbose=0))
    assert np.mean(np.argmax(cosines, axis=1) == labels) > 0.95
    with_margin = float(ArcFaceLoss(16.0, 0.3)(labels, cosines))
    without = float(ArcFaceLoss(16.0, 0.0)(labels, cosines))
    assert with_margin > without


def test_face_augmentation_moves_faces_in_training_only():
    from dlapps.faces.face_augmentation import FaceAugmentation

    images = np.zeros((16, 32, 32, 3), "float32")
    images[:, 8:24, 4:12] = 200.0  # a bright bar left of centre
    layer = FaceAugmentation(shift=0.0, rotation=0.0, zoom=0.0, brightness=0.0, contrast=0.0)
    np.testing.assert_array_equal(layer(images), images)  # inference: unchanged
    out = np.asarray(layer(images, training=True))
    flipped = out[:, :, 20:28].mean(axis=(1, 2, 3)) > 50  # the bar moved to the right
    assert 0 < flipped.sum() < 16 and np.allclose(out[~flipped], images[~flipped], atol=1e-3)
    moved = np.asarray(FaceAugmentation(seed=1)(images, training=True))
    assert moved.min() >= 0 and moved.max() <= 255 and np.abs(moved - images).mean() > 5
    assert FaceAugmentation.from_config(layer.get_config()).get_config() == layer.get_config()


def test_the_threshold_is_set_on_comparisons_with_other_peoples_templates():
    from dlapps.faces.identification import impostor_similarities

    rng = np.random.default_rng(0)
    people = np.repeat(np.arange(5), 6)
    centres = rng.normal(size=(5, 16))
    embeddings = centres[people] + 0.3 * rng.normal(size=(30, 16))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    impostor, genuine = impostor_similarities(embeddings, people, photos_per_person=3)
    # 3 query photos per person, each against 4 other templates and its own.
    assert len(impostor) == 5 * 3 * 4 and len(genuine) == 5 * 3
    assert genuine.min() > np.median(impostor)
    two = impostor_similarities(embeddings[::3], people[::3], photos_per_person=3)
    assert len(two[1]) == 5  # two photos each: one enrolled, one left to query


def test_a_gallery_round_trips_and_refuses_another_model(tmp_path):
    from dlapps.errors import UserError
    from dlapps.faces import Gallery

    rng = np.random.default_rng(0)
    templates = rng.normal(size=(3, 128)).astype("float32")
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    gallery = Gallery(["ada", "bo", "cy"], templates, 0.4, "abc", "1")
    path = gallery.save(tmp_path / "team.npz")
    loaded = Gallery.load(path, expected_fingerprint="abc")
    assert loaded.names == ["ada", "bo", "cy"] and loaded.threshold == pytest.approx(0.4)
    np.testing.assert_array_equal(loaded.embeddings, templates)
    best, similarity, known = loaded.match(templates[[2, 0]])
    assert best.tolist() == [2, 0] and known.all()
    with pytest.raises(UserError, match="enrolled with another model .version 1"):
        Gallery.load(path, expected_fingerprint="def", expected_version="2")
    with pytest.raises(UserError, match="already exists"):
        gallery.save(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a dlapps face gallery"):
        Gallery.load(tmp_path / "junk.npz")


def test_enroll_predict_and_verify_through_the_cli(faces, capsys):
    result, version, team = faces
    gallery = team.parent / "team.npz"
    assert cli.main(["enroll", str(version), str(team), "--out", str(gallery)]) == 0
    assert "enrolled 3 people" in capsys.readouterr().out
    # Never overwritten silently.
    assert cli.main(["enroll", str(version), str(team), "--out", str(gallery)]) == 1
    assert "already exists: choose another --out or pass --force" in capsys.readouterr().err
    # Each enrolled person's photos find that person (their own template is near).
    people = sorted(p.name for p in team.iterdir())
    photos = [sorted((team / p).iterdir())[0] for p in people]
    assert cli.main(["predict", str(version), *map(str, photos), "--gallery", str(gallery)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    found = [line.split(": ")[1].split(" ")[0] for line in lines]
    closest = [p if f == "unknown" else f for p, f in zip(people, found, strict=True)]
    assert sum(c == p for c, p in zip(closest, people, strict=True)) >= 2, lines
    assert cli.main(["verify", str(version), str(photos[0]), str(photos[0])]) == 0
    assert "similarity 1.000" in capsys.readouterr().out
    corrupt = team.parent / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    assert cli.main(["verify", str(version), str(photos[0]), str(corrupt)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "could not decode image" in error[0] and "corrupt.jpg" in error[0]


def test_a_gallery_of_another_model_version_is_one_line(faces, capsys, tmp_path):
    from dlapps.faces import Gallery

    _, version, team = faces
    other = Gallery(["x"], np.eye(1, 128, dtype="float32"), 0.5, "0" * 16, "7")
    path = other.save(tmp_path / "other.npz")
    photo = next((next(team.iterdir())).iterdir())
    assert cli.main(["predict", str(version), str(photo), "--gallery", str(path)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "enrolled with another model (version 7" in error[0]


def test_training_refuses_a_person_with_one_photo(tmp_path, capsys):
    for person in ("ada", "bo", "cy", "di", "ed", "fi"):
        for index in range(1 if person == "bo" else 2):
            (tmp_path / person).mkdir(exist_ok=True)
            Image.new("RGB", (20, 20), (index * 40, 80, 90)).save(
                tmp_path / person / f"{index}.png"
            )
    arguments = ["train", "faces", "--data", str(tmp_path), "--workdir", str(tmp_path / "r")]
    assert cli.main(arguments) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert "person 'bo'" in error[0] and "1 photo(s)" in error[0] and "enrol" in error[0]


def test_the_savedmodel_loads_in_a_fresh_process_with_its_baked_in_gallery(faces, tmp_path):
    result, version, _ = faces
    embedder = result.model.get_layer("embedder")
    images = result.data.test[0][:10]
    reference = embedder.predict(images.astype("float32"), verbose=0)
    np.save(tmp_path / "images.npy", images)
    script = f"""
import json, numpy as np, tensorflow as tf
images = np.load({str(tmp_path / "images.npy")!r})
loaded = tf.saved_model.load({str(version)!r})
model, identify = loaded.signatures["serving_default"], loaded.signatures["identify"]
big = tf.image.resize(images, (97, 80)).numpy().round().astype(np.uint8)
grey = images.mean(-1, keepdims=True).round().astype(np.uint8)
out = identify(images=images)
print(json.dumps({{
    "same": model(images=images)["embeddings"].numpy().tolist(),
    "big": model(images=big)["embeddings"].numpy().tolist(),
    "grey": model(images=grey)["embeddings"].numpy().shape[-1],
    "person": [p.decode() for p in out["person"].numpy()],
    "similarity": out["similarity"].numpy().tolist(),
}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd="/", timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    output = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(output["same"], reference, atol=1e-4)
    cosine = np.sum(np.asarray(output["big"]) * reference, axis=1)
    assert cosine.min() > 0.8  # resized in the graph: still the same faces
    assert output["grey"] == reference.shape[-1]
    assert output["person"][0] == "p0" and output["person"][8] == "p1"
    assert output["similarity"][0] == pytest.approx(1.0, abs=1e-4)
    assert "unknown" in output["person"]  # other photos fall below a threshold this high


def test_the_edge_runner_identifies_without_tensorflow(faces, tmp_path):
    result, version, team = faces
    gallery = tmp_path / "team.npz"
    assert (
        cli.main(["enroll", str(version / "faces_int8.tflite"), str(team), "--out", str(gallery)])
        == 0
    )
    photos = [str(sorted(folder.iterdir())[0]) for folder in sorted(team.iterdir())]
    code = (
        "import sys\n"
        "for name in ('tensorflow', 'dlapps'): sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(EDGE)!r})\n"
        "import identify\n"
        f"sys.exit(identify.main([{str(version / 'faces_int8.tflite')!r}, *{photos!r}, "
        f"'--gallery', {str(gallery)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and all("similarity" in line for line in lines)
    other = tmp_path / "other.npz"
    np.savez(
        other,
        names=np.asarray(["x"]),
        embeddings=np.eye(1, 128, dtype="float32"),
        threshold=np.float32(0.5),
        model_fingerprint=np.asarray("f" * 16),
        model_version=np.asarray("9"),
    )
    code = code.replace(str(gallery), str(other))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: gallery {other} was enrolled with another model (version 9): "
        "enrol again with this model (dlapps enroll MODEL FOLDER --out NEW.npz)"
    ]


def test_mediapipe_image_embedder_gives_the_litert_embeddings(faces):
    from mediapipe_env import require_mediapipe

    from dlapps.export import TFLiteModel, mediapipe_metadata

    require_mediapipe()
    result, version, _ = faces
    report = json.loads((version / "report.json").read_text())
    assert report["mediapipe"]["written"] and report["mediapipe"]["api"] == "ImageEmbedder"
    images = result.data.test[0][::6]
    models = [version / "faces_float32.tflite", version / "faces_int8.tflite"]
    for model, mediapipe in zip(
        models, mediapipe_metadata.mediapipe_embeddings(models, images), strict=True
    ):
        (litert,) = TFLiteModel(model).run_batched({"images": images}).values()
        assert np.abs(litert[:, None] - litert[None]).max() > 0.1  # a different face each
        # The graph takes raw pixels and normalises them itself; the metadata says so
        # (identity normalisation). int8 on this barely trained model: MediaPipe's int8
        # kernels round differently, so single images may dip a little lower.
        cosine = (mediapipe * litert).sum(-1) / np.linalg.norm(mediapipe, axis=-1)
        assert cosine.mean() >= 0.999, (model.name, cosine)
        assert cosine.min() >= (0.999 if "float32" in model.name else 0.99), (model.name, cosine)


def _on_black(face, top=110, left=20, side=192):
    """A square whole photo: `face` pasted on black (square, so no grey letterbox padding)."""
    canvas = np.zeros((side, side, 3), "uint8")
    canvas[top : top + face.shape[0], left : left + face.shape[1]] = face
    return canvas


@pytest.fixture(scope="module")
def face_detector(faces, tmp_path_factory):
    """A one-class detection SavedModel (untrained backbone) that finds non-black regions.

    Its class head is set to weigh every feature alike, scaled so that a face
    pasted on black scores ~1 where black alone scores 0.01 (below the 0.5
    threshold); its box head gives fixed distances around each location.
    """
    import keras

    from dlapps.export.saved_model import write_saved_model
    from dlapps.vision import detection_serving
    from dlapps.vision.detection_postprocess import letterbox
    from dlapps.vision.detector import build_detector

    keras.utils.set_random_seed(0)
    model = build_detector(1, image_size=64, model="mobiledet_s", weights="none")
    boxes, classes = model.get_layer("head_boxes"), model.get_layer("head_classes")
    boxes.set_weights([np.zeros_like(boxes.get_weights()[0]), np.full(4, 2.0, "float32")])
    ones = np.ones_like(classes.get_weights()[0])
    classes.set_weights([ones, np.zeros(1, "float32")])
    reference, _ = letterbox(_on_black(faces[0].data.test[0][0])[None], 64)
    strongest = float(np.max(model(reference, training=False)[0, :, 4]))
    classes.set_weights([ones * 20.0 / strongest, np.full(1, -4.6, "float32")])
    settings = {"max_detections": 5, "score_threshold": 0.5, "iou_threshold": 0.5}
    endpoints = detection_serving.serving_endpoints(model, ["face"], 64, settings)
    path = tmp_path_factory.mktemp("detector") / "1"
    return write_saved_model(model, endpoints[:1], path)


def test_a_detector_crops_whole_photos_and_names_a_photo_without_a_face(
    faces, face_detector, tmp_path, capsys
):
    from dlapps.faces import face_data
    from dlapps.faces.face_cropper import FaceCropper

    result, version, _ = faces
    images = result.data.test[0]
    photos = tmp_path / "photos"
    for person, index in (("ann", 0), ("bob", 8), ("cat", 16)):
        (photos / person).mkdir(parents=True)
        Image.fromarray(_on_black(images[index])).save(photos / person / "whole.png")
    cropper = FaceCropper(face_detector)
    box, score = cropper.box(np.asarray(Image.open(photos / "ann" / "whole.png")))
    assert score > 0.5 and 110 <= (box[0] + box[2]) / 2 <= 174 and 20 <= (box[1] + box[3]) / 2 <= 84
    whole = np.asarray(Image.open(photos / "ann" / "whole.png"))
    crop = cropper.crop(whole, "ann")
    assert crop.shape[0] == crop.shape[1] < 192 and crop.mean() > 1.5 * whole.mean()
    # Training and export load folders through the same crop.
    loaded = face_data.load_photos([photos / "ann" / "whole.png"], (64, 64), cropper)
    assert loaded.shape == (1, 64, 64, 3)
    gallery = tmp_path / "g.npz"
    detector = ["--detector", str(face_detector)]
    model = str(version / "faces_int8.tflite")  # loads faster than the SavedModel
    assert cli.main(["enroll", model, str(photos), "--out", str(gallery), *detector]) == 0
    whole = [str(photos / p / "whole.png") for p in ("ann", "bob", "cat")]
    capsys.readouterr()
    assert cli.main(["predict", model, *whole, "--gallery", str(gallery), *detector]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == ["ann", "bob", "cat"]
    black = tmp_path / "black.png"
    Image.new("RGB", (96, 96)).save(black)  # square: no grey letterbox padding
    assert cli.main(["verify", model, whole[0], str(black), *detector]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "black.png: no face found by the detector" in error[0]
    train = ["train", "faces", *detector, "--workdir", str(tmp_path / "runs")]
    assert cli.main(train) == 1  # the generated people are crops already
    assert "--detector crops whole photos of a folder" in capsys.readouterr().err
