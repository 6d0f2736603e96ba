"""The one exporter every app uses: SavedModel + TFLite variants + report.json.

An app describes what to export in an `ExportSpec`; `export_model` writes
everything into a staging directory, checks every file against the Keras
model on the test split (task metric, max abs difference, latency) and
publishes it as the next version directory:

    saved_models/<app>/<version>/
        saved_model.pb, variables/      the SavedModel TF Serving loads
        <app>_float32.tflite ...        one file per TFLite variant, with MediaPipe
                                        Tasks metadata when the app names its task
        labels.txt                      label i on line i
        report.json                     what the model is and how it measured
        figures/*.png                   training curves, confusion matrix, ...
"""

import dataclasses
import datetime
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from dlapps import report as report_lib
from dlapps.errors import UserError
from dlapps.export import benchmark, mediapipe_metadata, saved_model, tflite, versioning

FILE_SUFFIXES = {
    "tflite_float32": "float32",
    "tflite_float16": "float16",
    "tflite_dynamic": "dynamic_int8",
    "tflite_int8": "int8",
}


@dataclasses.dataclass
class ExportSpec:
    """What an app exports and how each exported file is checked.

    Attributes:
        app: the app's name; the base path is `<output>/<app>`.
        model: the trained Keras model whose variables are exported.
        serving: SavedModel endpoints on raw inputs; the first is
            "serving_default".
        tflite: the endpoint converted to TFLite: fixed shapes apart from
            batch, builtin ops only, returning `output_key`.
        output_key: the output compared across all formats; a tuple of
            names (e.g. a detector's boxes, classes, scores and count)
            hands `score` and `parity` a dict name -> array (then give
            `parity`, and `reference` as such a dict).
        test_inputs: input name -> test-split array, fed to `tflite` and
            to the SavedModel's "serving_default".
        reference: the Keras model's `output_key` on `test_inputs`.
        score: `callable(outputs) -> dict` of task metrics, computed on
            any format's `output_key` output over `test_inputs`.
        representative_data: `callable()` yielding input dicts from the
            training data, to calibrate full-int8 quantization.
        labels: label names, written to labels.txt.
        inputs, outputs: description of the signature for the report.
        tflite_formats: which TFLite variants to write.
        int8_float_ops: TFLite op names that "tflite_int8" keeps in float
            (see `tflite.convert`), e.g. an audio front end.
        tflite_test_inputs: what the TFLite files take, when not the
            SavedModel's `test_inputs` (e.g. token ids instead of strings).
        tflite_output_order: the TFLite outputs' names in the order a
            runtime that reads outputs by position needs (see
            `tflite.order_outputs`), e.g. MediaPipe's ObjectDetector.
        tflite_outputs_as_reference: `callable(outputs) -> outputs` that
            puts a TFLite file's outputs in the units of `reference`
            before they are scored and compared (e.g. box fractions of the
            input -> pixels), when the TFLite contract differs.
        parity: `callable(outputs) -> dict` comparing any format's
            `output_key` output with `reference`; by default the max abs
            difference ("max_abs_diff").
        text_ops_tflite: an endpoint also converted as float32 TFLite with
            tensorflow-text's custom ops (strings in and out), written as
            `<app>_strings.tflite` and measured on `test_inputs`; one of
            `serving` (the same object) is converted from the SavedModel.
        files: more files for the version directory (name -> text), such
            as vocabularies.
        mediapipe_task: the MediaPipe Tasks kind the TFLite files are for
            (a key of `mediapipe_metadata.TASKS`: "image_classifier",
            "audio_classifier", "object_detector", "image_embedder"); their
            metadata, labels included, is then written into every variant
            so that the files load in MediaPipe Tasks as they are.
        mediapipe_options: that kind's options, e.g. the sample rate of an
            audio classifier (see `mediapipe_tool.py`).
        score_runner: `callable(run) -> dict` of task metrics that need the
            model in a loop rather than on fixed inputs (e.g. a game's
            return over seeded episodes, where each action changes the next
            observation); merged into each file's metrics. `run` takes an
            input dict and returns an output dict, as in `measure`.
    """

    app: str
    model: object
    serving: list
    tflite: saved_model.Endpoint
    output_key: str
    test_inputs: dict
    reference: np.ndarray
    score: object
    representative_data: object
    labels: list
    inputs: dict = dataclasses.field(default_factory=dict)
    outputs: dict = dataclasses.field(default_factory=dict)
    tflite_formats: tuple = tflite.TFLITE_FORMATS
    int8_float_ops: tuple = ()
    tflite_test_inputs: dict | None = None
    tflite_output_order: tuple = ()
    tflite_outputs_as_reference: object = None
    parity: object = None
    text_ops_tflite: saved_model.Endpoint | None = None
    files: dict = dataclasses.field(default_factory=dict)
    mediapipe_task: str | None = None
    mediapipe_options: dict = dataclasses.field(default_factory=dict)
    score_runner: object = None


# The strings-in, strings-out file of a text app (`ExportSpec.text_ops_tflite`).
STRINGS_FORMAT = "tflite_strings"


def check_tflite_formats(formats):
    """Raises `UserError` unless every name in `formats` is a TFLite format (None passes)."""
    known = (*tflite.TFLITE_FORMATS, STRINGS_FORMAT)
    unknown = [f for f in formats or () if f not in known]
    if unknown:
        raise UserError(
            f"unknown TFLite format {unknown[0]!r}: choose among {', '.join(known)} (or none)"
        )


def offered_tflite_formats(spec):
    """The TFLite formats `spec` writes, its strings file (text apps) last."""
    strings = (STRINGS_FORMAT,) if spec.text_ops_tflite is not None else ()
    return (*spec.tflite_formats, *strings)


def with_tflite_formats(spec, formats):
    """`spec` writing only the TFLite `formats` it offers (`None`: all of them).

    A text app's strings file is the format "tflite_strings". A wanted
    format the app does not offer (e.g. full int8 of a model whose ops int8
    cannot hold) is named on stderr and skipped.

    Example:

    >>> spec = ExportSpec("toy", *[None] * 9, tflite_formats=("tflite_float32", "tflite_int8"))
    >>> with_tflite_formats(spec, ["tflite_int8"]).tflite_formats
    ('tflite_int8',)
    >>> with_tflite_formats(spec, []).tflite_formats  # the SavedModel only
    ()
    """
    if formats is None:
        return spec
    check_tflite_formats(formats)
    offered = offered_tflite_formats(spec)
    for name in formats:
        if name not in offered:
            print(
                f"{spec.app} has no {name} file (it offers {', '.join(offered)}): skipped",
                file=sys.stderr,
            )
    kept = tuple(f for f in spec.tflite_formats if f in formats)
    strings = spec.text_ops_tflite if STRINGS_FORMAT in formats else None
    return dataclasses.replace(spec, tflite_formats=kept, text_ops_tflite=strings)


def measure(run, spec, test_inputs=None, latency_batches=None):
    """Runs a model over the test inputs and measures it against Keras.

    Args:
        run: `callable(inputs dict) -> outputs dict` for one batch.
        spec: the `ExportSpec` with test inputs, reference and score.
        test_inputs: the inputs `run` takes, if not `spec.test_inputs`.
        latency_batches: batch sizes to time (default:
            `benchmark.export_batch_sizes()`, 1 and 32).

    Returns:
        `{"metrics", "max_abs_diff" (or the spec's parity keys),
        "latency_ms", "latency_ms_batch_32"}`.
    """
    if latency_batches is None:
        latency_batches = benchmark.export_batch_sizes()
    test_inputs = spec.test_inputs if test_inputs is None else test_inputs
    keys = spec.output_key if isinstance(spec.output_key, tuple) else (spec.output_key,)
    parts = {key: [] for key in keys}
    count = len(next(iter(test_inputs.values())))
    for start in range(0, count, 256):
        batch = {k: v[start : start + 256] for k, v in test_inputs.items()}
        result = run(batch)
        for key in keys:
            parts[key].append(np.asarray(result[key]))
    outputs = {key: np.concatenate(values) for key, values in parts.items()}
    # Several output keys (e.g. a detector's boxes, classes, scores, count): a dict of them.
    outputs = outputs if isinstance(spec.output_key, tuple) else outputs[spec.output_key]
    result = {"metrics": spec.score(outputs)}
    if spec.score_runner is not None:
        result["metrics"].update(spec.score_runner(run))
    if spec.parity is not None:
        result.update(spec.parity(outputs))
    else:
        result["max_abs_diff"] = float(np.max(np.abs(outputs.astype("float64") - spec.reference)))
    for batch_size in latency_batches:
        batch = benchmark.take_batch(test_inputs, batch_size)
        key = "latency_ms" if batch_size == 1 else f"latency_ms_batch_{batch_size}"
        result[key] = benchmark.median_latency_ms(lambda b=batch: run(b))
    return result


def export_model(spec, output_dir="saved_models", metrics=None, extra_report=None, figures=()):
    """Writes a new version of `spec.app` under `output_dir` and returns its report.

    Nothing existing is overwritten: the version directory is new, and it
    appears only once complete (see `versioning.publish`).

    Args:
        spec: an `ExportSpec`.
        output_dir: the parent of the app's base path.
        metrics: the Keras model's test metrics (name -> value).
        extra_report: more top-level report keys (data, training, ...).
        figures: PNG files to copy into `figures/`.

    Returns:
        The report dict, also written to `report.json`; `path` is the new
        version directory.
    """
    base_path = Path(output_dir) / spec.app
    removed, left = versioning.clean_stale_staging(base_path)
    for path in removed:
        print(f"removed {path}, left by an interrupted export", file=sys.stderr)
    for path in left:
        print(
            f"{path} is an unfinished export of another host or an older dlapps: "
            "delete it if no export is running",
            file=sys.stderr,
        )
    staging = versioning.make_staging_directory(base_path)
    try:
        saved_model.write_saved_model(spec.model, spec.serving, staging)
        (staging / "labels.txt").write_text("\n".join(spec.labels) + "\n", encoding="utf-8")
        for name, text in spec.files.items():
            (staging / name).write_text(text, encoding="utf-8")
        exports = [{"format": "saved_model", "path": ".", "bytes": _directory_bytes(staging)}]
        exports[0].update(measure(saved_model.signature_runner(staging), spec))
        converted = {}
        with tempfile.TemporaryDirectory() as tflite_source:
            if spec.tflite_formats:  # the converter's input: the endpoint and its variables only
                saved_model.write_saved_model(
                    spec.model, [spec.tflite], tflite_source, track_model=False
                )
            for tflite_format in spec.tflite_formats:
                name = f"{spec.app}_{FILE_SUFFIXES[tflite_format]}.tflite"
                converted[name] = tflite.convert(
                    tflite_source,
                    tflite_format,
                    spec.representative_data,
                    float_ops=spec.int8_float_ops,
                )
                if spec.tflite_output_order:
                    converted[name] = tflite.order_outputs(
                        converted[name], spec.tflite_output_order
                    )
        plain_bytes = {name: len(content) for name, content in converted.items()}
        mediapipe_report = None
        if spec.mediapipe_task is not None and converted:  # no file: no metadata tool run
            converted, mediapipe_report = _add_mediapipe_metadata(spec, converted)
        for tflite_format, (name, content) in zip(
            spec.tflite_formats, converted.items(), strict=True
        ):
            (staging / name).write_bytes(content)
            entry = {"format": tflite_format, "path": name, "bytes": len(content)}
            if mediapipe_report and mediapipe_report["written"]:
                entry["metadata_bytes"] = len(content) - plain_bytes[name]
            entry.update(measure(_tflite_runner(content, spec), spec, spec.tflite_test_inputs))
            exports.append(entry)
        if spec.text_ops_tflite is not None:
            exports.append(_export_text_ops_tflite(spec, staging))
        if figures:
            (staging / "figures").mkdir()
            for figure in figures:
                shutil.copy(figure, staging / "figures" / Path(figure).name)
        report = {
            "app": spec.app,
            "version": None,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "labels": list(spec.labels),
            "inputs": spec.inputs,
            "outputs": spec.outputs,
            "metrics": dict(metrics or {}),
            "exports": exports,
            "figures": [f"figures/{Path(f).name}" for f in figures],
        }
        if mediapipe_report is not None:
            report["mediapipe"] = mediapipe_report
        report.update(extra_report or {})

        def write_report(version):
            report["version"] = version
            report_lib.write_json(report, staging / "report.json")

        version_path = versioning.publish(staging, base_path, before_rename=write_report)
    except BaseException:
        versioning.discard(staging)
        raise
    report["path"] = str(version_path)
    return report


def _tflite_runner(content, spec):
    """`TFLiteModel` on `content`, its outputs in `reference`'s units (see `ExportSpec`)."""
    model = tflite.TFLiteModel(content)
    if spec.tflite_outputs_as_reference is None:
        return model
    return lambda inputs: spec.tflite_outputs_as_reference(model(inputs))


def _add_mediapipe_metadata(spec, converted):
    """The TFLite files with MediaPipe Tasks metadata, and what to report about it.

    Without a MediaPipe environment, or when its writer refuses the files
    (a layout the task does not read), the files stay as converted and the
    report says so (`written: false` and the reason): metadata is an extra
    the export does not fail for.
    """
    task = spec.mediapipe_task
    report = {"task": task, "api": mediapipe_metadata.TASKS[task], "written": False}
    try:
        converted = mediapipe_metadata.write_metadata(
            converted, task, spec.labels, spec.mediapipe_options
        )
    except (mediapipe_metadata.MetadataUnavailable, RuntimeError, TimeoutError) as error:
        report["reason"] = str(error)
        print(f"MediaPipe metadata not written: {error}", file=sys.stderr)
        return converted, report
    report["written"] = True
    report["options"] = dict(spec.mediapipe_options)
    return converted, report


def _export_text_ops_tflite(spec, staging):
    """Converts `spec.text_ops_tflite` with tensorflow-text's TFLite ops and measures it.

    An endpoint that is one of `spec.serving` (the same object) is converted
    from the SavedModel already in `staging`, not traced and written again.
    """
    endpoint = spec.text_ops_tflite
    if any(endpoint is served for served in spec.serving):
        content = tflite.convert(staging, "tflite_float32", signature=endpoint.name, text_ops=True)
    else:
        with tempfile.TemporaryDirectory() as source:
            saved_model.write_saved_model(spec.model, [endpoint], source)
            content = tflite.convert(source, "tflite_float32", text_ops=True)
    name = f"{spec.app}_strings.tflite"
    (staging / name).write_bytes(content)
    entry = {"format": "tflite_strings", "path": name, "bytes": len(content)}
    entry.update(measure(tflite.TFLiteModel(content), spec))
    return entry


def read_labels(model_path):
    """The label names of an export: a `.tflite` file's own (metadata), else `labels.txt`.

    Args:
        model_path: a version directory or a `.tflite` file (with MediaPipe
            metadata, or in a version directory).

    Raises:
        UserError: there is no labels.txt.
    """
    path = Path(model_path)
    if path.is_file():
        labels = mediapipe_metadata.read_metadata_labels(path.read_bytes())
        if labels is not None:
            return labels
    labels_path = (path if path.is_dir() else path.parent) / "labels.txt"
    if not labels_path.is_file():
        raise UserError(
            f"no labels file at {labels_path}: it is written beside every exported model"
        )
    return labels_path.read_text(encoding="utf-8").splitlines()


def _directory_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
