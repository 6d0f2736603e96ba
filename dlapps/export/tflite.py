"""TFLite conversion (four variants) and a small LiteRT runner.

The variants, from largest to smallest:

- `tflite_float32`: the float model as is; outputs match Keras to ~1e-6.
- `tflite_float16`: weights stored as float16 (half the size), computed
  in float32 on CPUs; GPUs delegates can run it in half precision.
- `tflite_dynamic`: weights stored as int8, activations quantized on the fly
  per batch; no calibration data needed.
- `tflite_int8`: everything int8 with uint8 image input, calibrated on
  representative data; the fastest on CPUs, NPUs and microcontrollers.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from dlapps.errors import UserError

TFLITE_FORMATS = ("tflite_float32", "tflite_float16", "tflite_dynamic", "tflite_int8")


def convert(
    saved_model_path,
    tflite_format,
    representative_data=None,
    signature="serving_default",
    float_ops=(),
    text_ops=False,
):
    """Converts one signature of a SavedModel to TFLite, builtin ops only.

    Converting from a SavedModel (rather than from a Keras 3 model's
    concrete function) is what carries the weights into the file.

    Args:
        saved_model_path: a SavedModel whose `signature` has fixed shapes
            apart from the batch dimension.
        tflite_format: one of `TFLITE_FORMATS`.
        representative_data: for "tflite_int8": a callable returning an
            iterable of input dicts (signature input name -> array) from
            the training data, used to calibrate activation ranges.
        float_ops: for "tflite_int8": TFLite op names (e.g. "RFFT2D",
            "LOG") kept in float while the rest is int8, for front ends
            such as a spectrogram whose values int8 cannot hold. The input
            then stays float32. Empty (the default) quantizes every op and
            makes the input uint8.
        text_ops: allow tensorflow-text's ops (tokenizers) as TFLite custom
            ops; the file then runs on an interpreter with
            `tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS` registered
            (`TFLiteModel` does that by itself).

    Returns:
        The `.tflite` flatbuffer as bytes.
    """
    if tflite_format not in TFLITE_FORMATS:
        raise ValueError(
            f"unknown TFLite format {tflite_format!r}: choose one of {', '.join(TFLITE_FORMATS)}"
        )
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_path), signature_keys=[signature]
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = text_ops
    # The converter's own metadata (its version and options) costs a third
    # pass over the flatbuffer in Python; nothing reads it.
    converter.exclude_conversion_metadata = True
    if tflite_format != "tflite_float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if tflite_format == "tflite_float16":
        converter.target_spec.supported_types = [tf.float16]
    if tflite_format == "tflite_int8":
        if representative_data is None:
            raise ValueError("tflite_int8 needs representative_data to calibrate")
        converter.representative_dataset = representative_data
        if float_ops:
            return _convert_int8_with_float_ops(converter, representative_data, float_ops)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # The graph's image input is already uint8 pixels; the output stays float.
        converter.inference_input_type = tf.uint8
    return converter.convert()


def order_outputs(content, names):
    """The same `.tflite` file with its outputs in the order of `names`, by position and index.

    The converter orders a signature's outputs as it likes (a detector's
    count came first). A runtime that takes outputs by position reads them
    in the order of the subgraph's output list, and MediaPipe's metadata
    writer pairs them with tensor indices in ascending order: both are set
    here, by swapping the named output tensors among their own index slots.
    The signature keeps every name on its tensor, so named access
    (`TFLiteModel`) is unchanged.

    Args:
        content: a `.tflite` flatbuffer with one signature.
        names: the signature's output names, all of them, in the wanted order.

    Example:

    >>> content = order_outputs(content, ("boxes", "classes", "scores", "num_detections"))
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    signature = model.signatureDefs[0]
    subgraph = model.subgraphs[signature.subgraphIndex]
    by_name = {_text(output.name): int(output.tensorIndex) for output in signature.outputs}
    if sorted(by_name) != sorted(names):
        raise ValueError(f"outputs {sorted(by_name)} are not {sorted(names)}")
    wanted = [by_name[name] for name in names]
    moved = dict(zip(wanted, sorted(wanted), strict=True))  # old index -> new index

    def remap(indices):
        return None if indices is None else [moved.get(int(i), int(i)) for i in indices]

    tensors = list(subgraph.tensors)
    for old, new in moved.items():
        tensors[new] = subgraph.tensors[old]
    subgraph.tensors = tensors
    for operator in subgraph.operators:
        operator.inputs = remap(operator.inputs)
        operator.outputs = remap(operator.outputs)
        operator.intermediates = remap(operator.intermediates)
    subgraph.inputs = remap(subgraph.inputs)
    subgraph.outputs = sorted(wanted)
    for tensor_map in [*signature.inputs, *signature.outputs]:
        tensor_map.tensorIndex = moved.get(int(tensor_map.tensorIndex), tensor_map.tensorIndex)
    return flatbuffer_utils.convert_object_to_bytearray(model)


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


RECURRENT_LAYERS = ("GRU", "LSTM", "SimpleRNN")


def unrolled_copy(model):
    """The same model, weights included, with every GRU/LSTM/SimpleRNN unrolled over time.

    TFLite cannot convert a recurrent layer's loop when the batch size is
    unknown (the TensorList ops need a static element shape); unrolled, the
    recurrence is plain builtin ops over the fixed number of steps. Works
    through nested models and `Bidirectional`. Use it for TFLite conversion
    only: it computes the same function.

    Example:

    >>> copy = unrolled_copy(model)
    >>> np.allclose(copy(x), model(x), atol=1e-5)
    True
    """

    def unroll(node):
        if isinstance(node, dict):
            if node.get("class_name") in RECURRENT_LAYERS:
                node["config"]["unroll"] = True
            for value in node.values():
                unroll(value)
        elif isinstance(node, list):
            for value in node:
                unroll(value)

    config = model.get_config()
    unroll(config)
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _convert_int8_with_float_ops(converter, representative_data, float_ops):
    """Full-int8 conversion that leaves the ops named in `float_ops` in float.

    Selective quantization goes through `QuantizationDebugger`'s denylist;
    its non-debug model is the ordinary quantized model minus those ops.
    """
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
        tf.lite.OpsSet.TFLITE_BUILTINS,
    ]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=lambda: (list(inputs.values()) for inputs in representative_data()),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(float_ops)),
    )
    return debugger.get_nondebug_quantized_model()


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # boards that only have the older package
        from tflite_runtime.interpreter import Interpreter
    return Interpreter


def _open_interpreter(path, content, num_threads):
    """An interpreter for the file; with tensorflow-text's ops if it needs them."""
    interpreter = _interpreter_class()(
        model_path=path, model_content=content, num_threads=num_threads
    )
    try:
        interpreter.allocate_tensors()  # where unresolved custom ops show up
        return interpreter
    except RuntimeError as error:
        if "custom op" not in str(error).lower():
            raise
    # A file with tensorflow-text's tokenizer ops: register them.
    import tensorflow_text
    from ai_edge_litert.interpreter import InterpreterWithCustomOps

    return InterpreterWithCustomOps(
        model_path=path,
        model_content=content,
        num_threads=num_threads,
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
    )


class TFLiteModel:
    """Runs a `.tflite` file on the LiteRT interpreter with named inputs and outputs.

    Quantized outputs are dequantized; the batch dimension is resized to
    whatever batch is passed in. A file made for batch 1 (its inputs' batch
    dimension fixed at 1, e.g. a detector with NMS in the graph) is run on
    each example of a batch in turn, and the outputs are stacked.

    Example:

    >>> model = TFLiteModel("saved_models/vision/1/vision_int8.tflite")
    >>> model({"images": images})["probabilities"].shape
    (32, 10)
    """

    def __init__(self, model, num_threads=None):
        content = model if isinstance(model, bytes) else None
        path = None if content is not None else str(model)
        try:
            self.interpreter = _open_interpreter(path, content, num_threads)
        except (ValueError, RuntimeError) as error:
            raise UserError(f"{model} is not a readable .tflite file ({error})") from None
        signatures = self.interpreter.get_signature_list()
        if signatures:
            runner = self.interpreter.get_signature_runner(next(iter(signatures)))
            self.inputs = runner.get_input_details()
            self.outputs = runner.get_output_details()
        else:
            self.inputs = {d["name"]: d for d in self.interpreter.get_input_details()}
            self.outputs = {d["name"]: d for d in self.interpreter.get_output_details()}
        self.input_names = set(self.inputs)
        # Fixed at batch 1 (not -1, "any"): one example per invoke.
        self.batch_one = all(
            list(d.get("shape_signature", d["shape"]))[:1] == [1] for d in self.inputs.values()
        )
        self._batch = None

    def _prepare(self, batch):
        if batch == self._batch:
            return
        for details in self.inputs.values():
            shape = list(details["shape"])
            self.interpreter.resize_tensor_input(details["index"], [batch, *shape[1:]])
        self.interpreter.allocate_tensors()
        self._batch = batch

    def __call__(self, inputs):
        """Runs one batch: `inputs` maps input name -> array; returns name -> array."""
        batch = len(next(iter(inputs.values())))
        if self.batch_one and batch > 1:
            rows = [
                self({name: value[i : i + 1] for name, value in inputs.items()})
                for i in range(batch)
            ]
            return {name: np.concatenate([row[name] for row in rows]) for name in self.outputs}
        self._prepare(batch)
        for name, value in inputs.items():
            details = self.inputs[name]
            if details["dtype"] in (np.bytes_, np.object_):  # strings, UTF-8 encoded
                value = np.array([_utf8(text) for text in value], dtype=object)
            else:
                value = np.asarray(value, details["dtype"])
            self.interpreter.set_tensor(details["index"], value)
        self.interpreter.invoke()
        results = {}
        for name, details in self.outputs.items():
            value = self.interpreter.get_tensor(details["index"])
            scale, zero_point = details["quantization"]
            if scale:
                value = (value.astype("float32") - zero_point) * scale
            results[name] = value
        return results

    def run_batched(self, inputs, batch_size=256):
        """Runs over all of `inputs` in batches; returns name -> concatenated array."""
        count = len(next(iter(inputs.values())))
        parts = {}
        for start in range(0, count, batch_size):
            batch = {name: value[start : start + batch_size] for name, value in inputs.items()}
            for name, value in self(batch).items():
                parts.setdefault(name, []).append(value)
        return {name: np.concatenate(values) for name, values in parts.items()}


def _utf8(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def is_tflite(path):
    """Whether `path` is a file that names itself a TFLite flatbuffer."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as file:
        return file.read(8)[4:8] == b"TFL3"


def op_names(content):
    """Every op of a .tflite flatbuffer, in all its subgraphs (loop bodies included).

    Builtin ops by their TFLite name (e.g. "NON_MAX_SUPPRESSION_V4", "WHILE"),
    custom ops (Flex ones included) by their custom code (e.g.
    "FlexNonMaxSuppressionV5", "TFLite_Detection_PostProcess"). The
    interpreter's own op list shows only the main subgraph.

    Example:

    >>> "CONV_2D" in op_names(Path("saved_models/vision/1/vision_int8.tflite").read_bytes())
    True
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(bytearray(content), 0)
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = set()
    for subgraph_index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(subgraph_index)
        for op_index in range(subgraph.OperatorsLength()):
            code = model.OperatorCodes(subgraph.Operators(op_index).OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                names.add(code.CustomCode().decode())
            else:
                names.add(builtin_names[builtin])
    return names
