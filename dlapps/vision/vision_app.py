"""The vision application: an image classifier from pixels to labels."""

from pathlib import Path

import numpy as np

from dlapps import metrics
from dlapps.application import Application
from dlapps.errors import UserError
from dlapps.export import ExportSpec, TFLiteModel, load_saved_model, read_labels
from dlapps.export.tflite import is_tflite
from dlapps.vision import data as vision_data
from dlapps.vision import serving
from dlapps.vision.backbones import BACKBONES
from dlapps.vision.image_classifier import build_image_classifier
from dlapps.vision.image_preprocessor import resize_images

CALIBRATION_EXAMPLES = 200


def _image_size(text):
    try:
        height, _, width = text.lower().partition("x")
        size = (int(height), int(width or height))
    except ValueError:
        raise UserError(f"--image-size {text!r} is not a size: write e.g. 64 or 64x48") from None
    if min(size) < 4:
        raise UserError(f"--image-size {text!r} is too small: use at least 4x4")
    return size


class VisionApp(Application):
    """Image classification with a CNN trained from scratch.

    Data: `digits` (built in), a folder with one sub-folder per class, or
    `tfds:NAME`. The exported model takes uint8 pixels of any size.
    """

    name = "vision"
    description = "image classifier (CNN): pixels in, class probabilities and label out"
    defaults = {
        "data": "digits",
        "epochs": 40,
        "batch_size": 32,
        "optimizer": "adamw",
        "learning_rate": 3e-3,
        "schedule": "cosine",
        "warmup_epochs": 1,
        # Validation loss is smoother than accuracy on 180 images; with a
        # cosine schedule the last epochs are usually the best.
        "monitor": "val_loss",
        "monitor_mode": "min",
        "patience": 15,
    }

    def add_arguments(self, parser):
        group = parser.add_argument_group("vision")
        group.add_argument(
            "--model",
            choices=BACKBONES,
            default="small_cnn",
            help="backbone (default: small_cnn)",
        )
        group.add_argument(
            "--width-multiplier",
            type=float,
            default=1.0,
            help="channel scale of mobilenet_v2 (default: 1.0)",
        )
        group.add_argument(
            "--image-size",
            type=_image_size,
            default=None,
            help="HxW the network sees; folders are also loaded at this size "
            "(default: 16x16 for digits, else the data's size, 64x64 for folders)",
        )
        group.add_argument(
            "--flip", action="store_true", help="augment with left-right flips (photos)"
        )
        group.add_argument(
            "--no-augment",
            dest="augment",
            action="store_false",
            help="train without random translation, rotation and zoom",
        )
        group.add_argument(
            "--tfds-data-dir",
            default=None,
            help="where TensorFlow Datasets keeps prepared data",
        )

    def load_data(self, config):
        options = config.options
        return vision_data.load_image_data(
            config.data,
            options.get("image_size"),
            seed=config.seed,
            tfds_data_dir=options.get("tfds_data_dir"),
        )

    def datasets(self, data, batch_size, seed):
        return (
            vision_data.to_dataset(data.train, batch_size, shuffle=True, seed=seed),
            vision_data.to_dataset(data.validation, batch_size),
        )

    def num_train_examples(self, data):
        return len(data.train[1])

    def build_model(self, config, data):
        options = config.options
        height, width, channels = data.image_shape
        # Tiny images (8x8 digits) are enlarged so that two pooling stages fit.
        default_size = (16, 16) if max(height, width) < 16 else (height, width)
        return build_image_classifier(
            num_classes=len(data.labels),
            image_size=options.get("image_size") or default_size,
            channels=channels,
            backbone=options.get("model", "small_cnn"),
            width_multiplier=options.get("width_multiplier", 1.0),
            augment=options.get("augment", True),
            flip=options.get("flip", False),
        )

    def compile_arguments(self, config, data):
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    def evaluate(self, model, data, figures_dir):
        images, labels = data.test
        probabilities = model.predict(images, batch_size=256, verbose=0)
        result = metrics.classification_report(labels, probabilities, data.labels)
        figure = metrics.plot_confusion_matrix(
            result["confusion_matrix"],
            data.labels,
            Path(figures_dir) / "confusion_matrix.png",
        )
        predictions = metrics.plot_predictions(
            images, labels, probabilities, data.labels, Path(figures_dir) / "predictions.png"
        )
        details = {k: result[k] for k in ("per_class", "confusion_matrix")}
        return result["metrics"], details, [figure, predictions]

    def export_spec(self, model, data):
        images, labels = data.test
        train_images = data.train[0]
        order = np.random.default_rng(0).permutation(len(train_images))[:CALIBRATION_EXAMPLES]

        def representative_data():
            for index in order:
                yield {"images": train_images[index : index + 1]}

        shape = list(data.image_shape)
        return ExportSpec(
            app=self.name,
            model=model,
            serving=serving.serving_endpoints(model, data.labels, data.image_shape),
            tflite=serving.tflite_endpoint(model, data.image_shape),
            output_key="probabilities",
            test_inputs={"images": images},
            reference=model.predict(images, batch_size=256, verbose=0),
            score=lambda probabilities: {"accuracy": metrics.accuracy(labels, probabilities)},
            representative_data=representative_data,
            labels=data.labels,
            inputs={
                "images": {
                    "dtype": "uint8",
                    "shape": [None, *shape],
                    "note": "SavedModel: any height and width; TFLite: this size",
                },
                "image_bytes": {
                    "dtype": "string",
                    "shape": [None],
                    "signature": "serve_bytes",
                },
            },
            outputs={
                "probabilities": {
                    "dtype": "float32",
                    "shape": [None, len(data.labels)],
                },
                "label": {
                    "dtype": "string",
                    "shape": [None],
                    "formats": ["saved_model"],
                },
            },
        )

    def predict(self, model_path, inputs, options):
        top_k = options.get("top_k", 3)
        if not inputs:
            raise UserError("give one or more image files to classify")
        model_path = Path(model_path)
        if is_tflite(model_path):
            model = TFLiteModel(model_path)
            _, height, width, channels = model.inputs["images"]["shape"]
            labels = read_labels(model_path)

            def classify(array):
                resized = np.round(resize_images(array[None], (height, width)).numpy())
                return model({"images": resized.astype("uint8")})["probabilities"][0]
        else:
            signature = load_saved_model(model_path).signatures["serving_default"]
            channels = signature.structured_input_signature[1]["images"].shape[-1]
            labels = read_labels(model_path)

            def classify(array):
                return signature(images=array[None])["probabilities"].numpy()[0]

        lines = []
        for path in inputs:
            probabilities = classify(vision_data.decode_image_file(path, channels))
            best = np.argsort(probabilities)[::-1][:top_k]
            ranked = ", ".join(f"{labels[i]} ({probabilities[i]:.3f})" for i in best)
            lines.append(f"{path}: {ranked}")
        return lines
