"""The detection app: boxes through augmentation, VOC/COCO/TFDS data, NMS in TFLite, COCO mAP,
and one tiny detector trained through the driver and exported (shared by the export tests)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scripts import ROOT, load_script

from dlapps.errors import UserError
from dlapps.vision import box_augment, detection_data, detection_metrics
from dlapps.vision import detection_postprocess as post

EDGE = ROOT / "export" / "edge"


# --- boxes under augmentation -------------------------------------------------------------


def test_crop_window_moves_clips_and_drops_boxes():
    boxes = tf.constant(
        [[10.0, 10.0, 30.0, 30.0], [40.0, 40.0, 60.0, 60.0], [90.0, 90.0, 99.0, 99.0], [0, 0, 0, 0]]
    )
    classes = tf.constant([0, 1, 2, -1])
    # Zoom in 2x on the top-left quarter of a 100-pixel image, no flip.
    moved, kept = box_augment.transform_boxes(
        boxes, classes, tf.constant([0.0, 0.0, 50.0, 50.0]), 100, tf.constant(False)
    )
    np.testing.assert_allclose(moved[0], [20, 20, 60, 60])
    # Half inside by side, a quarter by area: below the 40% kept -> dropped.
    assert kept.numpy().tolist() == [0, -1, -1, -1]
    # Zoom out (window larger than the image) and flip.
    moved, kept = box_augment.transform_boxes(
        boxes, classes, tf.constant([0.0, 0.0, 200.0, 200.0]), 100, tf.constant(True)
    )
    np.testing.assert_allclose(moved[0], [5, 85, 15, 95])
    assert kept.numpy().tolist() == [0, 1, 2, -1]


def test_augmented_boxes_stay_on_their_objects():
    tf.random.set_seed(3)
    image = np.zeros((64, 64, 3), "uint8")
    image[10:30, 20:50] = 255  # one white object
    boxes = np.array([[10.0, 20.0, 30.0, 50.0]], "float32")
    checked = 0
    for _ in range(12):
        pixels, moved, kept = box_augment.augment(image, boxes, tf.constant([0]), 64)
        if kept.numpy()[0] < 0:
            continue
        ymin, xmin, ymax, xmax = moved.numpy()[0]
        rows, cols = np.nonzero(pixels.numpy()[..., 0] > 127)
        # The bright pixels are where the box says (within interpolation blur).
        assert abs(rows.min() - ymin) <= 2 and abs(rows.max() + 1 - ymax) <= 2
        assert abs(cols.min() - xmin) <= 2 and abs(cols.max() + 1 - xmax) <= 2
        checked += 1
    assert checked >= 6


# --- data formats ---------------------------------------------------------------------------


def _voc_xml(path, width, height, objects, size=True):
    parts = [f"<annotation><filename>{path.stem}.jpg</filename>"]
    if size:
        parts.append(
            f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
        )
    for name, (xmin, ymin, xmax, ymax), difficult in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>{int(difficult)}</difficult><bndbox>"
            f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
            "</bndbox></object>"
        )
    path.write_text("".join(parts) + "</annotation>")


def _voc_folder(root, count=4):
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for index in range(count):
        Image.new("RGB", (80, 60), (30 * index, 90, 40)).save(root / "images" / f"p{index}.jpg")
        objects = [("cup", (11, 6, 40, 30), False)] if index else []  # p0: a negative image
        if index == 2:
            objects.append(("cup", (50, 20, 80, 60), True))
        _voc_xml(root / "annotations" / f"p{index}.xml", 80, 60, objects)
    return root


def test_voc_folder_with_one_class_negatives_and_difficult(tmp_path):
    examples = detection_data.read_voc_folder(_voc_folder(tmp_path / "voc"))
    examples, labels = detection_data._named_to_indexed(examples)
    assert labels == ["cup"]  # one class is fine for detection
    image, boxes, classes, difficult = examples[2]
    assert image.shape == (60, 80, 3)
    # VOC is 1-based inclusive: (11, 6, 40, 30) -> ymin 5, xmin 10, ymax 30, xmax 40.
    np.testing.assert_allclose(boxes[0], [5, 10, 30, 40])
    assert difficult.tolist() == [False, True] and classes.tolist() == [0, 0]
    assert len(examples[0][1]) == 0  # the negative example stays


@pytest.mark.parametrize(
    "problem, message",
    [
        ("no_size", r"p1.xml: no <size>"),
        ("outside", r"p1.xml: the box of 'cup' .* outside the 80x60 image"),
        ("empty", r"no images in .*images"),
    ],
)
def test_voc_errors_name_the_file(tmp_path, problem, message):
    root = _voc_folder(tmp_path / "voc")
    xml = root / "annotations" / "p1.xml"
    if problem == "no_size":
        _voc_xml(xml, 80, 60, [("cup", (1, 1, 5, 5), False)], size=False)
    elif problem == "outside":
        _voc_xml(xml, 80, 60, [("cup", (1, 1, 95, 5), False)])
    else:
        for image in (root / "images").iterdir():
            image.unlink()
    with pytest.raises(UserError, match=message) as error:
        detection_data.read_voc_folder(root)
    assert "\n" not in str(error.value)


def test_coco_folder_remaps_category_ids_and_names_a_missing_image(tmp_path):
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (50, 40)).save(root / "images" / "a.png")
    coco = {
        "images": [{"id": 7, "file_name": "a.png", "width": 50, "height": 40}],
        "categories": [{"id": 3, "name": "bottle"}, {"id": 9, "name": "can"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 9, "bbox": [5, 4, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 3, "bbox": [0, 0, 10, 10], "iscrowd": 1},
        ],
    }
    (root / "annotations.json").write_text(json.dumps(coco))
    examples, labels = detection_data._named_to_indexed(detection_data.read_coco_folder(root))
    assert labels == ["bottle", "can"]
    _, boxes, classes, crowd = examples[0]
    np.testing.assert_allclose(boxes[0], [4, 5, 14, 25])
    assert classes.tolist() == [1, 0] and crowd.tolist() == [False, True]
    coco["images"].append({"id": 8, "file_name": "gone.jpg"})
    (root / "annotations.json").write_text(json.dumps(coco))
    with pytest.raises(UserError, match=r"annotations.json: names image 'gone.jpg'"):
        detection_data.read_coco_folder(root)


def test_tfds_detection_sets_load():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        data = detection_data.load_detection_data("tfds:voc/2007", image_size=64)
    assert len(data.labels) == 20
    assert data.train.images.shape[1:] == (64, 64, 3)
    assert data.train.count + data.validation.count + data.test.count == 6 * 3
    boxes = data.train.boxes[data.train.classes >= 0]
    assert boxes.size and boxes.min() >= 0 and boxes.max() <= 64


# --- post-processing and metric -------------------------------------------------------------


def _nms_case():
    """Raw head outputs for a 64-pixel input with known detections after NMS."""
    centres, strides = post.anchor_points(64, (8, 16, 32))
    boxes = np.ones((2, len(centres), 4), "float32")  # 1-stride distances
    logits = np.full((2, len(centres), 2), -8.0, "float32")  # background everywhere
    # Image 0: two overlapping class-0 boxes (one suppressed), a class-1 box on them (kept)
    # and a class-0 box elsewhere. Distances: top, left, bottom, right in strides.
    logits[0, 9, 0] = 3.0  # centre (12, 12) -> box (4, 4, 20, 20)
    boxes[0, 10], logits[0, 10, 0] = [1.0, 2.0, 1.0, 0.5], 2.0  # (4, 4, 20, 24)
    boxes[0, 11], logits[0, 11, 1] = [1.0, 3.0, 1.0, 0.5], 2.5  # (4, 4, 20, 32)
    logits[0, 30, 0] = 1.0
    logits[1, 5, 1] = 0.5  # image 1: one box
    return boxes, logits, centres, strides


def _convert_endpoint(function, spec, tmp_path):
    from dlapps.export import saved_model, tflite

    module = tf.Module()
    module.f = tf.function(function, input_signature=[spec])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.f})
    del saved_model
    return tflite.convert(tmp_path, "tflite_float32")


def test_nms_in_tflite_matches_tensorflow_on_fixed_boxes(tmp_path):
    from dlapps.export.tflite import TFLiteModel
    from dlapps.export.tflite import op_names as tflite_op_names

    boxes, logits, centres, strides = _nms_case()
    raw = np.concatenate([boxes, logits], axis=-1)

    def detect(raw):
        return post.decode_and_suppress(
            raw[..., :4], raw[..., 4:], centres, strides, max_detections=5
        )

    reference = {k: v.numpy() for k, v in detect(tf.constant(raw)).items()}
    assert reference["num_detections"].tolist() == [3, 1]
    assert reference["classes"][0][:3].tolist() == [0, 1, 0]
    expected = [[4, 4, 20, 20], [4, 4, 20, 32], [20, 44, 36, 60]]
    np.testing.assert_allclose(reference["boxes"][0][:3], expected)
    content = _convert_endpoint(
        detect, tf.TensorSpec([None, *raw.shape[1:]], tf.float32, name="raw"), tmp_path
    )
    assert "NON_MAX_SUPPRESSION_V4" in tflite_op_names(content)
    lite = TFLiteModel(content)({"raw": raw})
    for key, value in reference.items():
        np.testing.assert_allclose(lite[key], value, atol=1e-4)


def test_letterbox_scales_pads_and_undoes():
    images = np.random.default_rng(0).integers(0, 255, (1, 100, 50, 3)).astype("uint8")
    boxed, scale = post.letterbox(tf.constant(images), 64)
    assert boxed.shape == (1, 64, 64, 3) and float(scale) == pytest.approx(0.64)
    assert (boxed.numpy()[0, :, 32:] == post.PAD_VALUE).all()  # padded on the right
    back = post.undo_letterbox(tf.constant([[6.4, 3.2, 70.0, 32.0]]), scale, 100, 50)
    np.testing.assert_allclose(back.numpy(), [[10, 5, 100, 50]], atol=1e-4)


def test_pycocotools_map_on_a_hand_made_case():
    split = detection_data.DetectionSplit(
        images=np.zeros((2, 64, 64, 3), "uint8"),
        boxes=np.array([[[0, 0, 20, 20]], [[30, 30, 60, 60]]], "float32"),
        classes=np.array([[0], [0]], "int32"),
        difficult=np.zeros((2, 1), bool),
    )
    detections = {  # image 0: exact hit (0.9); image 1: a miss elsewhere (0.8)
        "boxes": np.array([[[0, 0, 20, 20]], [[0, 0, 10, 10]]], "float32"),
        "classes": np.zeros((2, 1), "float32"),
        "scores": np.array([[0.9], [0.8]], "float32"),
        "num_detections": np.array([1, 1], "float32"),
    }
    metrics, per_class, _ = detection_metrics.coco_evaluate(split, detections, ["thing"])
    # Recall reaches 0.5 at precision 1: 51 of COCO's 101 recall points -> 51/101.
    assert metrics["map"] == pytest.approx(51 / 101, abs=1e-6)
    assert metrics["ap50"] == pytest.approx(51 / 101, abs=1e-6)
    assert per_class["thing"] == pytest.approx(51 / 101, abs=1e-6)


# --- one tiny detector trained through the driver and exported ------------------------------


@pytest.fixture(scope="module")
def trained_detector(tmp_path_factory):
    from dlapps import training
    from dlapps.application import get_application
    from dlapps.export import export_model

    root = tmp_path_factory.mktemp("detection")
    config = training.TrainConfig(
        app="detection",
        data="scenes:16",
        epochs=1,
        batch_size=8,
        output=str(root / "saved_models"),
        workdir=str(root / "runs"),
        verbose=0,
        export=False,
        options={
            "image_size": 64,
            "detector": "mobiledet_s",
            "max_detections": 10,
            "score_threshold": 0.0,  # an untrained model still returns boxes to compare
        },
    )
    app = get_application("detection")
    result = training.run(app, config)
    # One TFLite variant keeps the tests short: full int8, the one with most to go wrong (its
    # quantization), for the runners too; the bench converts all four and scores each.
    spec = app.export_spec(result.model, result.data)
    spec.tflite_formats = ("tflite_int8",)
    result.report = export_model(spec, config.output, result.metrics)
    return result


def test_exported_tflite_files_have_builtin_ops_only(trained_detector):
    from dlapps.export.tflite import op_names as tflite_op_names

    report = trained_detector.report
    path = ROOT / report["path"] if not report["path"].startswith("/") else report["path"]
    formats = {e["format"]: e for e in report["exports"]}
    assert set(formats) == {"saved_model", "tflite_int8"}
    for entry in report["exports"]:
        assert 0.0 <= entry["metrics"]["map"] <= 1.0
        if entry["format"] == "saved_model":  # the Keras model's own graph
            assert entry["identical_detections"] == 1.0
        # (TFLite: an untrained model's scores are near-tied at 0.01, and float rounding
        # reorders ties; the bench measures parity on a trained one, the NMS test on fixed boxes.)
        if entry["path"].endswith(".tflite"):
            ops = tflite_op_names((__import__("pathlib").Path(path) / entry["path"]).read_bytes())
            assert "NON_MAX_SUPPRESSION_V4" in ops
            assert not [op for op in ops if op.startswith(("Flex", "CUSTOM", "TFLite_Detection"))]


def test_saved_model_loads_in_a_fresh_process_on_any_image_size(trained_detector):
    path = trained_detector.report["path"]
    code = (
        "import sys; sys.modules['dlapps'] = None\n"
        "import numpy as np, tensorflow as tf\n"
        f"model = tf.saved_model.load({path!r})\n"
        "image = np.random.default_rng(0).integers(0, 255, (1, 90, 130, 3)).astype('uint8')\n"
        "out = model.signatures['serving_default'](images=tf.constant(image))\n"
        "print({k: v.shape.as_list() for k, v in out.items()})\n"
        "b = out['boxes'].numpy()[0]\n"
        "print(b.min() >= 0, b[:, 2].max() <= 90, b[:, 3].max() <= 130)\n"
        "print(out['labels'].numpy()[0][0].decode())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert "'boxes': [1, 10, 4]" in lines[0] and "'labels': [1, 10]" in lines[0]
    assert lines[1] == "True True True"
    assert lines[2] in trained_detector.data.labels


def test_edge_runner_without_tensorflow_matches_the_tflite_file(trained_detector, tmp_path):
    from dlapps.export.tflite import TFLiteModel

    folder = __import__("pathlib").Path(trained_detector.report["path"])
    model = folder / "detection_int8.tflite"
    image = trained_detector.data.test.images[0]  # already 64x64: no resize on either side
    Image.fromarray(image).save(tmp_path / "scene.png")
    out = tmp_path / "boxes.png"
    code = (
        "import runpy, sys\n"
        "for name in ('tensorflow', 'dlapps'): sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(EDGE)!r})\n"
        f"sys.argv = ['detect.py', {str(model)!r}, {str(tmp_path / 'scene.png')!r}, "
        f"'--json', '--out', {str(out)!r}]\n"
        f"runpy.run_path({str(EDGE / 'detect.py')!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    objects = json.loads(done.stdout)[0]["objects"]
    expected = TFLiteModel(model)({"images": image[None]})
    assert len(objects) == int(expected["num_detections"][0]) > 0
    expected_boxes = expected["boxes"][0][: len(objects)] * 64  # fractions of the 64x64 input
    np.testing.assert_allclose([o["box"] for o in objects], expected_boxes, atol=0.01)
    assert Image.open(out).size == (64, 64)
    load_script("litert", EDGE / "litert.py")  # detect.py's sibling, as on a device
    edge = load_script("edge_detect", EDGE / "detect.py")
    with pytest.raises(edge.EdgeError, match="not a TFLite model"):
        edge.detect(tmp_path / "scene.png", [tmp_path / "scene.png"])


def test_predict_draws_boxes_and_never_overwrites(trained_detector, tmp_path):
    from dlapps.application import get_application

    app = get_application("detection")
    folder = trained_detector.report["path"]
    Image.fromarray(np.full((50, 120, 3), 90, "uint8")).save(tmp_path / "wide.jpg")
    out = tmp_path / "boxes.png"
    lines = app.predict(folder, [str(tmp_path / "wide.jpg")], {"out": str(out)})
    assert lines[0].endswith("10 objects") and Image.open(out).size == (120, 50)
    with pytest.raises(UserError, match="exists"):
        app.predict(folder, [str(tmp_path / "wide.jpg")], {"out": str(out)})
    lite = app.predict(f"{folder}/detection_int8.tflite", [str(tmp_path / "wide.jpg")], {})
    assert lite[0].endswith("objects")


def test_serving_client_sends_a_photo_and_prints_its_boxes(
    trained_detector, serving_client, tf_serving, tmp_path
):
    Image.fromarray(trained_detector.data.test.images[1][:40]).save(tmp_path / "photo.png")
    body = serving_client.build_body("bytes", [(tmp_path / "photo.png").read_bytes()])
    answer = tf_serving(trained_detector.report["path"], body)
    row = {name: value[0] for name, value in answer.items()}  # TF Serving's JSON row
    row["labels"] = [label.decode() for label in row["labels"]]
    lines = serving_client.format_detections("photo.png", row)
    assert lines[0] == "photo.png: 10 objects" and len(lines) == 11
    assert row["boxes"][:, 2].max() <= 40 and row["boxes"][:, 3].max() <= 64
    assert all(line.split()[0] in trained_detector.data.labels for line in lines[1:])


def test_full_int8_file_is_one_image_graph_with_keras_scores(trained_detector):
    """The int8 file once crushed every image but the last of a batch to ~1e-6: the batch
    loop's (`map_fn`, a WHILE) buffers were quantized with the range of their zero start."""
    from dlapps.application import get_application
    from dlapps.export.tflite import TFLiteModel
    from dlapps.export.tflite import op_names as tflite_op_names

    folder = __import__("pathlib").Path(trained_detector.report["path"])
    content = (folder / "detection_int8.tflite").read_bytes()
    assert "WHILE" not in tflite_op_names(content)  # one subgraph, batch 1
    model = TFLiteModel(content)
    assert model.batch_one and model.inputs["images"]["dtype"] == np.uint8
    images = trained_detector.data.test.images
    found = model({"images": images})  # a batch: run image by image
    settings = {"max_detections": 10, "score_threshold": 0.0, "iou_threshold": 0.5}
    keras = get_application("detection").detect(trained_detector.model, images, settings)
    # A 2-step model scores every location at about the 0.01 prior (ties, so the boxes NMS
    # keeps differ); its count and scores must survive quantization on every image.
    np.testing.assert_array_equal(found["num_detections"], keras["num_detections"])
    np.testing.assert_allclose(found["scores"], keras["scores"], atol=2e-3)
    assert (found["boxes"].max(axis=(1, 2)) > 0.1).all()  # fractions of the input, not ~1e-6


def test_mediapipe_object_detector_gives_the_litert_boxes(trained_detector):
    from mediapipe_env import require_mediapipe

    from dlapps.export import TFLiteModel, mediapipe_metadata

    require_mediapipe()
    report = trained_detector.report
    assert report["mediapipe"]["written"] and report["mediapipe"]["api"] == "ObjectDetector"
    folder = __import__("pathlib").Path(report["path"])
    models = [folder / "detection_int8.tflite"]  # the bench: all four files
    images = trained_detector.data.test.images  # 64x64: MediaPipe does not resize them
    labels = trained_detector.data.labels
    sizes = {e["path"]: e for e in report["exports"]}
    for model, mediapipe in zip(
        models, mediapipe_metadata.mediapipe_detections(models, images), strict=True
    ):
        assert mediapipe_metadata.read_metadata_labels(model.read_bytes()) == labels
        assert sizes[model.name]["metadata_bytes"] < 0.02 * sizes[model.name]["bytes"]
        litert = TFLiteModel(model)({"images": images})
        assert litert["num_detections"].min() > 0  # score threshold 0: boxes to compare
        agreement = detection_metrics.mediapipe_agreement(mediapipe, litert, 64, labels)
        assert agreement["same_count"] == 1.0 and agreement["same_labels"] == 1.0, agreement
        assert agreement["min_iou"] >= 0.99 and agreement["max_score_diff"] < 1e-5, agreement
