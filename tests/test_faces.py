"""The faces app: split by person, the ArcFace loss, galleries, exports, CLI and edge runner.

One module fixture trains the app for a few dozen steps on a few generated people
through the driver and exports it (full-int8 TFLite only, to keep the
tests fast); recognition quality is measured in benchmarks/.
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
        batch_size=8,
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
    spec = dataclasses.replace(spec, tflite_formats=("tflite_int8",))
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
