"""The contract every dlapps application fulfils, and the registry of apps.

The shared driver (`dlapps.training`) calls an application's methods in this
order: `load_data` -> `build_model` (inside the distribution strategy's
scope) -> `compile_arguments` -> `model.fit` on `datasets` -> `evaluate` ->
`export_spec` (for `dlapps.export.export_model`). `predict` serves the CLI.
After the first `model.fit`, `next_phase` may ask for further phases (e.g.
fine-tuning a pretrained backbone after training a new head on it).

An app that needs a command of its own beside train/evaluate/export/predict
(face enrolment, watching an agent play) lists it in `commands()`; the CLI
adds every app's commands as `dlapps NAME MODEL ...` and runs them on the app
that exported MODEL.
"""

import dataclasses
import importlib

from dlapps.errors import UserError

APPLICATIONS = {
    "vision": "dlapps.vision.vision_app:VisionApp",
    "gan": "dlapps.gan.gan_app:GanApp",
    "speech_kws": "dlapps.speech.kws_app:KeywordSpottingApp",
    "speech_stt": "dlapps.speech.stt_app:SpeechToTextApp",
    "translation": "dlapps.translation.translation_app:TranslationApp",
    "game": "dlapps.game.game_app:GameApp",
    "summarization": "dlapps.translation.summarization_app:SummarizationApp",
    "faces": "dlapps.faces.faces_app:FacesApp",
    "detection": "dlapps.vision.detection_app:DetectionApp",
}


@dataclasses.dataclass
class AppCommand:
    """A command of an app's own: `dlapps NAME MODEL [arguments]`.

    `MODEL` is an exported version directory or a file in one; the CLI finds
    which app exported it and calls that app's command of this name.

    Attributes:
        name: the command, e.g. `"enroll"`.
        help: one line for `dlapps --help`.
        example: the usage example shown by `dlapps NAME --help`.
        add_arguments: `add_arguments(parser)` adds the command's arguments
            (`model` is already there).
        run: `run(args)` does the work and returns the lines to print;
            mistakes raise `dlapps.errors.UserError`.
    """

    name: str
    help: str
    example: str
    add_arguments: object
    run: object


@dataclasses.dataclass
class TrainingPhase:
    """A further `model.fit` phase that an application asks the driver for.

    The driver recompiles the model with a fresh optimizer (the run's
    optimizer and schedule, at `learning_rate`, no warmup) and continues
    the epoch count and history where the previous phase ended.
    """

    epochs: int
    learning_rate: float


class Application:
    """Base class of an application: data, model, metrics and exports for one task.

    Subclasses set `name`, `description` and `defaults` (training settings
    that suit the task: epochs, batch_size, optimizer, learning_rate,
    schedule, warmup_epochs, monitor) and implement the methods below.
    """

    name = ""
    description = ""
    defaults = {}

    def training_defaults(self, config):
        """The defaults for this run; apps whose settings depend on the options override it."""
        return self.defaults

    def add_arguments(self, parser):
        """Adds the app's own command-line flags to an argparse parser."""

    def check_options(self, options):
        """Raises `UserError` for app settings out of range, before any data is loaded."""

    def load_data(self, config):
        """Returns the app's data object for `config.data`.

        Anything else evaluation needs (such as the GAN's feature classifier,
        trained on this run's training split) travels in the data object, so
        an application keeps no state between these methods and `dlapps
        evaluate`/`export` can call them on their own.
        """
        raise NotImplementedError

    def datasets(self, data, batch_size, seed):
        """Returns `(train, validation)` batched `tf.data.Dataset`s."""
        raise NotImplementedError

    def num_train_examples(self, data):
        """Number of training examples, to size learning-rate schedules."""
        raise NotImplementedError

    def build_model(self, config, data):
        """Returns an uncompiled `keras.Model`; called inside the strategy scope."""
        raise NotImplementedError

    def compile_arguments(self, config, data):
        """Returns `model.compile` keyword arguments apart from the optimizer."""
        raise NotImplementedError

    def extra_callbacks(self, config, data, workdir):
        """Callbacks of this app on top of the standard set (e.g. a sample grid)."""
        return []

    def next_phase(self, model, config, data, completed_phases):
        """Prepares `model` for another training phase, or returns `None` (the default).

        Called after each `model.fit` with the number of phases done so far;
        an app may change which layers train and return a `TrainingPhase`.
        """
        return None

    def evaluate(self, model, data, figures_dir):
        """Measures the model on the test split.

        Returns:
            `(metrics, details, figures)`: scalar metrics (name -> value),
            more results for the report, and PNG paths written to
            `figures_dir`.
        """
        raise NotImplementedError

    def export_spec(self, model, data):
        """Returns the `dlapps.export.ExportSpec` of a trained model."""
        raise NotImplementedError

    def load_model(self, path):
        """Loads a `.keras` file safely (no arbitrary code, no pickle)."""
        import keras

        # The app's module is imported (self exists), so its custom layers are registered.
        try:
            return keras.saving.load_model(path, safe_mode=True)
        except (OSError, ValueError) as error:
            raise UserError(f"could not load Keras model {path}: {error}") from None

    def predict(self, model_path, inputs, options):
        """Runs an exported model on user inputs; returns lines to print."""
        raise NotImplementedError

    def add_predict_arguments(self, parser):
        """Adds the app's own `dlapps predict` flags (e.g. `--gallery`); name them for the app."""

    def commands(self):
        """The app's own commands (a list of `AppCommand`); none by default."""
        return []


def check_minimums(options, minimums):
    """Raises `UserError` for the first option below its minimum (an app's `check_options` aid).

    Args:
        options: the app's options, by argparse destination name.
        minimums: option name -> smallest allowed value; options left
            unset (None) are not checked.

    Example:

    >>> check_minimums({"layers": 0}, {"layers": 1})
    Traceback (most recent call last):
    ...
    dlapps.errors.UserError: --layers 0 is too small: use at least 1
    """
    for name, minimum in minimums.items():
        value = options.get(name)
        if value is not None and value < minimum:
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} {value} is too small: use at least {minimum}")


def application_names():
    """Names of the available applications."""
    return sorted(APPLICATIONS)


def get_application(name):
    """Returns an instance of the application called `name`.

    Raises:
        UserError: no such application.
    """
    if name not in APPLICATIONS:
        raise UserError(
            f"unknown application {name!r}: choose one of {', '.join(application_names())}"
        )
    module_name, class_name = APPLICATIONS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()
