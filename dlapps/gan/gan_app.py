"""The GAN application: DCGAN, conditional GAN and WGAN-GP image generators."""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps.application import Application, check_minimums
from dlapps.callbacks import SampleGrid
from dlapps.errors import UserError
from dlapps.export import ExportSpec, TFLiteModel, load_saved_model, read_labels
from dlapps.export.tflite import is_tflite
from dlapps.gan import serving
from dlapps.gan.best_generator import BestGenerator
from dlapps.gan.conditional_gan import ConditionalGAN
from dlapps.gan.dcgan import DCGAN
from dlapps.gan.feature_classifier import feature_classifier
from dlapps.gan.frechet import FeatureScorer
from dlapps.gan.networks import build_discriminator, build_generator
from dlapps.gan.wgan_gp import WGANGP
from dlapps.report import save_image_grid
from dlapps.vision import data as vision_data

FLAVOURS = ("dcgan", "conditional", "wgan_gp")
# Full int8 is left out: the generator's tanh output is the image itself.
TFLITE_FORMATS = ("tflite_float32", "tflite_float16", "tflite_dynamic")
SAMPLES_FOR_SCORING = 1000


@dataclasses.dataclass
class GanData(vision_data.ImageData):
    """The GAN's images (`ImageData` at the generator's size) and the classifier that scores them.

    Attributes:
        feature_classifier: a vision classifier trained on this run's
            training split only (see `feature_classifier`).
    """

    feature_classifier: object = None

    def test_scorer(self):
        """A `FeatureScorer` against the test images, which neither network has seen."""
        return FeatureScorer(self.feature_classifier, *self.test)


def scoring_inputs(model, data):
    """The noise (and labels, if conditional) that every score generates from.

    The Keras model (`evaluate`) and each exported file (`export_spec`) get
    the same inputs: FID depends on the sample count, so with the same
    samples a file that makes the same images scores the Keras model's FID.
    As many samples as the floor can compare with real training images.
    """
    count = min(SAMPLES_FOR_SCORING, len(data.train[1]))
    noise = np.random.default_rng(0).standard_normal((count, model.latent_dim))
    inputs = {"noise": noise.astype("float32")}
    if model.conditional:
        inputs["label"] = (np.arange(count) % len(data.labels)).astype("int32")
    return inputs


class GanApp(Application):
    """Image generation with GANs trained by `model.fit`.

    Data: anything the vision app reads (`digits`, a folder, `tfds:NAME`),
    scaled to [-1, 1]. Judged on the test images by the Fréchet distance on
    features of a vision classifier trained on the run's own training split
    (next to the floor of as many real training images) and, when
    conditional, by how often that classifier recognises the requested
    class. `runs/gan/best_generator.keras` is what `dlapps evaluate gan` and
    `dlapps export gan` take.
    """

    name = "gan"
    description = "image generator (DCGAN, conditional GAN, WGAN-GP): noise in, uint8 images out"
    defaults = {
        "data": "digits",
        # About 65 s on a quiet 2-core machine: the budget below is the safety
        # net for one at half that speed, not the schedule.
        "epochs": 60,
        "batch_size": 64,
        "optimizer": "adam",
        "learning_rate": 2e-4,
        "schedule": "constant",
        "warmup_epochs": 0,
        "optimizer_options": {"beta_1": 0.5},
        "monitor": "generator_loss",
        "patience": 0,
        "checkpoint": False,
        "time_budget": 300,
    }

    # How often a grid is drawn does not change what is trained.
    options_outside_fingerprint = ("samples_every",)

    def add_arguments(self, parser):
        group = parser.add_argument_group("gan")
        group.add_argument(
            "--gan", choices=FLAVOURS, default="conditional", help="flavour (default: conditional)"
        )
        group.add_argument("--latent-dim", type=int, default=64, help="noise size (default: 64)")
        group.add_argument(
            "--image-size",
            type=int,
            default=None,
            help="side of the generated images, a multiple of 4 "
            "(default: 16 for digits, else the data's size)",
        )
        group.add_argument(
            "--label-smoothing",
            type=float,
            default=0.1,
            help="one-sided label smoothing of DCGANs (default: 0.1)",
        )
        group.add_argument("--critic-steps", type=int, default=5, help="WGAN-GP critic steps")
        group.add_argument(
            "--select-every",
            type=int,
            default=5,
            help="epochs between validation FID scorings; the best generator is kept (default: 5)",
        )
        group.add_argument(
            "--classifier-epochs",
            type=int,
            default=30,
            help="epochs of the vision classifier whose features score the samples (default: 30)",
        )
        group.add_argument(
            "--samples-every",
            type=int,
            default=10,
            help="epochs between sample grids (default: 10)",
        )

    def check_options(self, options):
        check_minimums(
            options,
            {
                "latent_dim": 1,
                "critic_steps": 1,
                "select_every": 1,
                "classifier_epochs": 1,
                "samples_every": 1,
            },
        )
        smoothing = options.get("label_smoothing")
        if smoothing is not None and not 0 <= smoothing < 1:
            raise UserError(f"--label-smoothing {smoothing} is out of range: use 0 <= s < 1")
        size = options.get("image_size")
        if size is not None and (size < 4 or size % 4):
            raise UserError(f"--image-size {size} is not a positive multiple of 4")

    def load_data(self, config):
        self.check_options(config.options)
        image_data = vision_data.load_image_data(config.data, seed=config.seed)
        height = image_data.image_shape[0]
        size = config.options.get("image_size") or (16 if height < 16 else height - height % 4)
        classifier = feature_classifier(
            image_data, config.seed, config.options.get("classifier_epochs", 30)
        )
        # Validation images pick the best generator during training (see
        # BestGenerator); test images are kept for the final score.
        resized = image_data.resized((size, size))
        return GanData(
            **{f.name: getattr(resized, f.name) for f in dataclasses.fields(resized)},
            feature_classifier=classifier,
        )

    def datasets(self, data, batch_size, seed):
        images, labels = data.train
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
        dataset = dataset.shuffle(len(labels), seed=seed).batch(batch_size, drop_remainder=True)
        dataset = dataset.map(
            lambda x, y: (tf.cast(x, tf.float32) / 127.5 - 1.0, tf.cast(y, tf.int32)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return dataset.prefetch(tf.data.AUTOTUNE), None

    def num_train_examples(self, data):
        return len(data.train[1])

    def build_model(self, config, data):
        options = config.options
        flavour = options.get("gan", "conditional")
        latent_dim = options.get("latent_dim", 64)
        num_classes = len(data.labels) if flavour == "conditional" else None
        generator = build_generator(latent_dim, data.image_shape, num_classes)
        discriminator = build_discriminator(data.image_shape, num_classes)
        if flavour == "wgan_gp":
            return WGANGP(
                generator, discriminator, latent_dim, critic_steps=options.get("critic_steps", 5)
            )
        if flavour == "conditional":
            return ConditionalGAN(
                generator,
                discriminator,
                latent_dim,
                num_classes,
                label_smoothing=options.get("label_smoothing", 0.1),
            )
        return DCGAN(
            generator,
            discriminator,
            latent_dim,
            label_smoothing=options.get("label_smoothing", 0.1),
        )

    def compile_arguments(self, config, data):
        return {}

    def extra_callbacks(self, config, data, workdir):
        options = config.options
        selection = BestGenerator(
            FeatureScorer(data.feature_classifier, *data.validation),
            every=options.get("select_every", 5),
            path=Path(workdir) / "best_generator.keras",
        )
        every = options.get("samples_every", 10)
        return [
            SampleGrid(lambda model: model.generate(64, seed=0), Path(workdir) / "samples", every),
            selection,
        ]

    def evaluate(self, model, data, figures_dir):
        figures_dir = Path(figures_dir)
        scorer = data.test_scorer()
        inputs = scoring_inputs(model, data)
        count = len(inputs["noise"])
        metrics = scorer.score(model.generate_from(inputs), inputs.get("label"))
        # The same sample sizes as the score: real training images against the test images.
        chosen = np.random.default_rng(0).permutation(len(data.train[1]))[:count]
        metrics["fid_floor"] = scorer.floor(data.train[0][chosen])
        grid_labels = np.arange(64) % len(data.labels) if model.conditional else None
        grid = save_image_grid(model.generate(64, grid_labels, seed=1), figures_dir / "samples.png")
        details = {"scored_samples": count, "real_test_images": len(data.test[1])}
        selection = getattr(model, "generator_selection", None)
        if selection:
            details.update(selection)
        return metrics, details, [grid]

    def load_model(self, path):
        """Loads a generator `.keras` file (e.g. `runs/gan/best_generator.keras`) as a GAN."""
        generator = super().load_model(path)
        if len(generator.inputs) not in (1, 2) or len(generator.inputs[0].shape) != 2:
            raise UserError(f"{path} is not a GAN generator: pass runs/gan/best_generator.keras")
        latent_dim = int(generator.inputs[0].shape[-1])
        if len(generator.inputs) == 2:
            num_classes = generator.get_layer("label_embedding").input_dim
            return ConditionalGAN(generator, None, latent_dim, num_classes)
        return DCGAN(generator, None, latent_dim)

    def export_spec(self, model, data, scorer=None):
        """The generator's export; each file is scored against the test images
        (`scorer`, default `data.test_scorer()`), so FID and label accuracy
        appear per file, on the Keras model's samples (`scoring_inputs`)."""
        scorer = scorer or data.test_scorer()
        latent_dim = model.latent_dim
        num_classes = len(data.labels) if model.conditional else None
        inputs = scoring_inputs(model, data)
        reference = model.generate_from(inputs)
        input_description = {"noise": {"dtype": "float32", "shape": [None, latent_dim]}}
        if num_classes:
            input_description["label"] = {"dtype": "int32", "shape": [None]}
        return ExportSpec(
            app=self.name,
            model=model.generator,
            serving=[serving.generator_endpoint(model.generator, latent_dim, num_classes)],
            tflite=serving.generator_endpoint(model.generator, latent_dim, num_classes),
            output_key="images",
            test_inputs=inputs,
            reference=reference.astype("float64"),
            score=lambda images: scorer.score(images, inputs.get("label")),
            representative_data=None,
            labels=list(data.labels),
            inputs=input_description,
            outputs={"images": {"dtype": "uint8", "shape": [None, *data.image_shape]}},
            tflite_formats=TFLITE_FORMATS,
        )

    def predict(self, model_path, inputs, options):
        if inputs:
            raise UserError("a GAN takes no input files: use --num, --label and --out")
        count = options.get("num", 64)
        label = options.get("label")
        seed = options.get("seed", 0)
        out = Path(options.get("out") or "samples.png")
        if out.exists():
            raise UserError(f"{out} exists and is kept: pass --out with a new file name")
        model_path = Path(model_path)
        if is_tflite(model_path):
            model = TFLiteModel(model_path)
            run = model
            latent_dim = model.inputs["noise"]["shape"][-1]
            conditional = "label" in model.inputs
        else:
            signature = load_saved_model(model_path).signatures["serving_default"]
            specs = signature.structured_input_signature[1]
            latent_dim = specs["noise"].shape[-1]
            conditional = "label" in specs

            def run(batch):
                outputs = signature(**{k: tf.constant(v) for k, v in batch.items()})
                return {k: v.numpy() for k, v in outputs.items()}

        batch = {
            "noise": np.random.default_rng(seed)
            .standard_normal((count, latent_dim))
            .astype("float32")
        }
        if conditional:
            num_classes = len(read_labels(model_path))
            if label is not None and not 0 <= label < num_classes:
                raise UserError(f"--label {label} is out of range: use 0 to {num_classes - 1}")
            labels = np.full(count, label) if label is not None else np.arange(count) % num_classes
            batch["label"] = labels.astype("int32")
        elif label is not None:
            raise UserError(f"{model_path} is not a conditional GAN: leave out --label")
        images = run(batch)["images"]
        save_image_grid(images, out)
        return [f"wrote {count} generated images to {out}"]
