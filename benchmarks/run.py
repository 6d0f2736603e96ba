"""The benchmark table: quality and speed of every app with its default settings.

Trains each app on its built-in data (the vision app over three seeds, plus
a generated folder of shapes; the conditional GAN over three seeds, DCGAN
and WGAN-GP once; the keyword spotter over three seeds; speech-to-text
once; the translation Transformer and its GRU baseline once; vision on two
local workers against one), exports, times every exported file at batch 1
and 32 in one run, and writes `benchmarks/RESULTS.md` and
`benchmarks/results.json`.

    make bench                                        # or: .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --apps translation   # one app; the others keep their numbers
"""

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from dlapps import training  # noqa: E402
from dlapps.application import get_application  # noqa: E402
from dlapps.export import benchmark  # noqa: E402
from dlapps.vision.shapes import write_shapes_folder  # noqa: E402

HERE = Path(__file__).resolve().parent


def _train(config):
    with contextlib.redirect_stdout(sys.stderr):
        return training.run(get_application(config.app), config)


def bench_vision(workdir, seeds, quick=False):
    runs = []
    for seed in seeds:
        print(f"vision: digits, seed {seed}", file=sys.stderr)
        result = _train(
            training.TrainConfig(
                app="vision",
                seed=seed,
                workdir=f"{workdir}/runs",
                output=f"{workdir}/models",
                restart=True,
                epochs=2 if quick else None,
                verbose=2,
                export=seed == seeds[0],
            )
        )
        runs.append({"seed": seed, "accuracy": result.metrics["accuracy"], **_timing(result)})
        if seed == seeds[0]:
            exported = result.report
    print("vision: folder of drawn shapes", file=sys.stderr)
    folder = write_shapes_folder(Path(workdir) / "shapes", images_per_class=60)
    shapes = _train(
        training.TrainConfig(
            app="vision",
            data=str(folder),
            epochs=2 if quick else 30,
            batch_size=16,
            patience=0,
            workdir=f"{workdir}/runs_shapes",
            restart=True,
            verbose=2,
            export=False,
            options={"image_size": (32, 32)},
        )
    )
    print("vision: timing every exported file", file=sys.stderr)
    files, timed = _timed_files(exported)
    sizes = {f["format"]: f["bytes"] for f in files}
    return {
        "digits": runs,
        "shapes_folder": {"accuracy": shapes.metrics["accuracy"], **_timing(shapes)},
        "files": files,
        "ratios": {
            **timed["ratios"],
            "int8_bytes/float32_bytes": sizes["tflite_int8"] / sizes["tflite_float32"],
        },
    }


def bench_gan(workdir, seeds, quick=False):
    """Conditional GAN over `seeds`, then DCGAN and WGAN-GP once, default settings."""
    runs = []
    plan = [("conditional", seed) for seed in seeds] + [("dcgan", seeds[0]), ("wgan_gp", seeds[0])]
    for flavour, seed in plan:
        print(f"gan: {flavour}, seed {seed}", file=sys.stderr)
        result = _train(
            training.TrainConfig(
                app="gan",
                seed=seed,
                workdir=f"{workdir}/runs",
                output=f"{workdir}/models",
                restart=True,
                time_budget=10 if quick else None,
                verbose=2,
                options={"gan": flavour, "classifier_epochs": 2 if quick else 30},
            )
        )
        exports = {e["format"]: e for e in result.report["exports"]}
        runs.append(
            {
                "flavour": flavour,
                "seed": seed,
                **{k: v for k, v in result.metrics.items()},
                **_timing(result),
                "files": {
                    name: {
                        "bytes": e["bytes"],
                        "max_grey_level_diff": e["max_abs_diff"],
                        "latency_ms_batch_1": e["latency_ms"],
                        "latency_ms_batch_32": e["latency_ms_batch_32"],
                    }
                    for name, e in exports.items()
                },
            }
        )
    return {"runs": runs}


def bench_speech(workdir, seeds, quick=False):
    """The keyword spotter over `seeds` on held-out synthetic voices, default settings."""
    runs = []
    for seed in seeds:
        print(f"speech_kws: synthetic keywords, seed {seed}", file=sys.stderr)
        result = _train(
            training.TrainConfig(
                app="speech_kws",
                seed=seed,
                workdir=f"{workdir}/runs",
                output=f"{workdir}/models",
                restart=True,
                epochs=1 if quick else None,
                verbose=2,
                export=seed == seeds[0],
                options={"clips_per_class": 20} if quick else {},
            )
        )
        runs.append({"seed": seed, **result.metrics, **_timing(result)})
        if seed == seeds[0]:
            exported = result.report
    files, timed = _timed_files(exported)
    return {"runs": runs, "files": files, "ratios": timed["ratios"]}


def _timed_files(exported):
    """Every exported file's size, accuracy and parity, timed again side by side in one run."""
    timed = benchmark.bench_version(exported["path"], (1, 32))
    latency = {row["format"]: row["latency_ms"] for row in timed["rows"]}
    files = [
        {
            "format": export["format"],
            "bytes": export["bytes"],
            "accuracy": export["metrics"]["accuracy"],
            "max_abs_diff": export["max_abs_diff"],
            "latency_ms_batch_1": latency[export["format"]][1],
            "latency_ms_batch_32": latency[export["format"]][32],
        }
        for export in exported["exports"]
    ]
    return files, timed


def bench_speech_to_text(workdir, seeds, quick=False):
    """Speech-to-text on held-out synthetic voices, default settings, the first seed."""
    seed = seeds[0]
    print(f"speech_stt: synthetic sentences, seed {seed}", file=sys.stderr)
    result = _train(
        training.TrainConfig(
            app="speech_stt",
            seed=seed,
            workdir=f"{workdir}/runs",
            output=f"{workdir}/models",
            restart=True,
            epochs=1 if quick else None,
            verbose=2,
            options={"sentences": 24} if quick else {},
        )
    )
    files = _file_rows(result.report, "max_abs_diff")
    examples = result.report["evaluation"]["examples"][:5]
    return {"seed": seed, **result.metrics, **_timing(result), "files": files, "examples": examples}


def bench_translation(workdir, seeds, quick=False):
    """English -> Spanish numbers and dates: the Transformer and the GRU baseline, first seed."""
    seed = seeds[0]
    models = {}
    for architecture in ("transformer", "gru"):
        print(f"translation: {architecture}, seed {seed}", file=sys.stderr)
        result = _train(
            training.TrainConfig(
                app="translation",
                seed=seed,
                workdir=f"{workdir}/runs",
                output=f"{workdir}/models",
                restart=True,
                epochs=1 if quick else None,
                verbose=2,
                options={"model": architecture, **({"pairs": 300} if quick else {})},
            )
        )
        models[architecture] = {
            **result.metrics,
            **_timing(result),
            "files": _file_rows(result.report, "identical_to_keras"),
            "examples": result.report["evaluation"]["examples"][:6],
        }
    return {"seed": seed, "models": models}


def bench_multi_worker(workdir, seeds, quick=False):
    """Vision on digits: `dlapps launch --workers 2` against one worker, same settings."""
    import h5py
    import numpy as np

    from dlapps import launch

    seed = seeds[0]
    epochs = ["--epochs", "2"] if quick else []
    common = ["vision", "--seed", str(seed), "--restart", *epochs]
    print(f"multi_worker: vision on one worker, seed {seed}", file=sys.stderr)
    single = _train(
        training.TrainConfig(
            app="vision",
            seed=seed,
            epochs=2 if quick else None,
            workdir=f"{workdir}/single",
            output=f"{workdir}/single_models",
            restart=True,
            verbose=2,
        )
    )
    print("multi_worker: vision on two workers (dlapps launch)", file=sys.stderr)
    start = time.perf_counter()
    output = f"{workdir}/multi_models"
    launch.launch(
        [*common, "--workdir", f"{workdir}/multi", "--output", output], workers=2, timeout=1200
    )
    seconds = time.perf_counter() - start
    report = json.loads(next(Path(output).glob("vision/*/report.json")).read_text())

    def weights(index):
        path = Path(workdir, "multi", "vision", f"worker_{index}", "final.weights.h5")
        arrays = {}
        with h5py.File(path, "r") as file:
            file.visititems(
                lambda name, item: (
                    arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
                )
            )
        return arrays

    first, second = weights(0), weights(1)
    return {
        "seed": seed,
        "single_worker": {"accuracy": single.metrics["accuracy"], **_timing(single)},
        "two_workers": {
            "accuracy": report["metrics"]["accuracy"],
            "epochs": report["training"]["epochs"],
            "seconds": report["training"]["seconds"],
            "launch_seconds": seconds,
            "global_batch_size": report["training"]["batch_size"],
            "strategy": report["training"]["strategy"],
            "max_weight_diff_between_workers": float(
                max(np.max(np.abs(first[k] - second[k])) for k in first)
            ),
        },
    }


def _file_rows(exported, parity_key):
    """One row per exported file: size, its test metrics, parity with Keras, latency."""
    return [
        {
            "format": export["format"],
            "bytes": export["bytes"],
            **export["metrics"],
            parity_key: export[parity_key],
            "latency_ms_batch_1": export["latency_ms"],
            "latency_ms_batch_32": export["latency_ms_batch_32"],
        }
        for export in exported["exports"]
    ]


def _timing(result):
    training_info = result.report["training"]
    return {
        "epochs": training_info["epochs"],
        "seconds": training_info["seconds"],
        "examples_per_second": training_info["examples_per_second"],
    }


def write_markdown(results, path):
    vision = results["vision"]
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` on {results['machine']['cpus']} CPU cores, "
        f"{results['machine']['platform']}; "
        f"TensorFlow {results['versions']['tensorflow']}, Keras {results['versions']['keras']}; "
        f"{results['date']}, {results['seconds']:.0f} s in all.",
        "",
        "## vision: built-in digits, default settings",
        "",
        "| seed | test accuracy | epochs | training s | examples/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in vision["digits"]:
        lines.append(
            f"| {run['seed']} | {run['accuracy']:.4f} | {run['epochs']} | {run['seconds']:.1f} "
            f"| {run['examples_per_second']:.0f} |"
        )
    shapes = vision["shapes_folder"]
    lines += [
        "",
        f"Folder of drawn shapes (4 classes, mixed sizes and formats, 32x32): test accuracy "
        f"{shapes['accuracy']:.4f} in {shapes['seconds']:.1f} s.",
        "",
        "## vision: exported files (seed 0)",
        "",
        "| format | size KB | accuracy | max abs diff | ms @ batch 1 | ms @ batch 32 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in vision["files"]:
        lines.append(
            f"| {f['format']} | {f['bytes'] / 1024:.0f} | {f['accuracy']:.4f} "
            f"| {f['max_abs_diff']:.2e} | {f['latency_ms_batch_1']:.3f} "
            f"| {f['latency_ms_batch_32']:.3f} |"
        )
    lines += ["", "Ratios, measured within the same run:", ""]
    lines += [f"- {name}: {value:.2f}" for name, value in vision["ratios"].items()]
    lines += [
        "",
        "## gan: built-in digits at 16x16, default settings (120 s training budget)",
        "",
        "FID: Fréchet distance on the penultimate features of a vision classifier trained on",
        "the same digits, 1000 samples vs the 360 real test images; floor: real half vs half.",
        "",
        "| flavour | seed | FID | floor | label accuracy | epochs | training s "
        "| max grey-level diff float32 / float16 / dynamic TFLite |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results["gan"]["runs"]:
        files = run["files"]
        diffs = " / ".join(
            f"{files[f]['max_grey_level_diff']:.0f}"
            for f in ("tflite_float32", "tflite_float16", "tflite_dynamic")
        )
        accuracy = run.get("label_accuracy")
        lines.append(
            f"| {run['flavour']} | {run['seed']} | {run['fid']:.2f} | {run['fid_floor']:.2f} "
            f"| {'' if accuracy is None else f'{accuracy:.3f}'} | {run['epochs']} "
            f"| {run['seconds']:.0f} | {diffs} |"
        )
    first = results["gan"]["runs"][0]["files"]
    lines += ["", "Generator latency (conditional, seed 0), ms at batch 1 / 32:", ""]
    lines += [
        f"- {name}: {f['latency_ms_batch_1']:.3f} / {f['latency_ms_batch_32']:.3f}"
        for name, f in first.items()
    ]
    if "speech_kws" in results:
        lines += _speech_markdown(results["speech_kws"])
    if "speech_stt" in results:
        lines += _speech_to_text_markdown(results["speech_stt"])
    if "translation" in results:
        lines += _translation_markdown(results["translation"])
    if "multi_worker" in results:
        lines += _multi_worker_markdown(results["multi_worker"])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _speech_to_text_markdown(stt):
    lines = [
        "",
        "## speech_stt: synthetic spoken sentences, held-out voices, default settings",
        "",
        f"Measured {stt.get('date', '')} ({stt.get('seconds_total', 0):.0f} s), seed "
        f"{stt['seed']}: {stt['epochs']} epochs in {stt['seconds']:.0f} s of training. Keras "
        f"model: WER {stt['wer']:.4f}, CER {stt['cer']:.4f}, exact match {stt['exact_match']:.3f}.",
        "",
        "| format | size KB | WER | CER | max abs diff (logits) | ms @ batch 1 | ms @ batch 32 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in stt["files"]:
        lines.append(
            f"| {f['format']} | {f['bytes'] / 1024:.0f} | {f['wer']:.4f} | {f['cer']:.4f} "
            f"| {f['max_abs_diff']:.2e} | {f['latency_ms_batch_1']:.2f} "
            f"| {f['latency_ms_batch_32']:.2f} |"
        )
    lines += ["", "Test examples (reference -> greedy CTC transcript):", ""]
    lines += [f"- {e['reference']} -> {e['hypothesis']}" for e in stt["examples"]]
    return lines


def _translation_markdown(translation):
    lines = [
        "",
        "## translation: English -> Spanish numbers and dates, default settings",
        "",
        f"Measured {translation.get('date', '')} "
        f"({translation.get('seconds_total', 0):.0f} s), seed {translation['seed']}. "
        "Test sentences are never in training; BLEU and chrF are sacrebleu's corpus scores.",
        "",
        "| model | BLEU | exact match | numbers: exact / BLEU | dates: exact / BLEU "
        "| chrF | epochs | training s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in translation["models"].items():
        lines.append(
            f"| {name} | {m['bleu']:.2f} | {m['exact_match']:.4f} "
            f"| {m['numbers_exact_match']:.4f} / {m['numbers_bleu']:.2f} "
            f"| {m['dates_exact_match']:.4f} / {m['dates_bleu']:.2f} | {m['chrf']:.2f} "
            f"| {m['epochs']} | {m['seconds']:.0f} |"
        )
    for name, m in translation["models"].items():
        lines += [
            "",
            f"{name}: exported files (translations identical to the Keras model's greedy "
            "decoding, latency per call at batch 1 and 32 sentences)",
            "",
            "| format | size KB | BLEU | exact match | identical to Keras | ms @ batch 1 "
            "| ms @ batch 32 |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for f in m["files"]:
            lines.append(
                f"| {f['format']} | {f['bytes'] / 1024:.0f} | {f['bleu']:.2f} "
                f"| {f['exact_match']:.4f} | {f['identical_to_keras']:.4f} "
                f"| {f['latency_ms_batch_1']:.2f} | {f['latency_ms_batch_32']:.2f} |"
            )
    lines += ["", "Test examples (Transformer):", ""]
    lines += [
        f"- {e['source']} -> {e['translation']}"
        for e in translation["models"]["transformer"]["examples"]
    ]
    return lines


def _multi_worker_markdown(multi):
    single, two = multi["single_worker"], multi["two_workers"]
    return [
        "",
        "## multi-worker: vision on digits, `dlapps launch --workers 2` on this machine",
        "",
        f"Measured {multi.get('date', '')}, seed {multi['seed']}, default settings "
        f"(MultiWorkerMirroredStrategy over two local processes: {two['strategy']}, "
        f"global batch {two['global_batch_size']}).",
        "",
        "| run | test accuracy | epochs | training s |",
        "| --- | --- | --- | --- |",
        f"| one worker | {single['accuracy']:.4f} | {single['epochs']} | {single['seconds']:.1f} |",
        f"| two workers | {two['accuracy']:.4f} | {two['epochs']} | {two['seconds']:.1f} |",
        "",
        f"Largest difference between the two workers' final weights: "
        f"{two['max_weight_diff_between_workers']:.1e}. Both processes share the same 2 cores, "
        "so two workers are not faster here; the run checks correctness, not speed.",
    ]


def _speech_markdown(speech):
    lines = [
        "",
        "## speech_kws: synthetic voice commands, held-out voices, default settings",
        "",
        f"Measured {speech.get('date', '')} ({speech.get('seconds_total', 0):.0f} s). "
        "12 classes (10 keywords, silence, unknown); the "
        "test voices share neither accent nor voice variant with training.",
        "",
        "| seed | test accuracy | at 10 dB SNR | epochs | training s | examples/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in speech["runs"]:
        lines.append(
            f"| {run['seed']} | {run['accuracy']:.4f} | {run['accuracy_10db_snr']:.4f} "
            f"| {run['epochs']} | {run['seconds']:.1f} | {run['examples_per_second']:.0f} |"
        )
    lines += [
        "",
        "| format | size KB | accuracy | max abs diff | ms @ batch 1 | ms @ batch 32 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in speech["files"]:
        lines.append(
            f"| {f['format']} | {f['bytes'] / 1024:.1f} | {f['accuracy']:.4f} "
            f"| {f['max_abs_diff']:.2e} | {f['latency_ms_batch_1']:.3f} "
            f"| {f['latency_ms_batch_32']:.3f} |"
        )
    lines += ["", "Ratios, measured within the same run:", ""]
    lines += [f"- {name}: {value:.2f}" for name, value in speech["ratios"].items()]
    return lines


BENCHES = {
    "vision": bench_vision,
    "gan": bench_gan,
    "speech_kws": bench_speech,
    "speech_stt": bench_speech_to_text,
    "translation": bench_translation,
    "multi_worker": bench_multi_worker,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", default=str(HERE))
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run with tiny settings (numbers meaningless)"
    )
    parser.add_argument(
        "--apps",
        nargs="+",
        choices=sorted(BENCHES),
        default=sorted(BENCHES),
        help="only these apps; the others keep their numbers in results.json",
    )
    args = parser.parse_args()
    output = Path(args.output)
    previous = output / "results.json"
    results = json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() else {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        for app in args.apps:
            app_start = time.perf_counter()
            results[app] = BENCHES[app](workdir, args.seeds, args.quick)
            results[app]["date"] = time.strftime("%Y-%m-%d")
            results[app]["seconds_total"] = time.perf_counter() - app_start
    results.update(
        {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "versions": {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "python": platform.python_version(),
            },
        }
    )
    if set(args.apps) == set(BENCHES):
        results["date"] = time.strftime("%Y-%m-%d")
        results["seconds"] = time.perf_counter() - start
    (output / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write_markdown(results, output / "RESULTS.md")
    print((output / "RESULTS.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
