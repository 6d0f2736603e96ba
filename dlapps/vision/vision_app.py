"""The vision application: an image classifier from pixels to labels."""

import argparse
from pathlib import Path

import numpy as np

from dlapps import metrics
from dlapps.application import Application, TrainingPhase
from dlapps.errors import UserError
from dlapps.export import ExportSpec, TFLiteModel, load_saved_model, read_labels
from dlapps.export.tflite import is_tflite
from dlapps.vision import data as vision_data
from dlapps.vision import serving
from dlapps.vision.backbones import BACKBONES
from dlapps.vision.image_classifier import build_image_classifier
from dlapps.vision.image_preprocessor import resize_images
from dlapps.vision.pretrained_backbones import (
    PRETRAINED_BACKBONES,
    WEIGHTS_HELP,
    freeze,
    native_resolution,
    unfreeze_top,
)

CALIBRATION_EXAMPLES = 200
PHOTO_BACKBONE = "efficientnet_lite0"
# Transfer learning: phase 1 trains the new head on the frozen backbone
# (`epochs` at `learning_rate`), phase 2 fine-tunes the top blocks at a tenth of it.
TRANSFER_DEFAULTS = {
    "epochs": 8,
    "batch_size": 32,
    "optimizer": "adam",
    "learning_rate": 3e-3,
    "schedule": "cosine",
    "warmup_epochs": 0,
    "patience": 0,
}
# From scratch on a folder (a few hundred images): sized in steps, not for the 1,300
# digits. Batch 16 and 60 epochs give ~1,000 steps for 280 images where 32 and 40 gave
# 360, and early stopping on a 40-image validation split stopped runs that had not
# started learning yet (issue 21); the cosine schedule's last epochs are the best.
FOLDER_FROM_SCRATCH_DEFAULTS = {"batch_size": 16, "epochs": 60, "patience": 0}
FINE_TUNE_EPOCHS = 5
FINE_TUNE_BLOCKS = 4
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1


def backbone_name(config):
    """The backbone a run uses: `--backbone`, else EfficientNet-Lite0 for folders, else small_cnn.

    A folder (or URL) is a user's photos, where ImageNet features win; the
    built-in digits and TFDS datasets keep the small CNN trained from scratch.
    """
    chosen = config.options.get("backbone")
    if chosen:
        return chosen
    return PHOTO_BACKBONE if _is_folder(config) else "small_cnn"


def _is_folder(config):
    data = config.data or "digits"
    return data != "digits" and not data.startswith("tfds:")


def _transfers(config):
    """True when the run starts from pretrained weights (and so trains in two phases)."""
    weights = config.options.get("weights", "imagenet")
    return backbone_name(config) in PRETRAINED_BACKBONES and weights not in (None, "none")


def _rgb(images):
    """uint8 images as RGB: greyscale repeated into three channels."""
    return images if images.shape[-1] == 3 else np.repeat(images[..., :1], 3, axis=-1)


def _image_size(text):
    try:
        height, _, width = text.lower().partition("x")
        size = (int(height), int(width or height))
    except ValueError:
        message = f"{text!r} is not a size: write e.g. 64 or 64x48"
        raise argparse.ArgumentTypeError(message) from None
    if min(size) < 4:
        raise argparse.ArgumentTypeError(f"{text!r} is too small: use at least 4x4")
    return size


class VisionApp(Application):
    """Image classification: a CNN from scratch, or an ImageNet-pretrained backbone fine-tuned.

    Data: `digits` (built in), a folder with one sub-folder per class, or
    `tfds:NAME`. Folders default to EfficientNet-Lite0 with ImageNet
    weights, trained in two phases (new head on the frozen backbone, then
    the top blocks at a tenth of the learning rate); digits and TFDS data
    to the small CNN. The exported model takes uint8 pixels of any size.
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
            "--backbone",
            "--model",
            dest="backbone",
            choices=(*BACKBONES, *PRETRAINED_BACKBONES),
            default=None,
            help=f"network (default: {PHOTO_BACKBONE} with ImageNet weights for a folder, "
            "small_cnn for digits and TFDS data)",
        )
        group.add_argument(
            "--weights",
            default="imagenet",
            help=f"pretrained backbones: {WEIGHTS_HELP} (default: imagenet)",
        )
        group.add_argument(
            "--fine-tune-epochs",
            type=int,
            default=FINE_TUNE_EPOCHS,
            help="pretrained backbones: epochs of phase 2, fine-tuning the top blocks "
            f"(default: {FINE_TUNE_EPOCHS}; 0: train the head only)",
        )
        group.add_argument(
            "--fine-tune-blocks",
            type=int,
            default=FINE_TUNE_BLOCKS,
            help="pretrained backbones: top blocks unfrozen in phase 2 "
            f"(default: {FINE_TUNE_BLOCKS})",
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
            "(default: the pretrained backbone's own, e.g. 224 for efficientnet_lite0; "
            "16x16 for digits, else the data's size, 64x64 for folders)",
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

    def training_defaults(self, config):
        if _transfers(config):
            return {**self.defaults, **TRANSFER_DEFAULTS}
        if _is_folder(config):
            return {**self.defaults, **FOLDER_FROM_SCRATCH_DEFAULTS}
        return self.defaults

    def load_data(self, config):
        options = config.options
        image_size = options.get("image_size")
        backbone = backbone_name(config)
        if image_size is None and backbone in PRETRAINED_BACKBONES:
            image_size = (native_resolution(backbone),) * 2
        return vision_data.load_image_data(
            config.data,
            image_size,
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
        backbone = backbone_name(config)
        if backbone in PRETRAINED_BACKBONES and max(height, width) < 32:
            default_size = (native_resolution(backbone),) * 2
        model = build_image_classifier(
            num_classes=len(data.labels),
            image_size=options.get("image_size") or default_size,
            channels=channels,
            backbone=backbone,
            width_multiplier=options.get("width_multiplier", 1.0),
            augment=options.get("augment", True),
            flip=options.get("flip", False),
            weights=options.get("weights", "imagenet"),
            cnn_filters=options.get("cnn_filters"),
        )
        if _transfers(config):
            freeze(model.get_layer("backbone"))  # phase 1: only the new head trains
        return model

    def next_phase(self, model, config, data, completed_phases):
        epochs = config.options.get("fine_tune_epochs", FINE_TUNE_EPOCHS)
        if completed_phases != 1 or not _transfers(config) or epochs <= 0:
            return None
        unfreeze_top(model.get_layer("backbone"), config.options.get("fine_tune_blocks", 4))
        return TrainingPhase(epochs, config.learning_rate * FINE_TUNE_LEARNING_RATE_FACTOR)

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
                yield {"images": _rgb(train_images[index : index + 1])}

        height, width, channels = data.image_shape
        return ExportSpec(
            app=self.name,
            model=model,
            serving=serving.serving_endpoints(model, data.labels, data.image_shape),
            tflite=serving.tflite_endpoint(model, data.image_shape),
            output_key="probabilities",
            # Every exported file is fed RGB, as cameras deliver it (greyscale
            # models convert in the graph); the reference is the model on its own pixels.
            test_inputs={"images": _rgb(images)},
            reference=model.predict(images, batch_size=256, verbose=0),
            score=lambda probabilities: {"accuracy": metrics.accuracy(labels, probabilities)},
            representative_data=representative_data,
            labels=data.labels,
            inputs={
                "images": {
                    "dtype": "uint8",
                    "shape": [None, height, width, 3],
                    "model_channels": channels,
                    "note": "SavedModel: any height and width, 1, 3 or 4 channels; "
                    "TFLite: this size, RGB",
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
            mediapipe_task="image_classifier",
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
            # Exports take 1, 3 or 4 channels (None); older ones a fixed count.
            channels = signature.structured_input_signature[1]["images"].shape[-1] or 3
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
