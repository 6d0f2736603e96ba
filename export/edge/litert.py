"""Run a .tflite file with nothing but numpy and a TFLite interpreter.

Works with `ai-edge-litert` (the current package) and `tflite-runtime` (the
older one, still the only build for some boards). Never imports TensorFlow,
so it runs on devices that cannot install it.

Example:

>>> interpreter = load_interpreter("model.tflite", num_threads=2)
>>> outputs = run(interpreter, np.zeros((4, 28, 28, 1), np.uint8))
>>> outputs["probabilities"].shape
(4, 10)
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


def _output_names(interpreter):
    # The signature's names ("probabilities") are the ones the exporter chose;
    # tensor names ("StatefulPartitionedCall:0") are converter internals. Only
    # the private full signature list maps names to tensor indices, so fall
    # back to tensor names where it is missing or there are several signatures.
    details = interpreter.get_output_details()
    try:
        signatures = interpreter._get_full_signature_list()
    except AttributeError:
        signatures = {}
    if len(signatures) != 1:
        return [d["name"] for d in details]
    outputs = next(iter(signatures.values()))["outputs"]
    by_index = {index: name for name, index in outputs.items()}
    return [by_index.get(d["index"], d["name"]) for d in details]


def run(interpreter, batch):
    """Run a single-input model on a whole batch in one invoke.

    Resizes the input's batch dimension to `len(batch)` (TFLite files keep
    the size they were last run with), quantizes the batch for the input and
    dequantizes every output.

    Args:
        interpreter: from `load_interpreter`.
        batch: numpy array `(batch, ...)` of real input values.

    Returns:
        A dict output name -> numpy array with the batch dimension first.

    Example:

    >>> run(interpreter, np.zeros((2, 28, 28, 1), np.uint8))["probabilities"].shape
    (2, 10)
    """
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise EdgeError(f"the model has {len(inputs)} inputs; run() feeds one")
    details = inputs[0]
    batch = np.asarray(batch)
    shape = [len(batch), *details["shape"][1:]]
    if list(details["shape"]) != shape:
        interpreter.resize_tensor_input(details["index"], shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(details["index"], quantize_input(batch, details))
    interpreter.invoke()
    return {
        name: dequantize_output(interpreter.get_tensor(d["index"]), d)
        for name, d in zip(
            _output_names(interpreter), interpreter.get_output_details(), strict=True
        )
    }
