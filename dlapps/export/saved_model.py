"""SavedModels with named signatures on raw inputs, as TF Serving loads them."""

import dataclasses
from pathlib import Path

import keras
import tensorflow as tf

from dlapps.errors import UserError


@dataclasses.dataclass
class Endpoint:
    """One exported function: a signature of a SavedModel, or a TFLite graph.

    Attributes:
        name: signature name; the first SavedModel endpoint must be
            "serving_default", the one TF Serving uses when none is named.
        function: a `tf.function`-traceable callable returning a dict of
            named tensors.
        input_signature: list of named `tf.TensorSpec`; the names become the
            signature's input names (what REST clients send).
        models: other Keras models `function` calls (e.g. a copy built for
            conversion), tracked so that their variables are saved too.
    """

    name: str
    function: object
    input_signature: list
    models: tuple = ()


def write_saved_model(model, endpoints, path, track_model=True):
    """Writes `model`'s variables with one signature per endpoint.

    Uses `keras.export.ExportArchive`, so the result needs no Python custom
    objects: TF Serving and a process that imports only TensorFlow load it.

    Args:
        model: the Keras model the endpoints call.
        endpoints: `Endpoint`s; the first is the default signature.
        path: the directory to write.
        track_model: also save `model`'s (and `endpoint.models`') object
            graph: every layer, and the lookup tables a tokenizer holds.
            False writes only what the endpoints read (the variables are
            found from the traced functions): a SavedModel that is written
            and loaded in about half the time, for the TFLite converter,
            which needs nothing more. It cannot hold lookup tables.

    Example:

    >>> endpoint = Endpoint("serving_default", lambda x: {"y": model(x)},
    ...                     [tf.TensorSpec([None, 8], tf.float32, name="x")])
    >>> write_saved_model(model, [endpoint], "/tmp/model/1")
    """
    archive = keras.export.ExportArchive()
    if track_model:
        archive.track(model)
    for endpoint in endpoints:
        for extra in endpoint.models if track_model else ():
            archive.track(extra)
        archive.add_endpoint(
            endpoint.name, endpoint.function, input_signature=endpoint.input_signature
        )
    archive.write_out(str(path), verbose=False)
    return Path(path)


def is_saved_model(path):
    """Whether `path` is a SavedModel directory."""
    return Path(path, "saved_model.pb").is_file()


def load_saved_model(path):
    """Loads a SavedModel with plain `tf.saved_model.load` (and tensorflow-text's ops).

    Raises:
        UserError: `path` is not a SavedModel directory.
    """
    if not is_saved_model(path):
        raise UserError(
            f"{path} is not a SavedModel directory (no saved_model.pb in it): pass "
            "a version directory such as saved_models/vision/1, or a .tflite file"
        )
    # Registers tensorflow-text's ops, which models with tokenizers use.
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(str(path))


def signature_runner(path, signature="serving_default"):
    """A `callable(inputs dict) -> outputs dict` of numpy arrays for one signature.

    Its `input_names` attribute is the set of the signature's input names.
    """
    function = load_saved_model(path).signatures[signature]

    def run(inputs):
        outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
        return {name: value.numpy() for name, value in outputs.items()}

    run.input_names = set(function.structured_input_signature[1])
    return run
