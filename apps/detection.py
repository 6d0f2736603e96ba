"""
Title: Object detection, from boxes to a phone
Description: Train an anchor-free detector (MobileNetV2-style backbone, small FPN,
FCOS-style head) on generated scenes or your own Pascal VOC folder, then export a
SavedModel and four TFLite files with decoding and NMS inside.

Run it as is, or copy it and change what you like:

    python apps/detection.py                      # built-in scenes
    python apps/detection.py --data shelf/        # shelf/images/*.jpg + shelf/annotations/*.xml
"""

import argparse
from pathlib import Path

import keras

from dlapps import callbacks, report
from dlapps.application import get_application
from dlapps.export import export_model, exporter
from dlapps.vision import detection_data
from dlapps.vision.detection_loss import DetectionLoss
from dlapps.vision.detector import build_detector

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--data", default="scenes", help="scenes, scenes:N, a VOC folder or tfds:NAME")
parser.add_argument("--image-size", type=int, default=320)
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument(
    "--tflite", nargs="*", metavar="FORMAT", help="TFLite variants to write (default: all)"
)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/detection_script")
args = parser.parse_args()

"""
## Data

Every image is letterboxed to a square (scaled to fit, padded bottom/right with
grey) with its boxes, as the exported model does in its graph. The app's
`datasets` adds flips, scale jitter and random crops that move, clip or drop the
boxes with the pixels.
"""
app = get_application("detection")
data = detection_data.load_detection_data(args.data, args.image_size)
data.settings = {"max_detections": 100, "score_threshold": 0.25, "iou_threshold": 0.5}
train_dataset, validation_dataset = app.datasets(data, args.batch_size, seed=0)
print(data.summary())

"""
## Model

Three feature maps (strides 8, 16, 32) from a MobileNetV2-style backbone, merged
top-down by a feature pyramid; one shared head predicts, at every location, a
logit per class and four distances to the box sides. The loss assigns each
box to the locations near its centre on the level that suits its size, and
combines the focal loss with GIoU.
"""
model = build_detector(num_classes=len(data.labels), image_size=args.image_size)
steps = args.epochs * -(-data.train.count // args.batch_size)
schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps)
model.compile(
    optimizer=keras.optimizers.Adam(schedule, clipnorm=10.0),
    loss=DetectionLoss(len(data.labels), args.image_size),
)
history = model.fit(
    train_dataset,
    validation_data=validation_dataset,
    epochs=args.epochs,
    callbacks=[callbacks.BuildOptimizer()],  # the first step is traced once, not twice
)

"""
## Evaluate and export

COCO mAP@[.5:.95] and AP50 by pycocotools on the held-out test images; then a
SavedModel (any image size in, boxes in that image's pixels out) and TFLite
float32/float16/dynamic/int8 files, each measured against the Keras model.
"""
figures_dir = Path(args.workdir)
figures_dir.mkdir(parents=True, exist_ok=True)
metrics, details, figures = app.evaluate(model, data, figures_dir)
print(metrics, details["per_class_ap"])
figures.append(report.plot_history(history.history, figures_dir / "curves.png"))
spec = exporter.with_tflite_formats(app.export_spec(model, data), args.tflite)
exported = export_model(spec, args.output, metrics, figures=figures)
print(report.format_summary(exported))
