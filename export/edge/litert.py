"""Run a .tflite file with nothing but numpy and a TFLite interpreter.

Works with `ai-edge-litert` (the current package) and `tflite-runtime` (the
older one, still the only build for some boards). Never imports TensorFlow,
so it runs on devices that cannot install it.

Example:

>>> interpreter = load_interpreter("model.tflite", num_threads=2)
>>> outputs = run(interpreter, np.zeros((4, 28, 28, 1), np.uint8))
>>> outputs["probabilities"].shape
(4, 10)

Models with several inputs are fed by signature name with `run_named`:

>>> run_named(gan, {"noise": noise, "label": labels})["images"].dtype
dtype('uint8')
"""

from pathlib import Path

import numpy as np

# Every TFLite flatbuffer carries this file identifier at bytes 4..8.
_TFLITE_MAGIC = b"TFL3"


class EdgeError(Exception):
    """A problem the user can fix (bad path, bad file); printed as one line."""


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as litert_error:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise EdgeError(
                "no TFLite interpreter is installed: pip install ai-edge-litert "
                "(or pip install tflite-runtime on boards where only it exists); "
                f"import failed with: {litert_error}"
            ) from None
    return Interpreter


def load_interpreter(model_path, num_threads=None):
    """Open a .tflite file, with a one-line `EdgeError` when that fails.

    Checks the file exists and is a TFLite flatbuffer before handing it to
    the interpreter, whose own message for a wrong file is cryptic. Tensors
    are not allocated yet: `run` does that once it knows the batch size.

    Args:
        model_path: path of the .tflite file.
        num_threads: CPU threads for the interpreter; None lets it choose.

    Example:

    >>> interpreter = load_interpreter("vision/model.tflite")
    >>> interpreter.get_input_details()[0]["shape_signature"]
    array([-1, 28, 28,  1], dtype=int32)
    """
    path = Path(model_path)
    if not path.is_file():
        raise EdgeError(f"model file not found: {path}")
    with path.open("rb") as file:
        header = file.read(8)
    if header[4:8] != _TFLITE_MAGIC:
        raise EdgeError(f"{path} is not a TFLite model (no TFL3 flatbuffer header)")
    Interpreter = _interpreter_class()
    try:
        return Interpreter(model_path=str(path), num_threads=num_threads)
    except (ValueError, RuntimeError) as error:
        raise EdgeError(f"could not load TFLite model {path}: {error}") from None


def metadata_labels(model_path):
    """The labels inside a .tflite file's metadata (MediaPipe Tasks'), or None.

    The metadata writer appends its associated files (the label file among
    them) to the flatbuffer as a zip archive, which `zipfile` finds from the
    end of the file: no TensorFlow or flatbuffer parsing needed. dlapps
    files for MediaPipe Tasks carry `labels.txt` there, so the .tflite file
    alone is enough.

    Example:

    >>> metadata_labels("vision_int8.tflite")[:3]
    ['0', '1', '2']
    """
    import zipfile

    try:
        with zipfile.ZipFile(model_path) as archive:
            names = archive.namelist()
            if "labels.txt" not in names:
                return None
            text = archive.read("labels.txt").decode("utf-8")
    except (zipfile.BadZipFile, OSError):
        return None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _quantization(details):
    scale, zero_point = details["quantization"]
    return float(scale), int(zero_point)


def quantize_input(array, input_details):
    """Convert pixel values to what one model input expects.

    - float inputs get the values as float32, still 0..255: dlapps models
      rescale inside the graph, so no normalisation happens here.
    - integer inputs without quantization (scale 0.0), such as the dlapps
      uint8 input, get the values unchanged.
    - int8/uint8 inputs with a scale and zero point get
      `round(x / scale) + zero_point`, clipped to the dtype's range.

    Args:
        array: numpy array of real input values, e.g. uint8 pixels.
        input_details: one entry of `interpreter.get_input_details()`.

    Example:

    >>> details = {"dtype": np.int8, "quantization": (2.0, -128)}
    >>> quantize_input(np.array([0, 255], np.uint8), details)
    array([-128,    0], dtype=int8)
    """
    dtype = np.dtype(input_details["dtype"])
    if dtype.kind == "f":
        return np.asarray(array, dtype)
    scale, zero_point = _quantization(input_details)
    if scale == 0.0 and np.asarray(array).dtype == dtype:
        return np.asarray(array)  # e.g. raw uint8 pixels into a uint8 input
    values = np.asarray(array, np.float32)
    if scale != 0.0:
        values = values / scale + zero_point
    limits = np.iinfo(dtype)
    return np.clip(np.round(values), limits.min, limits.max).astype(dtype)


def dequantize_output(array, output_details):
    """Turn one raw output tensor into real values: `(q - zero_point) * scale`.

    Float outputs, and integer outputs without quantization, come back as
    they are.

    Example:

    >>> details = {"dtype": np.uint8, "quantization": (1 / 256, 0)}
    >>> dequantize_output(np.array([128], np.uint8), details)
    array([0.5], dtype=float32)
    """
    scale, zero_point = _quantization(output_details)
    if np.dtype(output_details["dtype"]).kind == "f" or scale == 0.0:
        return array
    return (array.astype(np.float32) - zero_point) * np.float32(scale)


def _signature_names(interpreter, kind):
    # The signature's names ("noise", "images") are the ones the exporter
    # chose; tensor names ("serving_default_noise:0") are converter internals.
    # Only the private full signature list maps names to tensor indices, so
    # fall back to tensor names where it is missing or there are several
    # signatures.
    details = getattr(interpreter, f"get_{kind}_details")()
    try:
        signatures = interpreter._get_full_signature_list()
    except AttributeError:
        signatures = {}
    by_index = {}
    if len(signatures) == 1:
        by_index = {i: name for name, i in next(iter(signatures.values()))[f"{kind}s"].items()}
    return {by_index.get(d["index"], d["name"]): d for d in details}


def input_details(interpreter):
    """The model's inputs as a dict signature name -> input details.

    Example:

    >>> {name: d["shape_signature"].tolist() for name, d in input_details(gan).items()}
    {'noise': [-1, 128], 'label': [-1]}
    """
    return _signature_names(interpreter, "input")


def run_named(interpreter, inputs):
    """Run a model with one or several named inputs on a batch in one invoke.

    The names are the model's signature input names (see `input_details`).
    Resizes each input's batch dimension to the length of its array (TFLite
    files keep the size they were last run with), quantizes each array for
    its input and dequantizes every output.

    Args:
        interpreter: from `load_interpreter`.
        inputs: dict input name -> numpy array `(batch, ...)` of real values.

    Returns:
        A dict output name -> numpy array with the batch dimension first.

    Example:

    >>> noise = np.zeros((4, 128), np.float32)
    >>> run_named(gan, {"noise": noise, "label": np.arange(4)})["images"].shape
    (4, 28, 28, 1)
    """
    details = input_details(interpreter)
    if set(inputs) != set(details):
        raise EdgeError(
            f"the model's inputs are {sorted(details)}, but {sorted(inputs)} were given"
        )
    arrays = {name: np.asarray(array) for name, array in inputs.items()}
    for name, array in arrays.items():
        shape = [len(array), *details[name]["shape"][1:]]
        if list(details[name]["shape"]) != shape:
            interpreter.resize_tensor_input(details[name]["index"], shape)
    interpreter.allocate_tensors()
    for name, array in arrays.items():
        interpreter.set_tensor(details[name]["index"], quantize_input(array, details[name]))
    interpreter.invoke()
    return {
        name: dequantize_output(interpreter.get_tensor(d["index"]), d)
        for name, d in _signature_names(interpreter, "output").items()
    }


def run(interpreter, batch):
    """Run a single-input model on a whole batch in one invoke.

    `run_named` for a model with one input, whatever its name.

    Args:
        interpreter: from `load_interpreter`.
        batch: numpy array `(batch, ...)` of real input values.

    Returns:
        A dict output name -> numpy array with the batch dimension first.

    Example:

    >>> run(interpreter, np.zeros((2, 28, 28, 1), np.uint8))["probabilities"].shape
    (2, 10)
    """
    names = list(input_details(interpreter))
    if len(names) != 1:
        raise EdgeError(f"the model has {len(names)} inputs; run() feeds one: use run_named()")
    return run_named(interpreter, {names[0]: batch})
