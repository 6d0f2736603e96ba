"""
Title: Face recognition of people never seen in training, with an ArcFace embedder
Description: Train a MobileFaceNet-style embedder with the ArcFace margin loss on
generated people, measure verification on other people (LFW protocol) against
eigenfaces, enrol a gallery and export the embedder as a SavedModel and TFLite.

Run it as is, or copy it and change what you like:

    python apps/faces.py                        # built-in generated people
    python apps/faces.py --people 100 --photos 8 --epochs 5    # a quick look
"""

import argparse
import math

import numpy as np

from dlapps import callbacks, faces, metrics, optimizers, report
from dlapps.export import export_model, exporter
from dlapps.faces.faces_app import FacesApp
from dlapps.faces.identification import open_set_identification

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--people", type=int, default=600, help="generated people")
parser.add_argument("--photos", type=int, default=16, help="photos of each")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument(
    "--tflite",
    nargs="+",
    default=["tflite_float32", "tflite_float16", "tflite_dynamic", "tflite_int8"],
    help="TFLite variants to write",
)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/faces_script")
args = parser.parse_args()

"""
## Data

Each generated person is a fixed set of face parameters, photographed under
random pose, lighting, expression, background, blur and noise. The split is
by person: validation and test people are never trained on.
"""
data = faces.load_generated(seed=0, identities=args.people, photos=args.photos)
print(data.summary())
train_images, train_people = data.fitting
validation_data = data.holdout  # unseen photos of the training people, for the loss

"""
## Model

The embedder maps uint8 pixels to a unit-length 128-d embedding; for training
a cosine head holds one centre per training person and the ArcFace loss adds
an angular margin to the true person's angle.
"""
embedder = faces.build_mobile_face_net((64, 64), embedding_dim=128)
model = faces.build_face_recognizer(embedder, num_people=len(data.labels))
steps = math.ceil(len(train_people) / args.batch_size) * args.epochs
model.compile(
    optimizer=optimizers.make_optimizer("adamw", 3e-3, "cosine", total_steps=steps),
    loss=faces.ArcFaceLoss(scale=30.0, margin=0.3),
    metrics=["sparse_categorical_accuracy"],
)
model.fit(
    train_images,
    train_people,
    batch_size=args.batch_size,
    epochs=args.epochs,
    validation_data=validation_data,
    callbacks=callbacks.standard_callbacks(args.workdir, patience=None),
)

"""
## Evaluation on unseen people

Balanced same/different pairs of test people; each of 10 folds is scored at
the threshold chosen on the other nine. Eigenfaces on the same pairs is the
baseline.
"""
test_images, test_people = data.test
first, second, same = metrics.verification_pairs(test_people, num_pairs=3000)
embeddings = embedder.predict(test_images.astype("float32"), verbose=0)
learned = metrics.verification_report(np.sum(embeddings[first] * embeddings[second], 1), same)
eigenfaces = faces.Eigenfaces().fit(data.train[0]).embed(test_images)
baseline = metrics.verification_report(np.sum(eigenfaces[first] * eigenfaces[second], 1), same)
for name, result in (("embedder", learned), ("eigenfaces", baseline)):
    print(
        f"{name}: verification accuracy {result['verification_accuracy']:.4f}, "
        f"TAR@FAR=1e-2 {result['tar_at_far_1e-2']:.4f}, ROC AUC {result['roc_auc']:.4f}"
    )

"""
## Enrolment and export

Half the test people are enrolled from 3 photos each (a template is the
normalised mean embedding); their other photos should find them, and the
other half should be rejected as unknown. The export holds the embedder.
"""
identification, _ = open_set_identification(embeddings, test_people, learned["threshold"])
print(
    f"rank-1 {identification['rank1']:.4f}, "
    f"impostors rejected {identification['impostor_rejection']:.4f}"
)
spec = exporter.with_tflite_formats(FacesApp().export_spec(model, data), args.tflite)
exported = export_model(spec, args.output, metrics=learned)
print(report.format_summary(exported))
