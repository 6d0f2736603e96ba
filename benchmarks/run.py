"""The benchmark table: quality and speed of every app with its default settings.

`make bench` trains each app once on its built-in data with its default
settings (vision on digits plus a generated folder of shapes, the
conditional GAN, the keyword spotter, speech-to-text, the translation
Transformer, and vision on two local workers against one), exports, times
every exported file at batch 1 and 32 in one run, and writes
`benchmarks/RESULTS.md`, `benchmarks/results.json` and the figures in
`benchmarks/figures/`; it also refreshes the summary table in README.md and
docs/guide.md. About 25 minutes on 2 cores.

`make bench-full` (`--full`) adds seeds 1 and 2 and the baselines (DCGAN,
WGAN-GP, the GRU translator) and writes to `benchmarks/full/`: about 50
minutes.

    make bench                                        # or: .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --apps translation   # one app; the others keep their numbers
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dlapps import training, vision  # noqa: E402
from dlapps.application import get_application  # noqa: E402
from dlapps.export import benchmark  # noqa: E402
from dlapps.vision.shapes import write_shapes_folder  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # gettext_pairs


def _train(app, scratch, **fields):
    """Trains `app` through the driver, with Keras' output on stderr (stdout: the table).

    `fields` are `TrainConfig` fields; checkpoints go to `<scratch>/runs`, exports
    to `<scratch>/models` and every run starts afresh, unless `fields` say otherwise.
    """
    fields = {
        "workdir": f"{scratch}/runs",
        "output": f"{scratch}/models",
        "restart": True,
        "verbose": 2,
        **fields,
    }
    with contextlib.redirect_stdout(sys.stderr):
        return training.run(get_application(app), training.TrainConfig(app=app, **fields))


def bench_vision(workdir, settings):
    """Vision on digits over the seeds, a folder of drawn shapes, and ratios within the run."""
    seeds, quick = settings.seeds, settings.quick
    runs = []
    for seed in seeds:
        print(f"vision: digits, seed {seed}", file=sys.stderr)
        result = _train(
            "vision",
            workdir,
            seed=seed,
            epochs=2 if quick else None,
            export=seed == seeds[0],
        )
        runs.append({"seed": seed, "accuracy": result.metrics["accuracy"], **_timing(result)})
        if seed == seeds[0]:
            settings.single_worker_vision = runs[-1]
            exported, model, data = result.report, result.model, result.data
            _keep_figures(exported, "vision", settings.figures)
    print("vision: folder of drawn shapes", file=sys.stderr)
    folder = write_shapes_folder(Path(workdir) / "shapes", images_per_class=60)
    shapes = _train(
        "vision",
        workdir,
        data=str(folder),
        epochs=2 if quick else 30,
        batch_size=16,
        patience=0,
        workdir=f"{workdir}/runs_shapes",
        export=False,
        options={"image_size": (32, 32)},
    )
    print("vision: timing every exported file", file=sys.stderr)
    files, timed = _timed_files(exported)
    sizes = {f["format"]: f["bytes"] for f in files}
    keras_ms = _keras_predict_ms(model, exported)
    saved_model_ms = next(r["latency_ms"] for r in timed["rows"] if r["format"] == "saved_model")
    pipeline = _pipeline_vs_cached(vision.to_dataset(data.train, 32, shuffle=True, seed=0))
    return {
        "digits": runs,
        "shapes_folder": {"accuracy": shapes.metrics["accuracy"], **_timing(shapes)},
        "files": files,
        "keras_predict_ms": {str(b): ms for b, ms in keras_ms.items()},
        "input_pipeline": pipeline,
        "ratios": {
            **timed["ratios"],
            **{f"saved_model/keras_predict@{b}": saved_model_ms[b] / keras_ms[b] for b in keras_ms},
            "pipeline/cached_tensors": pipeline["ratio"],
            "int8_bytes/float32_bytes": sizes["tflite_int8"] / sizes["tflite_float32"],
        },
    }


def bench_gan(workdir, settings):
    """The conditional GAN over the seeds; with --full, DCGAN and WGAN-GP once too."""
    seeds, quick = settings.seeds, settings.quick
    runs = []
    plan = [("conditional", seed) for seed in seeds]
    if settings.full:
        plan += [("dcgan", seeds[0]), ("wgan_gp", seeds[0])]
    for flavour, seed in plan:
        print(f"gan: {flavour}, seed {seed}", file=sys.stderr)
        result = _train(
            "gan",
            workdir,
            seed=seed,
            time_budget=10 if quick else None,
            options={"gan": flavour, "classifier_epochs": 2 if quick else 30},
        )
        exports = {e["format"]: e for e in result.report["exports"]}
        if (flavour, seed) == plan[0]:
            _keep_figures(result.report, "gan", settings.figures)
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


def bench_speech(workdir, settings):
    """The keyword spotter over the seeds on held-out synthetic voices, default settings."""
    from dlapps.speech import keyword_data

    seeds, quick = settings.seeds, settings.quick
    runs = []
    for seed in seeds:
        print(f"speech_kws: synthetic keywords, seed {seed}", file=sys.stderr)
        result = _train(
            "speech_kws",
            workdir,
            seed=seed,
            epochs=1 if quick else None,
            export=seed == seeds[0],
            options={"clips_per_class": 20} if quick else {},
        )
        runs.append({"seed": seed, **result.metrics, **_timing(result)})
        if seed == seeds[0]:
            exported, data = result.report, result.data
            _keep_figures(exported, "speech_kws", settings.figures)
    files, timed = _timed_files(exported)
    pipeline = _pipeline_vs_cached(
        keyword_data.to_dataset(data.train, 64, shuffle=True, augment=True, seed=0)
    )
    return {
        "runs": runs,
        "files": files,
        "input_pipeline": pipeline,
        "ratios": {**timed["ratios"], "pipeline/cached_tensors": pipeline["ratio"]},
    }


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


def bench_speech_to_text(workdir, settings):
    """Speech-to-text on held-out synthetic voices, default settings, the first seed."""
    seed, quick = settings.seeds[0], settings.quick
    print(f"speech_stt: synthetic sentences, seed {seed}", file=sys.stderr)
    result = _train(
        "speech_stt",
        workdir,
        seed=seed,
        epochs=1 if quick else None,
        options={"sentences": 24} if quick else {},
    )
    _keep_figures(result.report, "speech_stt", settings.figures)
    files = _file_rows(result.report, "max_abs_diff")
    examples = result.report["evaluation"]["examples"][:5]
    return {"seed": seed, **result.metrics, **_timing(result), "files": files, "examples": examples}


def bench_translation(workdir, settings):
    """Numbers and dates (Transformer, with --full the GRU), then real English-Spanish pairs."""
    seed, quick = settings.seeds[0], settings.quick
    # Real text first, and saved at once: it is the longer and the more telling run.
    real_text = bench_translation_real(workdir, settings)
    settings.figures.mkdir(parents=True, exist_ok=True)
    (settings.figures.parent / "translation_real_text.json").write_text(
        json.dumps(real_text, indent=1, default=str), encoding="utf-8"
    )
    models = {}
    for architecture in ("transformer", "gru") if settings.full else ("transformer",):
        print(f"translation: {architecture}, seed {seed}", file=sys.stderr)
        result = _train(
            "translation",
            workdir,
            seed=seed,
            epochs=1 if quick else None,
            options={"model": architecture, **({"pairs": 300} if quick else {})},
        )
        if architecture == "transformer":
            _keep_figures(result.report, "translation", settings.figures)
        models[architecture] = {
            **result.metrics,
            **_timing(result),
            "files": _file_rows(result.report, "identical_to_keras"),
            "examples": result.report["evaluation"]["examples"][:6],
        }
    return {"seed": seed, "models": models, "real_text": real_text}


def bench_translation_real(workdir, settings):
    """Real English-Spanish pairs (the gettext catalogs installed here): quality, speed, baseline.

    `dlapps train translation --data pairs.tsv` with the defaults and a
    10-minute budget; side by side on the same pairs and batch size, the
    training steps per second of the pipeline before this one (whole-word
    units, every batch padded to the longest sentence) and of this one; the
    decoding time per sentence with and without the key/value cache; and a
    translation-memory baseline on the same unseen sentences.
    """
    from gettext_pairs import write_tsv

    seed, quick = settings.seeds[0], settings.quick
    tsv = Path(workdir) / "gettext_pairs.tsv"
    count = write_tsv(tsv)
    print(f"translation: {count} real pairs", file=sys.stderr)
    throughput = _translation_throughput(tsv, seed, steps=5 if quick else 20)
    result = _train(
        "translation", workdir, data=str(tsv), seed=seed, time_budget=30 if quick else 600
    )
    _keep_figures(result.report, "translation_real", settings.figures)
    data = result.data
    return {
        "seed": seed,
        "pairs": count,
        "data": result.report["data"],
        **result.metrics,
        **_timing(result),
        "translation_memory": _translation_memory(data),
        "throughput": throughput,
        "decoding_ms_per_sentence": _decoding_speed(result.model, data),
        "files": _file_rows(result.report, "identical_to_keras"),
        "examples": result.report["evaluation"]["examples"][:10],
    }


def _translation_throughput(tsv, seed, steps, batch_size=64, warmup=10):
    """Training steps/s and tokens/s of the old and the new data pipeline, same pairs and batch."""
    from dlapps.translation import parallel_data, translation_app
    from dlapps.translation.losses import MaskedCrossEntropy

    pairs = parallel_data.load_parallel_data(str(tsv), seed=seed)
    new = translation_app.prepare_data(pairs, vocabulary_size=6000)
    old = translation_app.prepare_data(pairs, vocabulary="units", max_length=10**6)
    # Before: whole-word units, every pair kept and every batch padded to the
    # longest training sentence, up to 64 tokens (the longer ones cut).
    source_ids, target_ids = (
        tokenizer.tokenize(tf.constant(sentences))
        for tokenizer, sentences in zip(
            (old.source_tokenizer, old.target_tokenizer), pairs.train, strict=True
        )
    )
    old.source_length = min(64, int(source_ids.row_lengths().numpy().max()))
    old.target_length = min(64, int(target_ids.row_lengths().numpy().max()) + 1)
    old.ids["train"] = (source_ids[:, : old.source_length], target_ids[:, : old.target_length - 1])
    runs = {
        "before: units, padded to the longest": (old, False),
        "now: subwords, length buckets": (new, True),
    }
    results = {}
    for name, (data, bucketing) in runs.items():
        keras.utils.set_random_seed(seed)
        train, _ = translation_app.make_datasets(data, batch_size, seed, bucketing=bucketing)
        batches = list(train.repeat().take(warmup + steps))
        model = get_application("translation").build_model(
            training.TrainConfig(app="translation", options={"hidden_dim": 256}), data
        )
        model.compile("adam", loss=MaskedCrossEntropy(0.1))
        for inputs, targets in batches[:warmup]:  # traces the step for the shapes
            model.train_on_batch(inputs, targets)
        start = time.perf_counter()
        for inputs, targets in batches[warmup:]:
            model.train_on_batch(inputs, targets)
        seconds = time.perf_counter() - start
        tokens = sum(int(tf.reduce_sum(tf.cast(t > 0, tf.int32))) for _, t in batches[warmup:])
        padded = sum(int(tf.size(t)) for _, t in batches[warmup:])
        results[name] = {
            "steps_per_second": steps / seconds,
            "target_tokens_per_second": tokens / seconds,
            "padding_fraction": 1 - tokens / padded,
            "source_length": data.source_length,
            "target_length": data.target_length,
        }
        print(f"translation throughput: {name}: {results[name]}", file=sys.stderr)
    before, now = (
        results["before: units, padded to the longest"],
        results["now: subwords, length buckets"],
    )
    results["steps_per_second_ratio"] = now["steps_per_second"] / before["steps_per_second"]
    results["tokens_per_second_ratio"] = (
        now["target_tokens_per_second"] / before["target_tokens_per_second"]
    )
    results["batch_size"] = batch_size
    return results


def _decoding_speed(model, data, sentences=32):
    """ms per sentence of greedy and beam decoding in Keras (tf.function), cached or not."""
    from dlapps.translation import decoding

    source_ids = tf.constant(data.encode_sources(data.test_sources[:sentences]))
    decoders = {
        "greedy": decoding.greedy_decode,
        "beam": lambda m, ids, use_cache: decoding.beam_search(m, ids, 4, use_cache=use_cache),
    }
    speeds, tokens = {}, {}
    for name, decode in decoders.items():
        for cached in (False, True):
            label = f"{name}_{'cached' if cached else 'uncached'}"
            function = tf.function(lambda ids, d=decode, c=cached: d(model, ids, use_cache=c))
            tokens[label] = function(source_ids).numpy()  # traces
            for batch_size in (1, sentences):
                batch = source_ids[:batch_size]
                milliseconds = benchmark.median_latency_ms(
                    lambda b=batch, f=function: f(b), warmup=1, repeats=10, max_seconds=3.0
                )
                speeds[f"{label}_batch_{batch_size}"] = milliseconds / batch_size
        same = np.array_equal(tokens[f"{name}_cached"], tokens[f"{name}_uncached"])
        speeds[f"{name}_cache_gives_same_tokens"] = bool(same)
    return speeds


def _translation_memory(data):
    """Baseline: the Spanish of the nearest English training sentence (character TF-IDF)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestNeighbors

    from dlapps.translation import translation_scores

    sources, targets = data.pairs.train
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    index = NearestNeighbors(n_neighbors=1, metric="cosine").fit(vectorizer.fit_transform(sources))
    _, nearest = index.kneighbors(vectorizer.transform(data.test_sources))
    hypotheses = [targets[i] for i in nearest[:, 0]]
    return translation_scores(hypotheses, data.test_references)


def bench_multi_worker(workdir, settings):
    """Vision on digits: `dlapps launch --workers 2` against one worker, same settings."""
    import h5py
    import numpy as np

    from dlapps import launch

    seed, quick = settings.seeds[0], settings.quick
    epochs = ["--epochs", "2"] if quick else []
    common = ["vision", "--seed", str(seed), "--restart", *epochs]
    single = getattr(settings, "single_worker_vision", None)  # from bench_vision, same settings
    if single is None:
        print(f"multi_worker: vision on one worker, seed {seed}", file=sys.stderr)
        result = _train(
            "vision",
            workdir,
            seed=seed,
            epochs=2 if quick else None,
            workdir=f"{workdir}/single",
            output=f"{workdir}/single_models",
            export=False,
        )
        single = {"accuracy": result.metrics["accuracy"], **_timing(result)}
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
        "single_worker": {k: single[k] for k in ("accuracy", "epochs", "seconds")},
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


def _keep_figures(exported, app, directory):
    """Copies an export's figures to `directory` as `<app>_<name>.png`, for the guide."""
    directory.mkdir(parents=True, exist_ok=True)
    for figure in sorted(Path(exported["path"], "figures").glob("*.png")):
        shutil.copyfile(figure, directory / f"{app}_{figure.name}")


def _keras_predict_ms(model, exported, batch_sizes=(1, 32)):
    """Keras `predict_on_batch` latency on the inputs the exported files are timed with."""
    latency = {}
    for batch_size in batch_sizes:
        batch = benchmark.synthetic_inputs(exported["inputs"], batch_size)
        latency[batch_size] = benchmark.median_latency_ms(lambda b=batch: model.predict_on_batch(b))
    return latency


def _pipeline_vs_cached(dataset):
    """Seconds for one pass over a training `tf.data` pipeline against its cached tensors."""
    start = time.perf_counter()
    for _ in dataset:
        pass
    pipeline = time.perf_counter() - start
    cached = dataset.cache()
    for _ in cached:  # fills the cache
        pass
    start = time.perf_counter()
    for _ in cached:
        pass
    cached_seconds = time.perf_counter() - start
    return {
        "pipeline_seconds_per_epoch": pipeline,
        "cached_seconds_per_epoch": cached_seconds,
        "ratio": pipeline / cached_seconds,
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


MARKER_START = "<!-- bench-summary:start (written by benchmarks/run.py) -->"
MARKER_END = "<!-- bench-summary:end -->"


def _accuracy_files(files):
    return [
        {**f, "quality": f"acc {f['accuracy']:.4f}", "parity": f"{f['max_abs_diff']:.1e}"}
        for f in files
    ]


def _app_rows(results):
    """(app, Keras quality, training result, files) per app, seed 0 and default settings.

    Each file row gets `quality` (the app's metric on the test split) and
    `parity` (how far it is from the Keras model) as text.
    """
    rows = []
    if "vision" in results:
        run = results["vision"]["digits"][0]
        files = _accuracy_files(results["vision"]["files"])
        rows.append(("vision", f"accuracy {run['accuracy']:.4f}", run, files))
    if "gan" in results:
        run = results["gan"]["runs"][0]
        files = [
            {
                "format": name,
                **f,
                "quality": "",
                "parity": f"{f['max_grey_level_diff']:.0f} grey levels",
            }
            for name, f in run["files"].items()
        ]
        quality = f"FID {run['fid']:.2f}, label accuracy {run['label_accuracy']:.3f}"
        rows.append((f"gan ({run['flavour']})", quality, run, files))
    if "speech_kws" in results:
        run = results["speech_kws"]["runs"][0]
        files = _accuracy_files(results["speech_kws"]["files"])
        rows.append(("speech_kws", f"accuracy {run['accuracy']:.4f}", run, files))
    if "speech_stt" in results:
        stt = results["speech_stt"]
        files = [
            {**f, "quality": f"WER {f['wer']:.3f}", "parity": f"{f['max_abs_diff']:.1e}"}
            for f in stt["files"]
        ]
        rows.append(("speech_stt", f"WER {stt['wer']:.3f}, CER {stt['cer']:.3f}", stt, files))
    if "translation" in results:
        model = results["translation"]["models"]["transformer"]
        files = [
            {
                **f,
                "quality": f"BLEU {f['bleu']:.1f}",
                "parity": f"{f['identical_to_keras']:.0%} identical",
            }
            for f in model["files"]
        ]
        quality = f"BLEU {model['bleu']:.1f}, exact match {model['exact_match']:.3f}"
        rows.append(("translation", quality, model, files))
    return rows


def summary_markdown(results):
    """The side-by-side tables: one row per app, then every exported file of every app."""
    lines = [
        "| app | test quality (Keras) | training s | examples/s |",
        "| --- | --- | --- | --- |",
    ]
    rows = _app_rows(results)
    for app, quality, run, _ in rows:
        lines.append(
            f"| {app} | {quality} | {run['seconds']:.0f} | {run['examples_per_second']:.0f} |"
        )
    lines += [
        "",
        "| app | file | size KB | test quality | difference to Keras | ms @ batch 1 "
        "| ms @ batch 32 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for app, _, _, files in rows:
        for f in files:
            lines.append(
                f"| {app} | {f['format']} | {f['bytes'] / 1024:.0f} | {f['quality']} "
                f"| {f['parity']} | {f['latency_ms_batch_1']:.2f} "
                f"| {f['latency_ms_batch_32']:.2f} |"
            )
    return lines


def marked_section(results):
    """The summary block that README.md and docs/guide.md carry between the markers."""
    return "\n".join(
        [
            MARKER_START,
            "",
            f"Measured by `make bench` on {results['machine']['cpus']} CPU cores, "
            f"TensorFlow {results['versions']['tensorflow']}, "
            f"Keras {results['versions']['keras']}, {results['date']}; seed 0, each app's "
            "default settings; latency is the median of repeated calls on this machine. "
            "Full tables: [benchmarks/RESULTS.md](benchmarks/RESULTS.md).",
            "",
            *summary_markdown(results),
            "",
            MARKER_END,
        ]
    )


def replace_marked_section(path, section):
    """Rewrites the text between the markers in `path`; False when it has no markers."""
    text = path.read_text(encoding="utf-8")
    if MARKER_START not in text or MARKER_END not in text:
        return False
    head, rest = text.split(MARKER_START, 1)
    tail = rest.split(MARKER_END, 1)[1]
    relative = section
    if path.parent.name == "docs":  # links from docs/ go one level up
        relative = section.replace("](benchmarks/", "](../benchmarks/")
    path.write_text(head + relative + tail, encoding="utf-8")
    return True


def plot_exports(results, path):
    """Bar charts of every exported file's size and batch-1 latency, app by app."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _app_rows(results)
    figure, axes = plt.subplots(2, len(rows), figsize=(3.2 * len(rows), 5.5), squeeze=False)
    for column, (app, _, _, files) in enumerate(rows):
        names = [f["format"].replace("tflite_", "") for f in files]
        sizes = [f["bytes"] / 1024 for f in files]
        latencies = [f["latency_ms_batch_1"] for f in files]
        for row, values, color, unit in (
            (0, sizes, "tab:blue", "{:.0f}"),
            (1, latencies, "tab:orange", "{:.2f}"),
        ):
            bars = axes[row][column].bar(names, values, color=color)
            axes[row][column].bar_label(bars, [unit.format(v) for v in values], fontsize=7)
            axes[row][column].tick_params(axis="x", labelrotation=60, labelsize=8)
            axes[row][column].margins(y=0.15)
        axes[0][column].set_title(app, fontsize=10)
    axes[0][0].set_ylabel("size (KB)")
    axes[1][0].set_ylabel("ms per call, batch 1")
    figure.suptitle("Exported files: size and latency at batch 1")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_markdown(results, path):
    """RESULTS.md: the summary tables, then a section for each app in `results`."""
    total = f", {results['seconds']:.0f} s in all" if "seconds" in results else ""
    lines = [
        "# Benchmark results",
        "",
        f"`{results.get('command', 'make bench')}` on {results['machine']['cpus']} CPU cores, "
        f"{results['machine']['platform']}; "
        f"TensorFlow {results['versions']['tensorflow']}, Keras {results['versions']['keras']}; "
        f"{results.get('date', '')}{total}.",
        "",
        "## Summary: seed 0, default settings",
        "",
        *summary_markdown(results),
        "",
        "![Exported files: size and latency](figures/export_formats.png)",
    ]
    sections = {
        "vision": _vision_markdown,
        "gan": _gan_markdown,
        "speech_kws": _speech_markdown,
        "speech_stt": _speech_to_text_markdown,
        "translation": _translation_markdown,
        "multi_worker": _multi_worker_markdown,
    }
    for app, section in sections.items():
        if app in results:
            lines += section(results[app])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _vision_markdown(vision):
    lines = [
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
    if "keras_predict_ms" in vision:
        keras_ms, pipeline = vision["keras_predict_ms"], vision["input_pipeline"]
        lines += [
            f"- Keras `predict_on_batch`: {keras_ms['1']:.2f} ms at batch 1, "
            f"{keras_ms['32']:.2f} ms at batch 32",
            f"- input pipeline (tf.data, shuffled batches): "
            f"{pipeline['pipeline_seconds_per_epoch']:.3f} s per epoch, against "
            f"{pipeline['cached_seconds_per_epoch']:.3f} s from cached tensors",
        ]
    return lines


def _gan_markdown(gan):
    lines = [
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
    for run in gan["runs"]:
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
    first = gan["runs"][0]["files"]
    lines += ["", "Generator latency (conditional, seed 0), ms at batch 1 / 32:", ""]
    lines += [
        f"- {name}: {f['latency_ms_batch_1']:.3f} / {f['latency_ms_batch_32']:.3f}"
        for name, f in first.items()
    ]
    return lines


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
    if "real_text" in translation:
        lines += _translation_real_markdown(translation["real_text"])
    return lines


def _translation_real_markdown(real):
    data, speed, throughput = real["data"], real["decoding_ms_per_sentence"], real["throughput"]
    memory = real["translation_memory"]
    lines = [
        "",
        "## translation: real English -> Spanish sentences (gettext catalogs), default settings",
        "",
        f"{real['pairs']} human-translated pairs from the Spanish gettext catalogs installed on "
        "the benchmark machine (git, GLib, coreutils, PostgreSQL, GnuPG, ...; "
        "`benchmarks/gettext_pairs.py`), trained with `dlapps train translation --data pairs.tsv "
        f"--time-budget 600` ({real['epochs']} epochs, {real['seconds']:.0f} s). Scores on "
        f"{data['test_sources']} English sentences never seen in training, against all their "
        f"references ({data['test_references_per_source']} per sentence on average).",
        "",
        "| model | BLEU | chrF | exact match |",
        "| --- | --- | --- | --- |",
        f"| Transformer, {data['decoding']} (exported) | {real['bleu']:.2f} | {real['chrf']:.2f} "
        f"| {real['exact_match']:.4f} |",
        f"| Transformer, greedy | {real['greedy_bleu']:.2f} | {real['greedy_chrf']:.2f} | |",
        f"| Transformer, beam 4 | {real['beam_bleu']:.2f} | {real['beam_chrf']:.2f} | |",
        f"| baseline: translation memory (nearest training sentence) | {memory['bleu']:.2f} "
        f"| {memory['chrf']:.2f} | {memory['exact_match']:.4f} |",
        "",
        f"Vocabulary: {data['vocabulary']}, {data['source_vocabulary']} English and "
        f"{data['target_vocabulary']} Spanish tokens; lengths {data['source_length']} / "
        f"{data['target_length']} tokens ({data['train_pairs_left_out']} training pairs longer "
        f"than that left out, {data['test_sentences_cut']} test sentences cut).",
        "",
        f"Training throughput, same pairs, batch {throughput['batch_size']}, same model:",
        "",
        "| pipeline | steps/s | target tokens/s | padding | lengths |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, run in throughput.items():
        if isinstance(run, dict):
            lines.append(
                f"| {name} | {run['steps_per_second']:.2f} "
                f"| {run['target_tokens_per_second']:.0f} | {run['padding_fraction']:.0%} "
                f"| {run['source_length']} / {run['target_length']} |"
            )
    lines += [
        "",
        f"Steps/s {throughput['steps_per_second_ratio']:.1f}x, tokens/s "
        f"{throughput['tokens_per_second_ratio']:.1f}x the pipeline before.",
        "",
        "Decoding, ms per sentence (Keras in a tf.function; the SavedModel runs the same graph):",
        "",
        "| decoding | batch | no cache | key/value cache | same tokens |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ("greedy", "beam"):
        for key in sorted(k for k in speed if k.startswith(f"{name}_uncached_batch_")):
            batch = key.rsplit("_", 1)[1]
            lines.append(
                f"| {name} | {batch} | {speed[key]:.2f} "
                f"| {speed[f'{name}_cached_batch_{batch}']:.2f} "
                f"| {speed[f'{name}_cache_gives_same_tokens']} |"
            )
    lines += [
        "",
        "| format | size KB | BLEU | identical to Keras | ms @ batch 1 | ms @ batch 32 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in real["files"]:
        lines.append(
            f"| {f['format']} | {f['bytes'] / 1024:.0f} | {f['bleu']:.2f} "
            f"| {f['identical_to_keras']:.4f} | {f['latency_ms_batch_1']:.2f} "
            f"| {f['latency_ms_batch_32']:.2f} |"
        )
    lines += ["", "Unseen test sentences (source -> translation; reference):", ""]
    lines += [f"- {e['source']} -> {e['translation']} ({e['reference']})" for e in real["examples"]]
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
    parser.add_argument(
        "--full", action="store_true", help="seeds 0-2 and the baselines, into benchmarks/full"
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 0, or 0 1 2 with --full")
    parser.add_argument("--output", help="default: benchmarks/, or benchmarks/full with --full")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run with tiny settings (numbers meaningless)"
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="train nothing: rewrite RESULTS.md, the chart and the docs' tables from results.json",
    )
    parser.add_argument(
        "--apps",
        nargs="+",
        choices=sorted(BENCHES),
        default=list(BENCHES),
        help="only these apps; the others keep their numbers in results.json",
    )
    args = parser.parse_args()
    args.seeds = args.seeds or ([0, 1, 2] if args.full else [0])
    output = Path(args.output or (HERE / "full" if args.full else HERE))
    output.mkdir(parents=True, exist_ok=True)
    args.figures = output / "figures"
    previous = output / "results.json"
    results = json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() else {}
    if args.render:
        _render(results, output, args)
        return
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        for app in args.apps:
            app_start = time.perf_counter()
            results[app] = BENCHES[app](workdir, args)
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
    results["command"] = "make bench-full" if args.full else "make bench"
    if set(args.apps) == set(BENCHES):
        results["date"] = time.strftime("%Y-%m-%d")
        results["seconds"] = time.perf_counter() - start
    (output / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _render(json.loads((output / "results.json").read_text(encoding="utf-8")), output, args)


def _render(results, output, args):
    """RESULTS.md, the export chart and (for the default run) the docs' summary tables."""
    args.figures.mkdir(parents=True, exist_ok=True)
    plot_exports(results, args.figures / "export_formats.png")
    write_markdown(results, output / "RESULTS.md")
    if output == HERE and not args.quick:  # the default table is the one the docs quote
        for document in (HERE.parent / "README.md", HERE.parent / "docs" / "guide.md"):
            if document.is_file():
                replace_marked_section(document, marked_section(results))
    print((output / "RESULTS.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
