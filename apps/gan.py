"""
Title: Conditional GAN on handwritten digits, trained with model.fit
Description: Train a conditional DCGAN that draws the digit you ask for, judge
it with a Fréchet distance on a classifier's features, and export the
generator as a SavedModel (noise and label in, uint8 images out) and TFLite.

    python apps/gan.py                    # about 3 minutes on 2 CPU cores
    python apps/gan.py --flavour wgan_gp  # or dcgan
"""

import argparse

import numpy as np

from dlapps import callbacks, gan, optimizers, report, vision
from dlapps.export import export_model

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--flavour", choices=["dcgan", "conditional", "wgan_gp"], default="conditional")
parser.add_argument("--epochs", type=int, default=150)
parser.add_argument("--time-budget", type=float, default=120, help="seconds of training")
parser.add_argument("--classifier-epochs", type=int, default=30)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/gan_script")
args = parser.parse_args()

"""
## Data

The built-in digits, enlarged from 8x8 to 16x16 with the same resize op the
vision models use, and scaled to [-1, 1] to match the generator's tanh.
"""
digits = vision.load_digits()
data = digits.resized((16, 16))
application = gan.GanApp()
train_dataset, _ = application.datasets(data, batch_size=64, seed=0)

"""
## Model

A generator (noise + label -> image) and a discriminator (image + label ->
real or fake), wrapped in a keras.Model whose train_step trains both.
"""
latent_dim = 64
num_classes = len(data.labels) if args.flavour == "conditional" else None
generator = gan.build_generator(latent_dim, data.image_shape, num_classes)
discriminator = gan.build_discriminator(data.image_shape, num_classes)
if args.flavour == "conditional":
    model = gan.ConditionalGAN(
        generator, discriminator, latent_dim, num_classes, label_smoothing=0.1
    )
elif args.flavour == "wgan_gp":
    model = gan.WGANGP(generator, discriminator, latent_dim, critic_steps=5)
else:
    model = gan.DCGAN(generator, discriminator, latent_dim, label_smoothing=0.1)

"""
## Training

Adam with beta_1 = 0.5, as DCGANs are usually trained; the generator and the
discriminator each get their own copy. A sample grid every 10 epochs shows
progress; the time budget ends training cleanly.
"""
model.compile(optimizer=optimizers.make_optimizer("adam", 2e-4, beta_1=0.5))
model.fit(
    train_dataset,
    epochs=args.epochs,
    callbacks=[
        callbacks.BuildOptimizer(),  # both optimizers built before the first trace
        callbacks.TimeBudget(args.time_budget),
        callbacks.SampleGrid(lambda m: m.generate(64, seed=0), f"{args.workdir}/samples", every=10),
    ],
    verbose=2,
)

"""
## Evaluation

A vision classifier trained on the same digits scores the samples: the
Fréchet distance between its features of real test images and generated
ones (next to the floor: 1000 real training images against the same test
images) and, for the conditional GAN, how often it
recognises the digit that was asked for.
"""
classifier = gan.feature_classifier(digits, seed=0, epochs=args.classifier_epochs)
scorer = gan.FeatureScorer(classifier, *data.test)
labels = np.arange(1000) % 10
generated = model.generate(1000, labels if model.conditional else None)
metrics = scorer.score(generated, labels if model.conditional else None)
metrics["fid_floor"] = scorer.floor(data.train[0][:1000])  # as many real images as generated
print(metrics)
grid_labels = labels[:64] if model.conditional else None
report.save_image_grid(model.generate(64, grid_labels), f"{args.workdir}/samples.png")

"""
## Export

The generator alone, as a new version under saved_models/gan/ with a
SavedModel (inputs `noise` and `label`, output uint8 `images`) and TFLite.
"""
exported = export_model(application.export_spec(model, data, scorer), args.output, metrics)
print(report.format_summary(exported))
