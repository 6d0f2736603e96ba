"""The GAN application: DCGAN, conditional GAN and WGAN-GP image generators."""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps.application import Application
from dlapps.callbacks import SampleGrid
from dlapps.errors import UserError
from dlapps.export import ExportSpec, TFLiteModel, load_saved_model, read_labels
from dlapps.export.tflite import is_tflite
from dlapps.gan import serving
from dlapps.gan.best_generator import BestGenerator
from dlapps.gan.conditional_gan import ConditionalGAN
from dlapps.gan.dcgan import DCGAN
from dlapps.gan.frechet import FeatureScorer
from dlapps.gan.networks import build_discriminator, build_generator
from dlapps.gan.wgan_gp import WGANGP
from dlapps.report import save_image_grid
from dlapps.vision import data as vision_data

FLAVOURS = ("dcgan", "conditional", "wgan_gp")
SAMPLES_FOR_SCORING = 1000


class GanApp(Application):
    """Image generation with GANs trained by `model.fit`.

    Data: anything the vision app reads (`digits`, a folder, `tfds:NAME`),
    scaled to [-1, 1]. Judged by the Fréchet distance on features of a
    vision classifier trained on the same data and, when conditional, by
    how often that classifier recognises the requested class.
    """

    name = "gan"
    description = "image generator (DCGAN, conditional GAN, WGAN-GP): noise in, uint8 images out"
    defaults = {
        "data": "digits",
        "epochs": 150,
        "batch_size": 64,
        "optimizer": "adam",
        "learning_rate": 2e-4,
        "schedule": "constant",
        "warmup_epochs": 0,
        "optimizer_options": {"beta_1": 0.5},
        "monitor": "generator_loss",
        "patience": 0,
        "checkpoint": False,
        "time_budget": 120,
    }

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

    def load_data(self, config):
        image_data = vision_data.load_image_data(config.data, seed=config.seed)
        height = image_data.image_shape[0]
        size = config.options.get("image_size") or (16 if height < 16 else height - height % 4)
        if size % 4:
            raise UserError(f"--image-size {size} is not a multiple of 4")
        # Validation images pick the best generator during training (see
        # BestGenerator); test images are kept for the final score.
        return image_data.resized((size, size))

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
        options = self._options = config.options
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
        classifier = self.feature_classifier(data, workdir, options.get("classifier_epochs", 30))
        self._best_generator = BestGenerator(
            FeatureScorer(classifier, *data.validation), every=options.get("select_every", 5)
        )
        every = options.get("samples_every", 10)
        return [
            SampleGrid(lambda model: model.generate(64, seed=0), Path(workdir) / "samples", every),
            self._best_generator,
        ]

    def evaluate(self, model, data, figures_dir):
        figures_dir = Path(figures_dir)
        classifier = self.feature_classifier(
            data, figures_dir.parent, self._options.get("classifier_epochs", 30)
        )
        scorer = self._scorer = FeatureScorer(classifier, *data.test)  # also scores the exports
        labels = np.arange(SAMPLES_FOR_SCORING) % len(data.labels)
        generated = model.generate(SAMPLES_FOR_SCORING, labels if model.conditional else None)
        metrics = scorer.score(generated, labels if model.conditional else None)
        metrics["fid_floor"] = scorer.floor()
        grid_labels = np.arange(64) % len(data.labels) if model.conditional else None
        grid = save_image_grid(model.generate(64, grid_labels, seed=1), figures_dir / "samples.png")
        details = {"scored_samples": SAMPLES_FOR_SCORING}
        selection = getattr(self, "_best_generator", None)
        if selection is not None and selection.scores:
            details["selected_epoch"] = selection.best_epoch
            details["validation_fid_by_epoch"] = selection.scores
        return metrics, details, [grid]

    def feature_classifier(self, data, workdir, epochs=30):
        """A vision classifier of the same data, whose features score the samples.

        Trained once with the vision app's defaults and cached in `workdir`.
        """
        from dlapps import training
        from dlapps.vision.vision_app import VisionApp

        path = Path(workdir) / "feature_classifier.keras"
        stamp = Path(workdir) / "feature_classifier.json"
        key = {"source": data.source, "classes": data.labels, "epochs": epochs}
        if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key:
            return VisionApp().load_model(path)
        config = training.TrainConfig(
            app="vision",
            data=data.source.removeprefix("folder:"),
            workdir=str(Path(workdir) / "feature_classifier_run"),
            export=False,
            verbose=0,
            epochs=epochs,
            restart=True,
        )
        classifier = training.run(VisionApp(), config).model
        classifier.save(path)
        stamp.write_text(json.dumps(key))
        return classifier

    def export_spec(self, model, data, scorer=None):
        """The generator's export; each file is scored with `scorer` (default: the
        one `evaluate` built), so FID and label accuracy appear per file."""
        scorer = scorer or getattr(self, "_scorer", None)
        latent_dim = model.latent_dim
        num_classes = len(data.labels) if model.conditional else None
        rng = np.random.default_rng(0)
        noise = rng.standard_normal((256, latent_dim)).astype("float32")
        inputs = {"noise": noise}
        if num_classes:
            inputs["label"] = (np.arange(256) % num_classes).astype("int32")
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
            score=(lambda images: scorer.score(images, inputs.get("label")))
            if scorer
            else (lambda images: {}),
            representative_data=None,
            labels=list(data.labels),
            inputs=input_description,
            outputs={"images": {"dtype": "uint8", "shape": [None, *data.image_shape]}},
            tflite_formats=("tflite_float32", "tflite_float16", "tflite_dynamic"),
        )

    def predict(self, model_path, inputs, options):
        if inputs:
            raise UserError("a GAN takes no input files: use --num, --label and --out")
        count = options.get("num", 64)
        label = options.get("label")
        seed = options.get("seed", 0)
        out = options.get("out") or "samples.png"
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
