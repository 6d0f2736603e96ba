"""The detection application: boxes and classes of every object in an image."""

import argparse
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from dlapps.application import Application, TrainingPhase
from dlapps.errors import UserError
from dlapps.export import ExportSpec, TFLiteModel, load_saved_model, read_labels
from dlapps.export.tflite import is_tflite
from dlapps.vision import box_augment, detection_metrics, detection_serving
from dlapps.vision import detection_data as data_lib
from dlapps.vision.data import decode_image_file
from dlapps.vision.detection_loss import DetectionLoss
from dlapps.vision.detection_postprocess import INT8_FLOAT_OPS, letterbox
from dlapps.vision.detector import DETECTOR_MODELS, PRETRAINED_DETECTORS, build_detector

# Full-int8 calibration: enough training images that the activation ranges of rare,
# large objects are seen too.
CALIBRATION_EXAMPLES = 200
EVALUATION_SETTINGS = {"max_detections": 100, "score_threshold": 0.05, "iou_threshold": 0.5}
PHOTO_DETECTOR = "efficientnet_lite0"
SCENES_IMAGE_SIZE = 256
# A folder of photos (a couple of hundred): ImageNet features, trained in two phases:
# the FPN and head on the frozen backbone, then its top blocks at a tenth of the rate.
FOLDER_DEFAULTS = {"epochs": 30, "batch_size": 8, "learning_rate": 2e-3, "patience": 10}
FINE_TUNE_EPOCHS = 15
FINE_TUNE_BLOCKS = 5
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1


def _is_folder(config):
    return not (config.data or "scenes").startswith(("scenes", "tfds:"))


def detector_name(config):
    """`--model`, else EfficientNet-Lite0 (ImageNet) for folders, else mobiledet (scratch)."""
    chosen = config.options.get("detector")
    if chosen:
        return chosen
    return PHOTO_DETECTOR if _is_folder(config) else "mobiledet"


def _transfers(config):
    weights = config.options.get("weights", "imagenet")
    return detector_name(config) in PRETRAINED_DETECTORS and weights not in (None, "none")


def _image_size(text):
    try:
        size = int(text)
    except ValueError:
        raise UserError(f"--image-size {text!r} is not a number: write e.g. 320") from None
    if size < 64 or size % 32:
        raise UserError(f"--image-size {size}: use a multiple of 32, at least 64 (e.g. 320)")
    return size


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _settings(options):
    return {
        "max_detections": int(options.get("max_detections", 100)),
        "score_threshold": float(options.get("score_threshold", 0.25)),
        "iou_threshold": float(options.get("iou_threshold", 0.5)),
    }


class DetectionApp(Application):
    """Object detection: an anchor-free single-stage detector trained from scratch.

    Data: built-in generated `scenes`, a Pascal VOC folder (`images/` +
    `annotations/*.xml`), a COCO folder (`--format coco`) or `tfds:NAME`.
    The exported model takes uint8 images of any size and returns boxes in
    that image's pixels, after decoding and non-max suppression in-graph.
    """

    name = "detection"
    description = "object detector: image in, boxes, classes and scores out"
    # The built-in scenes from scratch: the planned epochs are sized to take about half of
    # the time budget on a quiet 2-core machine (the seconds per epoch that the benchmark
    # records), so that a machine twice as slow still finishes them; the cosine schedule
    # ends with the last epoch (should the budget stop training, `TimeBudget` compresses it
    # to end there).
    # Batches of 8: twice the updates of 16 for the same compute, in a run that is short of
    # updates rather than of data. 12 epochs: the fused batch norm of the training step
    # (`FusedBatchNormalization`, ~0.6x the seconds per step) pays for 12 in the time 8 took.
    defaults = {
        "data": "scenes",
        "epochs": 12,
        "batch_size": 8,
        # Adam without weight decay: Keras traces a decoupled decay update per variable
        # (~300 here), which took ~20 s per trace on 2 loaded cores, out of a 9-minute budget.
        "optimizer": "adam",
        "learning_rate": 2e-3,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "clipnorm": 10.0,
        "monitor": "val_loss",
        "monitor_mode": "min",
        "patience": 10,
        # A safety net: `make demo` trains every app, bounded to 9 minutes on 2 cores.
        "time_budget": 800,
    }

    def training_defaults(self, config):
        if _is_folder(config):
            return {**self.defaults, **FOLDER_DEFAULTS}
        return self.defaults

    def add_arguments(self, parser):
        group = parser.add_argument_group("detection")
        group.add_argument(
            "--model",
            dest="detector",
            choices=tuple(DETECTOR_MODELS),
            default=None,
            help="detector (default: efficientnet_lite0 with ImageNet weights for a folder of "
            "photos; mobiledet, a 0.5-wide MobileNetV2 from scratch, for scenes and TFDS)",
        )
        group.add_argument(
            "--weights",
            default="imagenet",
            help="efficientnet_lite0: imagenet, none or a .pth state dict (default: imagenet)",
        )
        group.add_argument(
            "--fine-tune-epochs",
            type=int,
            default=FINE_TUNE_EPOCHS,
            help=f"pretrained: epochs fine-tuning the top blocks (default: {FINE_TUNE_EPOCHS})",
        )
        group.add_argument(
            "--width-multiplier",
            type=float,
            default=None,
            help="backbone channel scale (default: the model's own)",
        )
        group.add_argument(
            "--image-size",
            type=_image_size,
            default=None,
            help="side of the square (letterboxed) input the network sees (default: 320; "
            f"{SCENES_IMAGE_SIZE} for the built-in scenes, so that the default training "
            "takes more steps in its time budget)",
        )
        group.add_argument(
            "--format",
            dest="data_format",
            choices=("voc", "coco"),
            default="voc",
            help="folder layout: voc (images/ + annotations/*.xml) or coco (images/ + one .json)",
        )
        group.add_argument(
            "--max-detections",
            type=int,
            default=100,
            help="export: boxes returned per image, padded (default: 100)",
        )
        group.add_argument(
            "--score-threshold",
            type=_fraction,
            default=0.25,
            help="export: lowest score returned (default: 0.25)",
        )
        group.add_argument(
            "--iou-threshold",
            type=_fraction,
            default=0.5,
            help="export: NMS overlap above which the lower-scored box goes (default: 0.5)",
        )
        group.add_argument(
            "--no-augment",
            dest="augment",
            action="store_false",
            help="train without flips, scale jitter and random crops",
        )
        group.add_argument(
            "--tfds-data-dir", default=None, help="where TensorFlow Datasets keeps prepared data"
        )

    def check_options(self, options):
        if not 1 <= int(options.get("max_detections", 100)) <= 1000:
            raise UserError("--max-detections must be between 1 and 1000")
        width = options.get("width_multiplier")
        if width is not None and width <= 0:
            raise UserError(f"--width-multiplier must be > 0, got {width}")

    def load_data(self, config):
        options = config.options
        image_size = options.get("image_size") or (
            SCENES_IMAGE_SIZE if (config.data or "scenes").startswith("scenes") else 320
        )
        data = data_lib.load_detection_data(
            config.data,
            image_size,
            seed=config.seed,
            data_format=options.get("data_format", "voc"),
            tfds_data_dir=options.get("tfds_data_dir"),
        )
        data.settings = {**_settings(options), "augment": options.get("augment", True)}
        return data

    def datasets(self, data, batch_size, seed):
        size = data.image_size
        augment = data.settings.get("augment", True)

        def targets(split):
            classes = np.where(split.difficult, -1, split.classes)
            return np.concatenate([split.boxes, classes[..., None].astype("float32")], axis=-1)

        def pipeline(split, training):
            dataset = tf.data.Dataset.from_tensor_slices((split.images, targets(split)))
            if training:
                dataset = dataset.shuffle(split.count, seed=seed, reshuffle_each_iteration=True)
                if augment:

                    def map_augment(image, target):
                        image, boxes, classes = box_augment.augment(
                            image, target[:, :4], tf.cast(target[:, 4], tf.int32), size
                        )
                        return image, tf.concat(
                            [boxes, tf.cast(classes, tf.float32)[:, None]], axis=-1
                        )

                    dataset = dataset.map(map_augment, num_parallel_calls=tf.data.AUTOTUNE)
            return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

        return pipeline(data.train, True), pipeline(data.validation, False)

    def num_train_examples(self, data):
        return data.train.count

    def build_model(self, config, data):
        options = config.options
        model = build_detector(
            num_classes=len(data.labels),
            image_size=data.image_size,
            model=detector_name(config),
            width_multiplier=options.get("width_multiplier"),
            weights=options.get("weights", "imagenet"),
        )
        if _transfers(config):
            model.get_layer("backbone").trainable = False  # phase 1: FPN and head only
        return model

    def next_phase(self, model, config, data, completed_phases):
        epochs = config.options.get("fine_tune_epochs", FINE_TUNE_EPOCHS)
        if completed_phases != 1 or not _transfers(config) or epochs <= 0:
            return None
        backbone = model.get_layer("backbone")
        backbone.trainable = True
        blocks = sorted(
            {
                int(layer.name[5:].split("_")[0])
                for layer in backbone.layers
                if layer.name.startswith("block")
            }
        )
        first = blocks[-FINE_TUNE_BLOCKS]
        for layer in backbone.layers:
            # The top blocks train; batch norms keep ImageNet's statistics (small batches).
            in_top = layer.name.startswith("block") and int(layer.name[5:].split("_")[0]) >= first
            layer.trainable = in_top and not isinstance(layer, keras.layers.BatchNormalization)
        return TrainingPhase(epochs, config.learning_rate * FINE_TUNE_LEARNING_RATE_FACTOR)

    def compile_arguments(self, config, data):
        return {"loss": DetectionLoss(len(data.labels), data.image_size)}

    def detect(self, model, images, settings=None):
        """Detections of the Keras model on letterboxed images, as numpy arrays."""
        settings = settings or EVALUATION_SETTINGS
        image_size = images.shape[1]
        detect = tf.function(detection_serving.detect_function(model, image_size, settings))
        parts = {}
        for start in range(0, len(images), 64):
            for key, value in detect(tf.constant(images[start : start + 64])).items():
                parts.setdefault(key, []).append(value.numpy())
        return {key: np.concatenate(values) for key, values in parts.items()}

    def evaluate(self, model, data, figures_dir):
        # COCO's protocol: scores down to 0.05, up to 100 boxes per image.
        detections = self.detect(model, data.test.images)
        metrics, per_class, precision = detection_metrics.coco_evaluate(
            data.test, detections, data.labels
        )
        figures = [
            detection_metrics.plot_detections(
                data.test, detections, data.labels, Path(figures_dir) / "detections.png"
            ),
            detection_metrics.plot_precision_recall(
                precision, data.labels, Path(figures_dir) / "precision_recall.png"
            ),
        ]
        return metrics, {"per_class_ap": per_class}, figures

    def export_spec(self, model, data):
        settings = {**EVALUATION_SETTINGS, **{k: data.settings[k] for k in EVALUATION_SETTINGS}}
        size = data.image_size
        test = data.test
        keys = ("boxes", "classes", "scores", "num_detections")
        reference = self.detect(model, test.images, settings)
        train_images = data.train.images
        order = np.random.default_rng(0).permutation(len(train_images))[:CALIBRATION_EXAMPLES]

        def representative_data():
            for index in order:
                yield {"images": train_images[index : index + 1]}

        def score(outputs):
            metrics, _, _ = detection_metrics.coco_evaluate(test, outputs, data.labels)
            return metrics

        def parity(outputs):
            return detection_parity(outputs, reference)

        k = settings["max_detections"]
        return ExportSpec(
            app=self.name,
            model=model,
            serving=detection_serving.serving_endpoints(model, data.labels, size, settings),
            tflite=detection_serving.tflite_endpoint(model, size, settings),
            int8_float_ops=INT8_FLOAT_OPS,
            tflite_output_order=detection_serving.TFLITE_OUTPUTS,
            # Scored in pixels of the letterboxed test images, as the other formats.
            tflite_outputs_as_reference=lambda outputs: detection_serving.tflite_boxes_in_pixels(
                outputs, size
            ),
            mediapipe_task="object_detector",
            output_key=keys,
            test_inputs={"images": test.images},
            reference=reference,
            score=score,
            parity=parity,
            representative_data=representative_data,
            labels=data.labels,
            inputs={
                "images": {
                    "dtype": "uint8",
                    "shape": [None, size, size, 3],
                    "note": f"SavedModel: any height and width, letterboxed to {size}x{size} "
                    f"in the graph; TFLite: one image [1, {size}, {size}, 3], letterboxed by "
                    "the caller (scale to fit, pad bottom/right with grey 114)",
                },
                "image_bytes": {"dtype": "string", "shape": [None], "signature": "serve_bytes"},
            },
            outputs={
                "boxes": {
                    "dtype": "float32",
                    "shape": [None, k, 4],
                    "note": "ymin, xmin, ymax, xmax in pixels of the input image "
                    "(TFLite: fractions 0..1 of its letterboxed input; its outputs in the "
                    "order boxes, classes, scores, num_detections, as MediaPipe's "
                    "ObjectDetector reads them)",
                },
                "classes": {"dtype": "float32", "shape": [None, k]},
                "scores": {"dtype": "float32", "shape": [None, k]},
                "num_detections": {"dtype": "float32", "shape": [None]},
                "labels": {"dtype": "string", "shape": [None, k], "formats": ["saved_model"]},
            },
            files={"detection.json": _settings_json(settings, size)},
        )

    def predict(self, model_path, inputs, options):
        if not inputs:
            raise UserError("give one or more image files to detect objects in")
        model_path = Path(model_path)
        labels = read_labels(model_path)
        if is_tflite(model_path):
            model = TFLiteModel(model_path)
            size = int(model.inputs["images"]["shape"][1])

            def run(image):
                boxed, scale = letterbox(tf.constant(image[None]), size)
                found = model({"images": boxed.numpy()})
                height, width = image.shape[:2]
                boxes = found["boxes"][0] * size / float(scale)  # fractions -> pixels
                found["boxes"] = np.clip(boxes, 0, [height, width, height, width])[None]
                return found
        else:
            signature = load_saved_model(model_path).signatures["serving_default"]

            def run(image):
                return {k: v.numpy() for k, v in signature(images=tf.constant(image[None])).items()}

        lines = []
        out = options.get("out")
        for index, path in enumerate(inputs):
            image = decode_image_file(path, 3)
            found = run(image)
            count = int(found["num_detections"][0])
            lines.append(f"{path}: {count} object{'s' if count != 1 else ''}")
            for k in range(count):
                ymin, xmin, ymax, xmax = found["boxes"][0][k]
                name = labels[int(found["classes"][0][k])]
                lines.append(
                    f"  {name} {found['scores'][0][k]:.3f} "
                    f"box (x, y, x, y) {xmin:.0f}, {ymin:.0f}, {xmax:.0f}, {ymax:.0f}"
                )
            if out:
                target = Path(out)
                if len(inputs) > 1:
                    target = target.with_name(f"{target.stem}_{index}{target.suffix or '.png'}")
                if target.exists():
                    raise UserError(
                        f"{target} exists: choose another --out (nothing is overwritten)"
                    )
                draw_boxes(image, found, labels, count).save(target)
                lines.append(f"  wrote {target}")
        return lines


def detection_parity(outputs, reference, tolerance=1e-3):
    """How closely detections match the Keras model's: the fraction of identical images.

    An image is identical when it has the same number of detections, the
    same classes and every box coordinate within `tolerance` pixels.
    """
    same, worst = 0, 0.0
    total = len(reference["num_detections"])
    for index in range(total):
        count = int(reference["num_detections"][index])
        if int(outputs["num_detections"][index]) != count:
            continue
        difference = np.abs(outputs["boxes"][index][:count] - reference["boxes"][index][:count])
        worst = max(worst, float(difference.max()) if count else 0.0)
        classes_match = np.array_equal(
            np.round(outputs["classes"][index][:count]),
            np.round(reference["classes"][index][:count]),
        )
        if classes_match and (not count or difference.max() <= tolerance):
            same += 1
    return {"identical_detections": same / max(total, 1), "max_box_diff_matched": worst}


def draw_boxes(image, found, labels, count):
    """A PIL image of `image` with the first `count` detections drawn."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    for k in range(count):
        ymin, xmin, ymax, xmax = (float(v) for v in found["boxes"][0][k])
        name = labels[int(found["classes"][0][k])]
        draw.rectangle([xmin, ymin, xmax, ymax], outline=(255, 40, 40), width=2)
        draw.text((xmin + 2, ymin + 1), f"{name} {found['scores'][0][k]:.2f}", fill=(255, 255, 0))
    return picture


def _settings_json(settings, image_size):
    import json

    return (
        json.dumps(
            {**settings, "image_size": image_size, "letterbox": "top-left, grey 114"}, indent=2
        )
        + "\n"
    )
