"""Latency of exported models, measured as medians within one run."""

import os
import time

import numpy as np

# Caps each latency measurement (seconds); the test suite sets it low, as it
# checks that every export is timed, not how fast it is.
SECONDS_VARIABLE = "DLAPPS_LATENCY_SECONDS"
# The batch sizes an export times each file at; the test suite times batch 1
# only, as a batch of 32 long clips or articles costs more than the check.
BATCHES_VARIABLE = "DLAPPS_LATENCY_BATCHES"
DEFAULT_BATCHES = (1, 32)


def median_latency_ms(function, warmup=3, repeats=30, max_seconds=None):
    """Median wall time of `function()` in milliseconds.

    Medians resist the noise of a shared machine better than means; the
    warmup (at least one call) and the loop each stop early after
    `max_seconds` (default: `$DLAPPS_LATENCY_SECONDS`, else 5), so a slow
    model (e.g. beam search over a batch of long articles) cannot stall a
    run. At least one call is timed.
    """
    if max_seconds is None:
        max_seconds = _default_max_seconds()
    deadline = time.perf_counter() + max_seconds
    for _ in range(warmup):
        function()
        if time.perf_counter() > deadline:
            break
    times = []
    deadline = time.perf_counter() + max_seconds
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return float(np.median(times) * 1000)


def _default_max_seconds():
    from dlapps.errors import UserError

    text = os.environ.get(SECONDS_VARIABLE, "5")
    try:
        return float(text)
    except ValueError:
        raise UserError(f"${SECONDS_VARIABLE} is {text!r}: give a number of seconds") from None


def export_batch_sizes():
    """The batch sizes exports time: `$DLAPPS_LATENCY_BATCHES` (e.g. "1,32"), else 1 and 32."""
    from dlapps.errors import UserError

    text = os.environ.get(BATCHES_VARIABLE)
    if text is None:
        return DEFAULT_BATCHES
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise UserError(
            f"${BATCHES_VARIABLE} is {text!r}: give batch sizes separated by commas, such as 1,32"
        )
    return sizes


def take_batch(inputs, batch_size):
    """The first `batch_size` examples of every input, repeated if there are fewer."""
    batch = {}
    for name, value in inputs.items():
        reps = -(-batch_size // len(value))
        batch[name] = np.concatenate([value] * reps)[:batch_size]
    return batch


def synthetic_inputs(input_specs, batch_size, seed=0):
    """Inputs shaped like a report's `inputs` entries: random, or the entry's `example`.

    Latency of these models does not depend on pixel values, so random
    pixels of the right shape and dtype time them fairly. Inputs whose
    values matter (sentences, token ids) carry an `example` in the report,
    repeated to the batch size.
    """
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, spec in input_specs.items():
        if "example" in spec:  # e.g. a sentence, or token ids that must be valid
            dtype = object if spec["dtype"] == "string" else spec["dtype"]
            inputs[name] = np.array([spec["example"]] * batch_size, dtype=dtype)
            continue
        if spec.get("signature") or spec["dtype"] == "string":
            continue
        shape = [batch_size, *spec["shape"][1:]]
        if np.issubdtype(np.dtype(spec["dtype"]), np.integer):
            info = np.iinfo(spec["dtype"])
            inputs[name] = rng.integers(info.min, info.max, shape, endpoint=True).astype(
                spec["dtype"]
            )
        else:
            inputs[name] = rng.standard_normal(shape).astype(spec["dtype"])
    return inputs


def bench_version(version_path, batch_sizes=(1, 32)):
    """Times every file of an exported version at each batch size, in one run.

    Returns:
        `{"rows": [{"format", "path", "bytes", "latency_ms": {batch: ms}}],
        "ratios": {...}}`, with the int8 / float32 TFLite latency ratio at
        each batch size and the SavedModel / float32 TFLite ratio.
    """
    import json
    from pathlib import Path

    from dlapps.errors import UserError
    from dlapps.export import saved_model, tflite

    version_path = Path(version_path)
    report_path = version_path / "report.json"
    if not report_path.is_file():
        raise UserError(
            f"{version_path} has no report.json: pass a version directory that "
            "dlapps exported, such as saved_models/vision/1"
        )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    rows = []
    for export in report["exports"]:
        path = version_path / export["path"]
        if export["format"] == "saved_model":
            run = saved_model.signature_runner(path)
        else:
            run = tflite.TFLiteModel(path)
        row = {
            "format": export["format"],
            "path": export["path"],
            "bytes": export["bytes"],
            "latency_ms": {},
        }
        for batch_size in batch_sizes:
            batch = synthetic_inputs(report["inputs"], batch_size)
            # Formats can take different inputs (strings, or token ids).
            batch = {name: value for name, value in batch.items() if name in run.input_names}
            row["latency_ms"][batch_size] = median_latency_ms(lambda b=batch, r=run: r(b))
        rows.append(row)
    by_format = {row["format"]: row["latency_ms"] for row in rows}
    ratios = {}
    for numerator, denominator in (
        ("tflite_int8", "tflite_float32"),
        ("tflite_dynamic", "tflite_float32"),
        ("saved_model", "tflite_float32"),
    ):
        if numerator in by_format and denominator in by_format:
            for batch_size in batch_sizes:
                ratios[f"{numerator}/{denominator}@{batch_size}"] = (
                    by_format[numerator][batch_size] / by_format[denominator][batch_size]
                )
    return {
        "app": report["app"],
        "version": report["version"],
        "rows": rows,
        "ratios": ratios,
    }


def format_bench(result):
    """The bench result as a table with the ratios under it."""
    batch_sizes = list(result["rows"][0]["latency_ms"]) if result["rows"] else []
    header = f"{'format':<18}{'size':>10}" + "".join(f"{f'ms@{b}':>11}" for b in batch_sizes)
    lines = [f"{result['app']} v{result['version']}: median latency", header]
    for row in result["rows"]:
        lines.append(
            f"{row['format']:<18}{row['bytes'] / 1024:>8.0f}KB"
            + "".join(f"{row['latency_ms'][b]:>11.3f}" for b in batch_sizes)
        )
    for name, value in result["ratios"].items():
        lines.append(f"{name:<40}{value:6.2f}x")
    return "\n".join(lines)
