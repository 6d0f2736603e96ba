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
from dlapps.vision.letters import write_letters_folder  # noqa: E402
from dlapps.vision.photo_tiles import PHOTOGRAPHS, write_photo_tiles_split  # noqa: E402
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
        options={"image_size": (32, 32), "backbone": "small_cnn"},
    )
    print("vision: timing every exported file", file=sys.stderr)
    files, timed = _timed_files(exported)
    sizes = {f["format"]: f["bytes"] for f in files}
    keras_ms = _keras_predict_ms(model, exported)
    saved_model_ms = next(r["latency_ms"] for r in timed["rows"] if r["format"] == "saved_model")
    pipeline = _pipeline_vs_cached(vision.to_dataset(data.train, 32, shuffle=True, seed=0))
    print("vision: MediaPipe ImageClassifier against LiteRT", file=sys.stderr)
    rgb = np.repeat(data.test[0], 3, axis=-1) if data.test[0].shape[-1] == 1 else data.test[0]
    mediapipe = _mediapipe_check("vision", model, data, exported, {"images": rgb})
    return {
        "digits": runs,
        "shapes_folder": {"accuracy": shapes.metrics["accuracy"], **_timing(shapes)},
        "files": files,
        "mediapipe": mediapipe,
        "keras_predict_ms": {str(b): ms for b, ms in keras_ms.items()},
        "input_pipeline": pipeline,
        "ratios": {
            **timed["ratios"],
            **{f"saved_model/keras_predict@{b}": saved_model_ms[b] / keras_ms[b] for b in keras_ms},
            "pipeline/cached_tensors": pipeline["ratio"],
            "int8_bytes/float32_bytes": sizes["tflite_int8"] / sizes["tflite_float32"],
        },
    }


# Sample photographs for the ImageNet check, and ImageNet classes that count as right for each.
IMAGENET_CHECKS = {
    "chelsea": ("cat", ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")),
    "coffee": ("coffee cup", ("espresso", "cup", "coffee mug")),
    "rocket": ("rocket", ("missile", "projectile", "space shuttle")),
}
# Published figures for Lite0, the model TFLite Model Maker fine-tunes by default: the
# EfficientNet-Lite README (tensorflow/tpu, models/official/efficientnet/lite).
PUBLISHED_LITE0 = {
    "source": "github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite README",
    "params_millions": 4.7,
    "int8_cpu_latency_ms": 6.5,
    "fp32_cpu_latency_ms": 12.0,
    "int8_imagenet_top1": 0.744,
    "fp32_imagenet_top1": 0.751,
    "device": "Pixel 4 CPU, batch 1, 4 threads",
}


def _cpu_features():
    """The CPU's int8 dot-product features, which decide how fast int8 TFLite runs here."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []
    return sorted({f for f in flags if f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni")})


# The int8 investigation's variant: the classifier head in float.
INT8_FLOAT_HEAD = ("FULLY_CONNECTED", "SOFTMAX")


def _held_out_photo_scores(pretrained, scratch, folder, rounds=7):
    """Accuracy on the held-out photo regions of both models and Lite0's TFLite files; latency.

    Latency: float32 and int8 TFLite at batch 1, timed in `rounds` interleaved
    rounds (float32, int8, float32, ...) so that a load change on a shared
    machine hits both alike; the ratio is the median of the rounds' ratios.
    For the int8 investigation, a third file beside them: the same full-int8
    recipe with the classifier head (FULLY_CONNECTED, SOFTMAX) kept in float.
    """
    from dlapps import metrics
    from dlapps.export import TFLiteModel, saved_model
    from dlapps.export import tflite as tflite_lib
    from dlapps.vision.data import decode_image_file, list_image_folder
    from dlapps.vision.image_preprocessor import resize_images

    paths, labels, names = list_image_folder(folder)
    assert names == list(pretrained.data.labels) == list(scratch.data.labels)
    originals = [decode_image_file(path, 3)[None] for path in paths]

    def images_for(result):
        height, width, channels = result.data.image_shape
        return np.concatenate(
            [
                np.round(resize_images(image, (height, width)).numpy()).astype("uint8")
                for image in originals
            ]
        )[..., :channels]

    lite0_images = images_for(pretrained)
    scratch_images = images_for(scratch)
    version = Path(pretrained.report["path"])
    files = {f["format"]: version / f["path"] for f in pretrained.report["exports"]}
    tflite = {name: TFLiteModel(files[name]) for name in ("tflite_float32", "tflite_int8")}
    spec = get_application("vision").export_spec(pretrained.model, pretrained.data)
    with tempfile.TemporaryDirectory() as source:
        saved_model.write_saved_model(spec.model, [spec.tflite], source)
        float_head = tflite_lib.convert(
            source, "tflite_int8", spec.representative_data, float_ops=INT8_FLOAT_HEAD
        )
    tflite["tflite_int8_float_head"] = TFLiteModel(float_head)
    probabilities = {
        "efficientnet_lite0": pretrained.model.predict(lite0_images, batch_size=32, verbose=0),
        "small_cnn": scratch.model.predict(scratch_images, batch_size=32, verbose=0),
        **{
            name: model.run_batched({"images": lite0_images}, batch_size=32)["probabilities"]
            for name, model in tflite.items()
        },
    }
    batch = {"images": lite0_images[:1]}
    timings = {name: [] for name in tflite}
    for _ in range(rounds):
        for name, model in tflite.items():
            timings[name].append(
                benchmark.median_latency_ms(lambda m=model: m(batch), repeats=20, max_seconds=3)
            )
    ratios = np.array(timings["tflite_int8"]) / np.array(timings["tflite_float32"])
    head_ratios = np.array(timings["tflite_int8_float_head"]) / np.array(timings["tflite_float32"])
    return {
        "images": len(labels),
        "accuracy": {name: metrics.accuracy(labels, p) for name, p in probabilities.items()},
        "int8_predictions_differing": int(
            np.sum(
                probabilities["tflite_int8"].argmax(-1)
                != probabilities["tflite_float32"].argmax(-1)
            )
        ),
        "latency": {
            "rounds": rounds,
            "float32_ms_batch_1": timings["tflite_float32"],
            "int8_ms_batch_1": timings["tflite_int8"],
            "int8_float_head_ms_batch_1": timings["tflite_int8_float_head"],
            "ratio_median": float(np.median(ratios)),
            "ratio_min": float(ratios.min()),
            "ratio_max": float(ratios.max()),
            "float_head_ratio_median": float(np.median(head_ratios)),
        },
        "int8_float_head": {
            "float_ops": list(INT8_FLOAT_HEAD),
            "bytes": len(float_head),
            "predictions_differing": int(
                np.sum(
                    probabilities["tflite_int8_float_head"].argmax(-1)
                    != probabilities["tflite_float32"].argmax(-1)
                )
            ),
        },
    }


def _imagenet_top5(workdir, calibration_images):
    """Top-5 ImageNet classes of the pretrained Lite0, Keras and full-int8 TFLite, on photos."""
    import numpy as np
    import skimage.data

    from dlapps.export import TFLiteModel
    from dlapps.export.saved_model import Endpoint, write_saved_model
    from dlapps.export.tflite import convert
    from dlapps.vision.efficientnet_lite_weights import imagenet_class_names, imagenet_classifier

    model = imagenet_classifier(0)
    names = imagenet_class_names()
    images = {name: getattr(skimage.data, name)() for name in IMAGENET_CHECKS}
    path = Path(workdir) / "imagenet_saved_model"

    def classify(pixels):
        return {"probabilities": model(pixels, training=False)}

    spec = tf.TensorSpec([None, 224, 224, 3], tf.uint8, name="images")
    write_saved_model(model, [Endpoint("serving_default", classify, [spec])], path)

    def representative_data():
        for image in calibration_images:
            yield {"images": image[None]}

    tflite = TFLiteModel(convert(path, "tflite_int8", representative_data))
    results = {}
    for name, image in images.items():
        resized = np.round(vision.resize_images(image[None], (224, 224)).numpy()).astype("uint8")
        label, accepted = IMAGENET_CHECKS[name]
        row = {"label": label, "accepted": list(accepted)}
        for runtime, probabilities in (
            ("keras", model.predict(resized, verbose=0)[0]),
            ("tflite_int8", tflite({"images": resized})["probabilities"][0]),
        ):
            top5 = [names[i].split(",")[0] for i in np.argsort(probabilities)[::-1][:5]]
            row[runtime] = {"top5": top5, "right_in_top5": any(t in accepted for t in top5)}
        results[name] = row
    return results


def bench_vision_transfer(workdir, settings):
    """Transfer learning from ImageNet EfficientNet-Lite0 against the CNN from scratch.

    - ImageNet check: top-5 of the pretrained Lite0 on scikit-image's photos, Keras and int8.
    - Real photos: tiles of scikit-image's and scikit-learn's sample photographs, one class
      per photograph (`write_photo_tiles_split`): `--photo-tiles` tiles of each from its left
      part train `dlapps train vision --data DIR` with the defaults (EfficientNet-Lite0, two
      phases, exported) and with `--backbone small_cnn`, in the same run; both, and the
      float32 and int8 TFLite files, are then measured on `--photo-test-tiles` tiles of each
      from its right part, a column of tiles away from any training tile.
    - int8 against float32 TFLite latency at batch 1: the median of interleaved rounds.
    - Drawn letters A-E (issue 21): the small CNN with the old defaults and with the new.
    """
    quick = settings.quick
    root = Path(workdir)
    tiles = 6 if quick else getattr(settings, "photo_tiles", 20)
    test_tiles = 6 if quick else getattr(settings, "photo_test_tiles", 30)
    train_folder, test_folder = write_photo_tiles_split(root / "photo_tiles", tiles, test_tiles)
    photos = train_folder
    data = vision.load_image_folder(photos, image_size=(224, 224))
    calibration = data.train[0][:: max(1, len(data.train[0]) // 100)]
    print("vision_transfer: ImageNet top-5 on sample photos", file=sys.stderr)
    imagenet = _imagenet_top5(root, calibration)
    quick_fields = {"epochs": 1} if quick else {}
    print("vision_transfer: photos, EfficientNet-Lite0 (defaults)", file=sys.stderr)
    pretrained = _train(
        "vision",
        workdir,
        data=str(photos),
        workdir=f"{workdir}/runs_transfer",
        options={"fine_tune_epochs": 1} if quick else {},
        **quick_fields,
    )
    print("vision_transfer: photos, small CNN from scratch", file=sys.stderr)
    scratch = _train(
        "vision",
        workdir,
        data=str(photos),
        workdir=f"{workdir}/runs_scratch",
        export=False,
        options={"backbone": "small_cnn"},
        **quick_fields,
    )
    print("vision_transfer: held-out regions, Keras and TFLite; int8 latency", file=sys.stderr)
    held_out = _held_out_photo_scores(pretrained, scratch, test_folder)
    files = _file_rows(pretrained.report, "max_abs_diff")
    by_format = {f["format"]: f for f in files}
    letters = write_letters_folder(root / "letters", images_per_class=16 if quick else 80)
    letter_runs = {}
    for name, fields in (
        # The defaults before issue 21: 2 CNN stages whatever the image size, batch 32,
        # 40 epochs, early stopping after 15 epochs without a better validation loss.
        (
            "small_cnn_old_defaults",
            {
                "batch_size": 32,
                "epochs": 40,
                "patience": 15,
                "options": {"backbone": "small_cnn", "cnn_filters": (32, 64)},
            },
        ),
        ("small_cnn_new_defaults", {"options": {"backbone": "small_cnn"}}),
    ):
        print(f"vision_transfer: letters, {name}", file=sys.stderr)
        if quick:
            fields = {**fields, "epochs": 1}
        run = _train(
            "vision",
            workdir,
            data=str(letters),
            workdir=f"{workdir}/runs_letters_{name}",
            export=False,
            **fields,
        )
        letter_runs[name] = {"accuracy": run.metrics["accuracy"], **_timing(run)}
    accuracy = held_out["accuracy"]
    return {
        "imagenet_top5": imagenet,
        "photos": {
            "classes": len(PHOTOGRAPHS),
            "tiles_per_class": tiles,
            "images": sum(len(s[1]) for s in (data.train, data.validation, data.test)),
            "train_images": len(data.train[1]),
            "test_images": held_out["images"],
            "split": f"{held_out['images']} tiles ({test_tiles} per photograph) from the right "
            "part of each photograph, a column of tiles away from the training tiles (left "
            f"part; the app's own split of those: {len(data.train[1])} train, "
            f"{len(data.validation[1])} validation, {len(data.test[1])} test)",
            "efficientnet_lite0": {
                "accuracy": accuracy["efficientnet_lite0"],
                "own_split_accuracy": pretrained.metrics["accuracy"],
                "phases": pretrained.report["training"].get("phases", 1),
                **_timing(pretrained),
            },
            "small_cnn": {
                "accuracy": accuracy["small_cnn"],
                "own_split_accuracy": scratch.metrics["accuracy"],
                **_timing(scratch),
            },
            "points_above_scratch": 100 * (accuracy["efficientnet_lite0"] - accuracy["small_cnn"]),
        },
        "files": files,
        "int8": {
            "accuracy_float32": accuracy["tflite_float32"],
            "accuracy_int8": accuracy["tflite_int8"],
            "accuracy_minus_float32": accuracy["tflite_int8"] - accuracy["tflite_float32"],
            "predictions_differing": held_out["int8_predictions_differing"],
            "float_head": {
                **held_out["int8_float_head"],
                "accuracy": accuracy["tflite_int8_float_head"],
                "latency_ratio_batch_1": held_out["latency"]["float_head_ratio_median"],
            },
            "test_images": held_out["images"],
            "latency_ratio_batch_1": held_out["latency"]["ratio_median"],
            "latency": held_out["latency"],
            "megabytes": by_format["tflite_int8"]["bytes"] / 1e6,
            "cpu_features": _cpu_features(),
            "published": PUBLISHED_LITE0,
        },
        "letters": {
            "images": 5 * (16 if quick else 80),
            "runs": letter_runs,
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
            exported, data, model = result.report, result.data, result.model
            _keep_figures(exported, "speech_kws", settings.figures)
    files, timed = _timed_files(exported)
    pipeline = _pipeline_vs_cached(
        keyword_data.to_dataset(data.train, 64, shuffle=True, augment=True, seed=0)
    )
    print("speech_kws: MediaPipe AudioClassifier against LiteRT", file=sys.stderr)
    waveforms = data.test[0].astype("float32") / 32768.0
    mediapipe = _mediapipe_check("speech_kws", model, data, exported, {"waveforms": waveforms})
    return {
        "runs": runs,
        "files": files,
        "mediapipe": mediapipe,
        "input_pipeline": pipeline,
        "ratios": {**timed["ratios"], "pipeline/cached_tensors": pipeline["ratio"]},
    }


SPEAKER_VOICES = (
    ("en", "m1"),
    ("en-us", "f1"),
    ("en-gb-scotland", "m3"),
    ("en-029", "f4"),
    ("en-gb-x-rp", "m5"),
    ("en-us-nyc", "klatt"),
    ("en-gb-x-gbclan", "m7"),
    ("en-gb-x-gbcwmd", "steph"),
)


def write_speaker_folder(root, clips_per_word=10, seed=0):
    """A keyword folder of few "speakers" in Speech Commands' layout.

    Each eSpeak NG voice of `SPEAKER_VOICES` (its own accent and voice
    variant) is one speaker, `<label>/spk<i>_nohash_<n>.wav`, saying every
    keyword and unknown word `clips_per_word` times at random rates and
    pitches; `_silence_` and `_background_noise_` hold noise.
    """
    from dlapps.datasets import random_noise
    from dlapps.speech import keyword_synthesis
    from dlapps.speech.audio import write_wav
    from dlapps.speech.synthesizer import Synthesizer, Voice

    synthesizer = Synthesizer()
    rng = np.random.default_rng(seed)
    root = Path(root)
    labels = [*keyword_synthesis.KEYWORDS, keyword_synthesis.UNKNOWN, keyword_synthesis.SILENCE]
    for label in labels:
        (root / label).mkdir(parents=True, exist_ok=True)
    for speaker, (accent, variant) in enumerate(SPEAKER_VOICES):
        voice = Voice(accent, variant)
        for label in labels:
            for n in range(clips_per_word):
                if label == keyword_synthesis.SILENCE:
                    clip = keyword_synthesis.silence_clip(rng)
                else:
                    word = (
                        rng.choice(keyword_synthesis.UNKNOWN_WORDS)
                        if label == keyword_synthesis.UNKNOWN
                        else label
                    )
                    clip = keyword_synthesis.speak_clip(synthesizer, rng, word, voice)
                write_wav(root / label / f"spk{speaker}_nohash_{n}.wav", clip)
    (root / "_background_noise_").mkdir(exist_ok=True)
    for index in range(2):
        noise = random_noise(rng, 10 * 16000, 0.05)
        write_wav(root / "_background_noise_" / f"noise{index}.wav", noise)
    return root


# Leave-one-speaker-out folds: the held-out speaker of each (indices into
# SPEAKER_VOICES): a female, a male and a Klatt-synthesised voice.
SPEAKER_FOLDS = (1, 2, 5)
# The augmentation before issue #14's second round, for the same folds.
PREVIOUS_RECIPE = {"speed_range": [0.85, 1.15], "frequency_warp": 0.0, "energy_norm": False}


def _write_fold_lists(folder, held_out, seed):
    """Official lists for one fold: the held-out speaker's files for test, 10% of the rest."""
    files = sorted(
        f"{path.parent.name}/{path.name}"
        for path in Path(folder).glob("*/spk*_nohash_*.wav")
        if not path.parent.name.startswith("_b")
    )
    test = [f for f in files if f.split("/")[1].startswith(f"spk{held_out}_")]
    rest = [f for f in files if f not in set(test)]
    rng = np.random.default_rng(seed)
    validation = sorted(rng.choice(rest, size=max(1, len(rest) // 10), replace=False))
    (Path(folder) / "testing_list.txt").write_text("\n".join(test) + "\n", encoding="utf-8")
    (Path(folder) / "validation_list.txt").write_text("\n".join(validation) + "\n", "utf-8")


def bench_speech_speakers(workdir, settings):
    """Keyword spotting on speakers never heard: leave-one-speaker-out over a folder of 8 voices.

    A folder of 8 synthetic speakers (10 clips of each label each); for
    each fold of `SPEAKER_FOLDS` one speaker is held out for test (120
    clips) and 10% of the other speakers' files are the within-speaker
    split ("seen speakers": other files of the training speakers, also the
    validation data). Both recipes train on the same folds with the same
    seed and 10 epochs (the default plans 30): the default augmentation
    (speed 0.8-1.25x around the clip's centre of energy, frequency warping
    0.9-1.1x, per-clip band energy normalisation, noise mixing,
    SpecAugment) and the previous one (speed 0.85-1.15x, no warping, no
    energy normalisation). Reported per fold and over folds: mean, standard
    deviation, lowest fold, and accuracy pooled over every held-out clip.
    """
    from dlapps import metrics

    seed, quick = settings.seeds[0], settings.quick
    folder = write_speaker_folder(Path(workdir) / "speakers", clips_per_word=2 if quick else 10)
    folds = SPEAKER_FOLDS[:1] if quick else SPEAKER_FOLDS
    recipes = {"default": {}, "previous": PREVIOUS_RECIPE}
    runs = {name: {"folds": []} for name in recipes}
    for held_out in folds:
        _write_fold_lists(folder, held_out, seed)
        for name, options in recipes.items():
            accent, variant = SPEAKER_VOICES[held_out]
            print(
                f"speech_kws: speaker {held_out} ({accent}+{variant}) held out, {name} recipe",
                file=sys.stderr,
            )
            result = _train(
                "speech_kws",
                workdir,
                data=str(folder),
                seed=seed,
                epochs=1 if quick else 10,
                export=False,
                workdir=f"{workdir}/runs_speakers_{name}_{held_out}",
                options=options,
            )
            data = result.data
            seen = result.model.predict(data.validation[0] / 32768.0, batch_size=256, verbose=0)
            runs[name]["folds"].append(
                {
                    "held_out_speaker": f"spk{held_out} ({accent}+{variant})",
                    "unseen_speaker_accuracy": result.metrics["accuracy"],
                    "unseen_clips": len(data.test[1]),
                    "seen_speaker_accuracy": metrics.accuracy(data.validation[1], seen),
                    "seen_clips": len(data.validation[1]),
                    **_timing(result),
                }
            )
    for name, run in runs.items():
        run["options"] = recipes[name]
        for key in ("unseen_speaker_accuracy", "seen_speaker_accuracy"):
            values = np.array([fold[key] for fold in run["folds"]])
            clips = np.array([fold[key.split("_")[0] + "_clips"] for fold in run["folds"]])
            run[key] = {
                "mean": float(values.mean()),
                "std": float(values.std()),
                "min": float(values.min()),
                "pooled": float((values * clips).sum() / clips.sum()),
                "clips": int(clips.sum()),
            }
        run["gap_points"] = 100 * (
            run["seen_speaker_accuracy"]["pooled"] - run["unseen_speaker_accuracy"]["pooled"]
        )
    return {
        "speakers": len(SPEAKER_VOICES),
        "clips_per_word": 2 if quick else 10,
        "epochs": 1 if quick else 10,
        "split": "leave one speaker out: official lists per fold (test: the held-out speaker; "
        "validation: 10% of the other speakers' files)",
        **runs,
    }


def _speakers_markdown(speakers):
    if "default" not in speakers:  # results from before the leave-one-speaker-out folds
        return []
    lines = [
        "",
        f"## speech_kws: leave one speaker out of a folder of {speakers['speakers']} speakers",
        "",
        f"Measured {speakers.get('date', '')}. {speakers['split']}; "
        f"{speakers['epochs']} epochs per fold. Unseen speaker: the held-out speaker's clips; "
        "seen speakers: held-out files of the training speakers.",
        "",
        "| recipe | unseen speaker (pooled) | mean +- std over folds | worst fold "
        "| seen speakers (pooled) | gap (points) | training s per fold |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("default", "previous"):
        run = speakers[name]
        unseen, seen = run["unseen_speaker_accuracy"], run["seen_speaker_accuracy"]
        seconds = np.mean([fold["seconds"] for fold in run["folds"]])
        lines.append(
            f"| {name} | {unseen['pooled']:.4f} ({unseen['clips']} clips) "
            f"| {unseen['mean']:.4f} +- {unseen['std']:.4f} | {unseen['min']:.4f} "
            f"| {seen['pooled']:.4f} ({seen['clips']} clips) | {run['gap_points']:.1f} "
            f"| {seconds:.0f} |"
        )
    lines += ["", "| held-out speaker | default: unseen / seen | previous: unseen / seen |"]
    lines.append("| --- | --- | --- |")
    for new, old in zip(speakers["default"]["folds"], speakers["previous"]["folds"], strict=True):
        lines.append(
            f"| {new['held_out_speaker']} | {new['unseen_speaker_accuracy']:.4f} / "
            f"{new['seen_speaker_accuracy']:.4f} | {old['unseen_speaker_accuracy']:.4f} / "
            f"{old['seen_speaker_accuracy']:.4f} |"
        )
    return lines


def _mediapipe_check(
    app, model, data, exported, inputs, plain_formats=("tflite_float32", "tflite_int8")
):
    """The exported TFLite files through MediaPipe Tasks against the LiteRT interpreter.

    On the whole test split: top-1 agreement and the largest score
    difference per file, whether the labels MediaPipe reads from the
    metadata are labels.txt, and what the metadata adds to the file. Then
    the metadata's cost on LiteRT: `plain_formats` converted again without
    metadata and timed beside the exported files (latency ratio, output
    difference). Without a MediaPipe environment: `{"skipped": reason}`.
    """
    from dlapps.export import mediapipe_metadata, saved_model, tflite

    version = Path(exported["path"])
    task = exported.get("mediapipe", {})
    if not task.get("written"):
        return {"skipped": task.get("reason", "no MediaPipe metadata in the export")}
    files = [e for e in exported["exports"] if e["format"].startswith("tflite_")]
    sample_rate = task["options"].get("sample_rate")
    ((name, values),) = inputs.items()
    scores, labels = mediapipe_metadata.mediapipe_scores(
        [version / f["path"] for f in files], task["task"], values, sample_rate
    )
    expected_labels = (version / "labels.txt").read_text(encoding="utf-8").splitlines()
    rows = []
    for export, mediapipe, names in zip(files, scores, labels, strict=True):
        litert = tflite.TFLiteModel(version / export["path"]).run_batched(inputs)["probabilities"]
        rows.append(
            {
                "format": export["format"],
                "api": task["api"],
                "examples": len(values),
                "top1_agreement": float(np.mean(mediapipe.argmax(-1) == litert.argmax(-1))),
                "max_score_diff": float(np.max(np.abs(mediapipe - litert))),
                "labels_match": names == expected_labels,
                "metadata_bytes": export["metadata_bytes"],
                "metadata_fraction": export["metadata_bytes"] / export["bytes"],
            }
        )
    spec = get_application(app).export_spec(model, data)
    batch = {name: values[:1]}
    with tempfile.TemporaryDirectory() as source:
        saved_model.write_saved_model(spec.model, [spec.tflite], source)
        for tflite_format in plain_formats:
            content = tflite.convert(
                source, tflite_format, spec.representative_data, float_ops=spec.int8_float_ops
            )
            path = next(f["path"] for f in files if f["format"] == tflite_format)
            plain, written = tflite.TFLiteModel(content), tflite.TFLiteModel(version / path)
            difference = np.abs(
                plain.run_batched(inputs)["probabilities"]
                - written.run_batched(inputs)["probabilities"]
            )
            # Interleaved, twice each, so that a load change hits both alike.
            timings = {id(plain): [], id(written): []}
            for runner in (plain, written, plain, written):
                timings[id(runner)].append(benchmark.median_latency_ms(lambda r=runner: r(batch)))
            plain_ms, written_ms = np.mean(timings[id(plain)]), np.mean(timings[id(written)])
            row = next(r for r in rows if r["format"] == tflite_format)
            row["max_abs_diff_vs_without_metadata"] = float(difference.max())
            row["latency_ms_batch_1_without_metadata"] = float(plain_ms)
            row["latency_ms_batch_1_with_metadata"] = float(written_ms)
            row["latency_ratio_with/without_metadata"] = float(written_ms / plain_ms)
    return {"task": task["task"], "api": task["api"], "files": rows}


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
    """Speech-to-text on unseen sentences, numbers and words by unseen voices, default settings.

    Every test split is spoken by voices held out from training; "test"
    holds sentences that training does not (made of training words),
    "numbers" number phrases no training sentence holds, "new_words"
    sentences with a held-out word list that no training sentence holds.
    Each is decoded greedily, by beam search and by beam search with the
    word trigram language model built from the training text (`lm_wer`,
    its weights `lm_alpha`/`lm_beta` chosen on the validation split, its
    decoding time `lm_ms_per_clip`).
    """
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
    evaluation = result.report["evaluation"]
    examples = {
        name: evaluation[f"{name}_examples"][:5]
        for name in ("test", "test_numbers", "test_new_words")
        if f"{name}_examples" in evaluation
    }
    return {
        "seed": seed,
        **result.metrics,
        **_timing(result),
        "data": result.report.get("data", {}),
        "files": files,
        "examples": examples,
    }


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
    throughput = _translation_throughput(tsv, seed, steps=4 if quick else 40)
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
        "saved_model_all_test": _saved_model_translation_scores(result.report, data),
        "examples": result.report["evaluation"]["examples"][:10],
    }


def _saved_model_translation_scores(report, data, batch_size=32):
    """The exported SavedModel's `serving_default` on every test sentence (strings in and out).

    The export check decodes only the first `PARITY_SENTENCES` through each
    file; this scores the SavedModel, as served, on the same test set as Keras.
    """
    from dlapps.export.saved_model import load_saved_model
    from dlapps.translation.translation_metrics import translation_scores

    signature = load_saved_model(Path(report["path"])).signatures["serving_default"]
    sources = list(data.test_sources)
    hypotheses = []
    for start in range(0, len(sources), batch_size):
        batch = tf.constant(sources[start : start + batch_size])
        hypotheses += [
            t.decode("utf-8") for t in signature(sentences=batch)["translations"].numpy()
        ]
    return {"sentences": len(sources), **translation_scores(hypotheses, data.test_references)}


def _translation_throughput(tsv, seed, steps, batch_size=64, warmup=10, rounds=4):
    """Training steps/s and tokens/s of the old and the new data pipeline, same pairs and batch.

    The two pipelines train in turns (`rounds` stretches of `steps / rounds`
    steps each), so a change in the machine's load falls on both alike; the
    process CPU time per step (both cores together) is kept beside the wall
    time as a measure of work that another job's load does not inflate.
    """
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
    models, batches = {}, {}
    for name, (data, bucketing) in runs.items():
        keras.utils.set_random_seed(seed)
        train, _ = translation_app.make_datasets(data, batch_size, seed, bucketing=bucketing)
        batches[name] = list(train.repeat().take(warmup + steps))
        model = get_application("translation").build_model(
            training.TrainConfig(app="translation", options={"hidden_dim": 256}), data
        )
        model.compile("adam", loss=MaskedCrossEntropy(0.1))
        for inputs, targets in batches[name][:warmup]:  # traces the step for the shapes
            model.train_on_batch(inputs, targets)
        models[name] = model
    seconds, cpu_seconds = dict.fromkeys(runs, 0.0), dict.fromkeys(runs, 0.0)
    for turn in range(rounds):
        for name, model in models.items():
            timed = batches[name][warmup:][turn * steps // rounds : (turn + 1) * steps // rounds]
            start, cpu_start = time.perf_counter(), time.process_time()
            for inputs, targets in timed:
                model.train_on_batch(inputs, targets)
            seconds[name] += time.perf_counter() - start
            cpu_seconds[name] += time.process_time() - cpu_start
    results = {}
    for name, (data, _) in runs.items():
        timed = batches[name][warmup:]
        tokens = sum(int(tf.reduce_sum(tf.cast(t > 0, tf.int32))) for _, t in timed)
        padded = sum(int(tf.size(t)) for _, t in timed)
        results[name] = {
            "steps_per_second": steps / seconds[name],
            "target_tokens_per_second": tokens / seconds[name],
            "cpu_ms_per_step": 1000 * cpu_seconds[name] / steps,
            "padding_fraction": 1 - tokens / padded,
            "source_length": data.source_length,
            "target_length": data.target_length,
            "mean_batch_lengths": [
                float(np.mean([x[key].shape[1] for x, _ in timed]))
                for key in ("source_ids", "target_ids")
            ],
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
    results["cpu_per_step_ratio"] = before["cpu_ms_per_step"] / now["cpu_ms_per_step"]
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


def bench_summarization(workdir, settings):
    """Built-in reports: the extractive default and the abstractive copy model, beside Lead-N.

    Both train with their defaults (`dlapps train summarization [--model
    abstractive]`); ROUGE is measured on unseen test articles, the same split
    for the models, Lead-N (N chosen on validation) and Lead-3. Each exported
    file is compared with Keras on `documents_compared` test articles.
    """
    seed, quick = settings.seeds[0], settings.quick
    models = {}
    for model in ("extractive", "abstractive"):
        print(f"summarization: {model}, seed {seed}", file=sys.stderr)
        options = {"model": model, **({"documents": 60} if quick else {})}
        result = _train(
            "summarization", workdir, seed=seed, epochs=1 if quick else None, options=options
        )
        if model == "extractive":
            _keep_figures(result.report, "summarization", settings.figures)
        files = _file_rows(result.report, "identical_to_keras")
        for row, export in zip(files, result.report["exports"], strict=True):
            row["documents_compared"] = export.get("documents_compared")
        models[model] = {
            **result.metrics,
            **_timing(result),
            "files": files,
            "examples": result.report["evaluation"]["examples"][:3],
            "data": result.report["data"],
        }
        # Saved at once: the abstractive run is the longer one.
        settings.figures.mkdir(parents=True, exist_ok=True)
        (settings.figures.parent / f"summarization_{model}.json").write_text(
            json.dumps(models[model], indent=1, default=str), encoding="utf-8"
        )
    return {
        "seed": seed,
        "split": "unseen test articles",
        "models": models,
        "real": _summarization_real(workdir, seed, quick, settings.figures.parent),
    }


def _summarization_real(workdir, seed, quick, output):
    """The default extractive run on real texts with real one-line summaries: manual pages.

    `dlapps train summarization --data DIR` on a folder in the BBC News
    Summary layout, written from this machine's manual pages (DESCRIPTION
    -> NAME line; `benchmarks/manpage_articles.py`). Not news: a check that
    the defaults (input length from the data, the scorer or its Lead
    fallback, early stopping) give at least Lead-3 on a small real corpus.
    """
    sys.path.insert(0, str(Path(__file__).parent))
    import manpage_articles

    folder = Path(workdir) / "manpages"
    count = manpage_articles.write_folder(folder, 100 if quick else 2000, seed=0)
    print(f"summarization: {count} manual pages (real text), seed {seed}", file=sys.stderr)
    result = _train(
        "summarization",
        workdir,
        seed=seed,
        data=str(folder),
        epochs=1 if quick else None,
        workdir=f"{workdir}/runs_real",
        export=False,
    )
    keys = ("rougeL", "scorer_rougeL", "oracle_rougeL", "lead_n", "lead_fallback")
    keys += tuple(f"{k}_{r}" for k in ("lead_n", "lead3") for r in ("rouge1", "rouge2", "rougeL"))
    keys += tuple(f"extractive_{r}" for r in ("rouge1", "rouge2"))
    real = {
        "source": "manual pages: DESCRIPTION -> NAME line (real text, not news)",
        "pages": count,
        **{k: result.metrics[k] for k in keys},
        **_timing(result),
        "selection": result.report["evaluation"]["selection"],
        "data": result.report["data"],
        "examples": result.report["evaluation"]["examples"][:3],
    }
    (output / "summarization_real.json").write_text(
        json.dumps(real, indent=1, default=str), encoding="utf-8"
    )
    return real


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
        # The files take RGB; a greyscale Keras model takes its own channel count.
        channels = exported["inputs"].get("images", {}).get("model_channels")
        if channels:
            batch = {"images": batch["images"][..., :channels]}
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
        "planned_epochs": training_info.get("planned_epochs"),
        "stopped_by": training_info.get("stopped_by"),
        "seconds": training_info["seconds"],
        "examples_per_second": training_info["examples_per_second"],
    }


def source_state():
    """`{"commit": hash, "dirty": bool}` of the checkout that ran (None outside git)."""
    import subprocess

    def git(*arguments):
        return subprocess.run(
            ["git", *arguments], cwd=HERE.parent, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        # Only tracked files count: scratch outputs do not change the code that ran.
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def output_folder(output=None, full=False, quick=False):
    """Where a run writes: benchmarks/ (or benchmarks/full), or a scratch folder for --quick.

    A quick run's numbers mean nothing, so it never writes over the committed results.

    Raises:
        SystemExit: `--quick` with `--output` pointing at the committed results.
    """
    committed = {HERE.resolve(), (HERE / "full").resolve()}
    if quick:
        if output is None:
            return Path(tempfile.mkdtemp(prefix="dlapps-bench-quick-"))
        if Path(output).resolve() in committed:
            raise SystemExit(
                "error: --quick numbers are meaningless: give --output a scratch folder, "
                "not the committed benchmarks/"
            )
        return Path(output)
    return Path(output or (HERE / "full" if full else HERE))


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
        quality = f"WER {stt['wer']:.3f}, CER {stt['cer']:.3f}"
        if "lm_wer" in stt:
            quality += f" greedy; WER {stt['lm_wer']:.3f} with the language model"
        rows.append(("speech_stt", quality, stt, files))
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
        real = results["translation"].get("real_text")
        if real:
            served = real.get("saved_model_all_test") or real
            quality = (
                f"BLEU {served['bleu']:.2f}, chrF {served['chrf']:.1f} on "
                f"{real['data']['test_sources']} unseen real sentences"
                + (" (the exported SavedModel)" if "saved_model_all_test" in real else "")
            )
            rows.append(("translation (real pairs)", quality, real, []))
    if "game" in results:
        run = results["game"]["runs"][0]
        files = [
            {
                "format": name,
                **f,
                "quality": f"return {f['mean_return']:.1f}",
                "parity": f"{f['action_agreement']:.1%} same actions",
            }
            for name, f in run["files"].items()
        ]
        quality = f"return {run['mean_return']:.1f} over {run['evaluation_episodes']} episodes"
        # Its examples are environment steps, collection and updates together.
        run = {**run, "examples_per_second": run["overall_env_steps_per_second"]}
        rows.append((f"game ({run['agent']}, {run['environment']})", quality, run, files))
    if "summarization" in results:
        model = results["summarization"]["models"]["extractive"]
        files = [
            {
                **f,
                "quality": f"ROUGE-L {f['rougeL']:.3f}",
                "parity": f"{f['identical_to_keras']:.0%} identical",
            }
            for f in model["files"]
        ]
        quality = (
            f"ROUGE-L {model['extractive_rougeL']:.3f} (Lead-{model['lead_n']} "
            f"{model['lead_n_rougeL']:.3f})"
        )
        rows.append(("summarization", quality, model, files))
    if "detection" in results:
        detection = results["detection"]
        files = [
            {
                **f,
                "quality": f"mAP {f['map']:.3f}",
                "parity": f"{f['identical_detections']:.0%} identical",
            }
            for f in detection["files"]
        ]
        keras_metrics = detection["keras"]
        quality = f"mAP {keras_metrics['map']:.3f}, AP50 {keras_metrics['ap50']:.3f}"
        rows.append(("detection", quality, detection["training"], files))
    if "faces" in results:
        faces = results["faces"]
        files = [
            {
                **f,
                "quality": f"verification {f['verification_accuracy']:.3f}",
                "parity": f"cosine {f['mean_cosine']:.4f}",
            }
            for f in faces["files"]
        ]
        metrics = faces["metrics"]
        quality = (
            f"verification {metrics['verification_accuracy']:.3f}, TAR@FAR 1e-2 "
            f"{metrics['tar_at_far_1e-2']:.3f} on unseen people (eigenfaces "
            f"{metrics['eigenfaces_verification_accuracy']:.3f})"
        )
        rows.append(("faces", quality, faces, files))
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

    rows = [row for row in _app_rows(results) if row[3]]  # rows with exported files
    if not rows:  # e.g. only the leave-speakers-out runs, which export nothing
        return
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
        "vision_transfer": _vision_transfer_markdown,
        "gan": _gan_markdown,
        "speech_kws": _speech_markdown,
        "speech_kws_speakers": _speakers_markdown,
        "speech_stt": _speech_to_text_markdown,
        "translation": _translation_markdown,
        "summarization": _summarization_markdown,
        "multi_worker": _multi_worker_markdown,
        "game": _game_markdown,
        "game_atari": _game_markdown,
        "faces": _faces_markdown,
        "detection": _detection_markdown,
        "detection_folder": _detection_folder_markdown,
    }
    for app, section in sections.items():
        if app in results:
            lines += section(results[app])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _game_markdown(game):
    lines = []
    for run in game.get("runs", []) + ([game["lunar_lander"]] if "lunar_lander" in game else []):
        lines += [
            "",
            f"## game: {run['agent'].upper()} on {run['environment']}, default settings",
            "",
            f"Greedy policy on {run['evaluation_episodes']} seeded evaluation episodes "
            "(seeds training never used); baseline: a uniformly random policy on the same "
            f"episodes, {run['random_policy_mean_return']:.1f}.",
            "",
            f"Training: {run['seconds']:.0f} s ({run['stopped_by'] or 'all epochs'}), "
            f"{run['env_steps']} environment steps, {run['training_episodes']} episodes "
            f"({_episodes_to_goal(run)}); "
            f"collection {run['collection_env_steps_per_second']:.0f} env steps/s, "
            f"updates {run['update_env_steps_per_second']:.0f} env steps/s.",
            "",
            "| file | mean return | std | action agreement with Keras | KB | ms @ 1 |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| keras | {run['mean_return']:.1f} | {run['std_return']:.1f} | | | |",
        ]
        for name, f in run["files"].items():
            agreement = f["action_agreement"]
            lines.append(
                f"| {name} | {f['mean_return']:.1f} | {f['std_return']:.1f} "
                f"| {'' if agreement is None else f'{agreement:.3f}'} "
                f"| {f['bytes'] / 1024:.0f} | {f['latency_ms_batch_1']:.3f} |"
            )
    atari = game.get("atari") or game.get("pipeline") or game.get("run")
    if atari:
        lines += [
            "",
            f"## game: DQN on {atari['environment']} (Nature CNN, 4 stacked 84x84 frames)",
            "",
            f"{atari['env_steps'] * 4} frames in {atari['seconds']:.0f} s: collection "
            f"{atari['collection_env_steps_per_second'] * 4:.0f} frames/s, updates "
            f"{atari['update_env_steps_per_second'] * 4:.0f} frames/s, overall "
            f"{atari['overall_env_steps_per_second'] * 4:.0f} frames/s; greedy return "
            f"{atari['mean_return']:.1f} over {atari['evaluation_episodes']} seeded episodes "
            f"(random policy {atari['random_policy_mean_return']:.1f}); exported to "
            f"{len(atari['files'])} files.",
        ]
    return lines


def _episodes_to_goal(run):
    episodes = run.get("training_episodes_to_goal")
    if episodes is None:
        return "the sampling policy's last 100 training episodes never averaged the goal"
    return f"the last 100 training episodes averaged the goal after {episodes}"


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
    return lines + _mediapipe_markdown("vision", vision.get("mediapipe"))


def _vision_transfer_markdown(transfer):
    photos, int8, letters = transfer["photos"], transfer["int8"], transfer["letters"]
    lines = [
        "",
        "## vision: transfer learning from ImageNet (EfficientNet-Lite0, offline weights)",
        "",
        "ImageNet check, pretrained Lite0 on scikit-image's photographs (top-5 classes):",
        "",
        "| photo | Keras top-5 | int8 TFLite top-5 | right class in both |",
        "| --- | --- | --- | --- |",
    ]
    for name, row in transfer["imagenet_top5"].items():
        both = row["keras"]["right_in_top5"] and row["tflite_int8"]["right_in_top5"]
        lines.append(
            f"| {name} ({row['label']}) | {', '.join(row['keras']['top5'])} "
            f"| {', '.join(row['tflite_int8']['top5'])} | {'yes' if both else 'no'} |"
        )
    pretrained, scratch = photos["efficientnet_lite0"], photos["small_cnn"]
    lines += [
        "",
        f"Real photos: {photos['images']} training tiles of {photos['classes']} sample "
        "photographs (scikit-image, scikit-learn), one class per photograph; test: "
        f"{photos['split']}. Both models in the same run:",
        "",
        "| model | test accuracy | epochs | training s |",
        "| --- | --- | --- | --- |",
        f"| EfficientNet-Lite0, ImageNet weights, defaults ({pretrained['phases']} phases) "
        f"| {pretrained['accuracy']:.4f} | {pretrained['epochs']} | {pretrained['seconds']:.1f} |",
        f"| small CNN from scratch (`--backbone small_cnn`) | {scratch['accuracy']:.4f} "
        f"| {scratch['epochs']} | {scratch['seconds']:.1f} |",
        "",
        "Lite0's exported files, on the app's own test split of the training tiles:",
        "",
        "| format | size KB | accuracy | max abs diff | ms @ batch 1 | ms @ batch 32 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in transfer["files"]:
        lines.append(
            f"| {f['format']} | {f['bytes'] / 1024:.0f} | {f['accuracy']:.4f} "
            f"| {f['max_abs_diff']:.2e} | {f['latency_ms_batch_1']:.3f} "
            f"| {f['latency_ms_batch_32']:.3f} |"
        )
    published = int8["published"]
    if "latency" in int8:
        latency = int8["latency"]
        lines += [
            "",
            f"int8 against float32 TFLite on the {int8['test_images']} held-out tiles: accuracy "
            f"{int8['accuracy_int8']:.4f} against {int8['accuracy_float32']:.4f} "
            f"({int8['accuracy_minus_float32']:+.4f}; {int8['predictions_differing']} "
            f"predictions differ); latency at batch 1 x{latency['ratio_median']:.2f} (median of "
            f"{latency['rounds']} interleaved rounds, x{latency['ratio_min']:.2f} to "
            f"x{latency['ratio_max']:.2f})",
        ]
        head = int8["float_head"]
        lines[-1] += (
            f"; with the head ({', '.join(head['float_ops'])}) in float: accuracy "
            f"{head['accuracy']:.4f} ({head['predictions_differing']} predictions differ from "
            f"float32), latency x{head['latency_ratio_batch_1']:.2f}"
        )
    else:
        lines += [
            "",
            f"int8 against float32 TFLite: accuracy {int8['accuracy_minus_float32']:+.4f}, "
            f"latency at batch 1 x{int8['latency_ratio_batch_1']:.2f}",
        ]
    lines[-1] += (
        f", {int8['megabytes']:.2f} MB (CPU features: "
        f"{', '.join(int8['cpu_features']) or 'none found'}). Published for "
        f"EfficientNet-Lite0 ({published['source']}): {published['params_millions']} M "
        f"parameters, int8 {published['int8_cpu_latency_ms']} ms against float32 "
        f"{published['fp32_cpu_latency_ms']} ms on a {published['device']}."
    )
    lines += [
        "",
        f"Drawn letters A-E ({letters['images']} images, 40-120 px, PNG/JPEG/BMP, noisy "
        "coloured backgrounds), test accuracy on unseen images:",
        "",
        "| model and settings | test accuracy | epochs | training s |",
        "| --- | --- | --- | --- |",
    ]
    for name, run in letters["runs"].items():
        lines.append(
            f"| {name.replace('_', ' ')} | {run['accuracy']:.4f} | {run['epochs']} "
            f"| {run['seconds']:.1f} |"
        )
    return lines


def _gan_markdown(gan):
    lines = [
        "",
        "## gan: built-in digits at 16x16, default settings (120 s training budget)",
        "",
        "FID: Fréchet distance on the penultimate features of a vision classifier trained on",
        "its own run's training digits, 1000 samples vs the real test images; floor: as many",
        "real training images vs the same test images (FID's bias depends on the sample sizes).",
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
    def pair(prefix):
        text = (
            f"{stt[prefix + 'wer']:.3f} / {stt[prefix + 'cer']:.3f} "
            f"(beam: {stt[prefix + 'beam_wer']:.3f} / {stt[prefix + 'beam_cer']:.3f}"
        )
        if prefix + "lm_wer" in stt:
            text += f"; LM: {stt[prefix + 'lm_wer']:.3f} / {stt[prefix + 'lm_cer']:.3f}"
        return text + ")"

    lines = [
        "",
        "## speech_stt: open-vocabulary synthetic sentences, unseen voices, default settings",
        "",
        f"Measured {stt.get('date', '')} ({stt.get('seconds_total', 0):.0f} s), seed "
        f"{stt['seed']}: {stt['epochs']} epochs in {stt['seconds']:.0f} s of training. Keras "
        "model, WER / CER, greedy CTC (and beam search"
        + (
            "; LM: beam search with the word trigram language model of the training text, "
            f"alpha {stt['lm_alpha']}, beta {stt['lm_beta']} chosen on validation, "
            f"{stt['lm_ms_per_clip']:.0f} ms per clip"
            if "lm_alpha" in stt
            else ""
        )
        + "), every split spoken by voices held out from training:",
        "",
        "| test split | WER / CER |",
        "| --- | --- |",
    ]
    if "beam_wer" in stt:
        lines += [
            f"| unseen sentences (training words) | {pair('')} |",
            f"| number phrases never seen | {pair('numbers_')} |",
            f"| sentences with words never seen | {pair('new_words_')} |",
        ]
    else:  # results from before the held-out splits
        lines.append(f"| held-out voices, seen grammar | {stt['wer']:.3f} / {stt['cer']:.3f} |")
    lines += [
        "",
        "Exported files on the unseen-sentence clips up to 3 s (TFLite files take 3 s):",
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
    examples = stt["examples"]
    if isinstance(examples, dict):
        for name, rows in examples.items():
            lm = all("lm" in e for e in rows)
            lines += ["", f"Examples, {name} (reference -> greedy | beam{' | LM' * lm}):", ""]
            lines += [
                f"- {e['reference']} -> {e['greedy']} | {e['beam']}"
                + (f" | {e['lm']}" if lm else "")
                for e in rows
            ]
    else:
        lines += ["", "Test examples (reference -> greedy CTC transcript):", ""]
        lines += [f"- {e['reference']} -> {e['hypothesis']}" for e in examples]
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


def _summarization_markdown(summarization):
    models = summarization["models"]
    first = next(iter(models.values()))
    lines = [
        "",
        "## summarization: built-in reports, default settings",
        "",
        f"Measured {summarization.get('date', '')} "
        f"({summarization.get('seconds_total', 0):.0f} s), seed {summarization['seed']}. "
        "ROUGE F1 (rouge-score, stemming) on unseen test articles; Lead-N takes the first N "
        f"sentences, N chosen on validation (N = {first['lead_n']}).",
        "",
        "| model | ROUGE-1 | ROUGE-2 | ROUGE-L | epochs (planned) | training s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in models.items():
        lines.append(
            f"| {name} | {m[name + '_rouge1']:.4f} | {m[name + '_rouge2']:.4f} "
            f"| {m[name + '_rougeL']:.4f} | {m['epochs']} ({m.get('planned_epochs')}) "
            f"| {m['seconds']:.0f} |"
        )
    for name in ("lead_n", "lead3"):
        label = {"lead_n": f"Lead-{first['lead_n']}", "lead3": "Lead-3"}[name]
        lines.append(
            f"| {label} | {first[name + '_rouge1']:.4f} | {first[name + '_rouge2']:.4f} "
            f"| {first[name + '_rougeL']:.4f} | - | - |"
        )
    for name, m in models.items():
        lines += [
            "",
            f"{name}: exported files (summaries identical to the Keras model's, latency per "
            "call at batch 1 and 32 articles)",
            "",
            "| format | size KB | ROUGE-L | identical to Keras (articles) | ms @ batch 1 "
            "| ms @ batch 32 |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for f in m["files"]:
            compared = f" ({f['documents_compared']})" if f.get("documents_compared") else ""
            lines.append(
                f"| {f['format']} | {f['bytes'] / 1024:.0f} | {f['rougeL']:.4f} "
                f"| {f['identical_to_keras']:.4f}{compared} | {f['latency_ms_batch_1']:.2f} "
                f"| {f['latency_ms_batch_32']:.2f} |"
            )
    real = summarization.get("real")
    if real:
        lines += [
            "",
            f"Real text, not news: {real['pages']} manual pages of this machine, DESCRIPTION as "
            "the article and the NAME line as its summary (`benchmarks/manpage_articles.py`), "
            "`dlapps train summarization --data DIR` with the defaults "
            f"({real['epochs']} of {real['planned_epochs']} planned epochs, "
            f"{real['seconds']:.0f} s; {real['data']['test']} unseen test pages; "
            f"{real['selection']}).",
            "",
            "| model | ROUGE-1 | ROUGE-2 | ROUGE-L |",
            "| --- | --- | --- | --- |",
            f"| extractive (exported rule) | {real['extractive_rouge1']:.4f} "
            f"| {real['extractive_rouge2']:.4f} | {real['rougeL']:.4f} |",
            f"| Lead-{real['lead_n']} | {real['lead_n_rouge1']:.4f} | {real['lead_n_rouge2']:.4f} "
            f"| {real['lead_n_rougeL']:.4f} |",
            f"| Lead-3 | {real['lead3_rouge1']:.4f} | {real['lead3_rouge2']:.4f} "
            f"| {real['lead3_rougeL']:.4f} |",
        ]
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
    ]
    served = real.get("saved_model_all_test")
    if served:
        lines.append(
            f"| the exported SavedModel's `serving_default`, strings in and out, all "
            f"{served['sentences']} test sentences | {served['bleu']:.2f} | {served['chrf']:.2f} "
            f"| {served['exact_match']:.4f} |"
        )
    lines += [
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
    cpu_ratio = throughput.get("cpu_per_step_ratio")
    lines += [
        "",
        f"Steps/s {throughput['steps_per_second_ratio']:.1f}x, tokens/s "
        f"{throughput['tokens_per_second_ratio']:.1f}x the pipeline before"
        + (f"; CPU time per step (work, both cores) {cpu_ratio:.1f}x less." if cpu_ratio else "."),
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
    return lines + _mediapipe_markdown("speech_kws", speech.get("mediapipe"))


def _mediapipe_markdown(app, mediapipe):
    """MediaPipe Tasks against LiteRT on the test split, when the run measured it."""
    if not mediapipe:
        return []
    if "skipped" in mediapipe:
        return ["", f"MediaPipe Tasks: not measured ({mediapipe['skipped']})."]
    lines = [
        "",
        f"## {app}: the TFLite files in MediaPipe Tasks' {mediapipe['api']} (test split)",
        "",
        "| format | top-1 agreement with LiteRT | max score diff | labels = labels.txt "
        "| metadata bytes | % of file |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in mediapipe["files"]:
        lines.append(
            f"| {f['format']} | {f['top1_agreement']:.4f} ({f['examples']} examples) "
            f"| {f['max_score_diff']:.1e} | {f['labels_match']} | {f['metadata_bytes']} "
            f"| {100 * f['metadata_fraction']:.2f} |"
        )
    lines += ["", "The metadata's cost on LiteRT, against the same file converted without it:", ""]
    for f in mediapipe["files"]:
        if "latency_ratio_with/without_metadata" in f:
            lines.append(
                f"- {f['format']}: outputs differ by {f['max_abs_diff_vs_without_metadata']:.1e}; "
                f"latency at batch 1 {f['latency_ms_batch_1_with_metadata']:.3f} ms with, "
                f"{f['latency_ms_batch_1_without_metadata']:.3f} ms without "
                f"(ratio {f['latency_ratio_with/without_metadata']:.2f})"
            )
    return lines


def _game_run(result):
    """One game run's numbers: the Keras policy, training, throughput and every file."""
    report = result.report
    evaluation = report["evaluation"]
    return {
        "environment": report["data"]["environment"],
        "agent": report["data"]["agent"],
        "evaluation_episodes": report["data"]["evaluation_episodes"],
        **result.metrics,
        **_timing(result),
        **{
            key: evaluation.get(key)
            for key in (
                "env_steps",
                "training_episodes",
                "training_episodes_to_goal",
                "collection_seconds",
                "update_seconds",
                "collection_env_steps_per_second",
                "update_env_steps_per_second",
                "overall_env_steps_per_second",
                "random_policy_std_return",
            )
        },
        "files": {
            e["format"]: {
                "bytes": e["bytes"],
                "mean_return": e["metrics"]["mean_return"],
                "std_return": e["metrics"]["std_return"],
                "action_agreement": e.get("action_agreement"),
                "latency_ms_batch_1": e["latency_ms"],
                "latency_ms_batch_32": e["latency_ms_batch_32"],
            }
            for e in report["exports"]
        },
    }


def bench_game(workdir, settings):
    """PPO on CartPole-v1 with the defaults (100 seeded episodes per file), and the
    Atari DQN pipeline on a few thousand Pong frames; with --full, PPO on LunarLander-v3."""
    runs = []
    for seed in settings.seeds:
        print(f"game: PPO on CartPole-v1, seed {seed}", file=sys.stderr)
        result = _train(
            "game", workdir, seed=seed, time_budget=10 if settings.quick else None,
            options={"env": "CartPole-v1"},
        )  # fmt: skip
        if seed == settings.seeds[0]:
            _keep_figures(result.report, "game", settings.figures)
        runs.append({"seed": seed, **_game_run(result)})
    results = {"runs": runs, "atari": _game_atari_pipeline(workdir)}
    if settings.full:
        print("game: PPO on LunarLander-v3 (20 minutes)", file=sys.stderr)
        result = _train("game", workdir, options={"env": "LunarLander-v3", "agent": "ppo"})
        results["lunar_lander"] = _game_run(result)
    return results


def _game_atari_pipeline(workdir, frames=8000):
    """DQN's Atari path end to end on `frames` Pong frames: collection, fit, export.

    Its return means nothing at this length; it measures frames per second.
    """
    agent_steps = frames // 4  # AtariPreprocessing skips 4 frames per agent step
    result = _train(
        "game",
        workdir,
        epochs=agent_steps // 500,
        options={
            "env": "ALE/Pong-v5",
            "agent": "dqn",
            "buffer_size": 2000,
            "learning_starts": 500,
            "collect_steps": 500,
            "eval_episodes": 1,
        },
    )
    run = _game_run(result)
    run["frames"] = run["env_steps"] * 4
    for key in ("collection", "update", "overall"):
        run[f"{key}_frames_per_second"] = 4 * run[f"{key}_env_steps_per_second"]
    return run


def bench_game_atari(workdir, settings):
    """DQN on Pong: the real run on a GPU (10M frames, several hours); nothing without one.

    python benchmarks/run.py --apps game_atari --output /tmp/bench-atari   # on a GPU machine
    """
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        # bench_game already runs the few-thousand-frame pipeline on CPUs.
        print("game_atari: no GPU, nothing to run (see bench_game's atari)", file=sys.stderr)
        return {"gpu": False}
    result = _train(
        "game",
        workdir,
        epochs=2_500,  # 1000 agent steps (4000 frames) each: 10M frames
        time_budget=12 * 3600,
        options={"env": "ALE/Pong-v5", "agent": "dqn", "buffer_size": 100_000},
    )
    _keep_figures(result.report, "game_atari", settings.figures)
    return {"gpu": True, "run": _game_run(result)}


def bench_faces(workdir, settings):
    """Face recognition on generated people never seen in training, default settings.

    Verification (LFW protocol), TAR at FAR, ROC AUC and open-set
    identification of the embedder and of the eigenfaces baseline on the
    same pairs; every exported file's verification accuracy, cosine to the
    Keras embeddings, size and latency, timed side by side.
    """
    print("faces: generated identities, seed 0", file=sys.stderr)
    result = _train(
        "faces",
        workdir,
        seed=0,
        epochs=1 if settings.quick else None,
        data="generated:40x6" if settings.quick else None,
    )
    exported = result.report
    _keep_figures(exported, "faces", settings.figures)
    timed = benchmark.bench_version(exported["path"], (1, 32))
    latency = {row["format"]: row["latency_ms"] for row in timed["rows"]}
    files = [
        {
            "format": export["format"],
            "bytes": export["bytes"],
            "verification_accuracy": export["metrics"]["verification_accuracy"],
            "tar_at_far_1e-2": export["metrics"]["tar_at_far_1e-2"],
            "mean_cosine": export["mean_cosine"],
            "latency_ms_batch_1": latency[export["format"]][1],
            "latency_ms_batch_32": latency[export["format"]][32],
        }
        for export in exported["exports"]
    ]
    by_format = {f["format"]: f for f in files}
    keras_accuracy = result.metrics["verification_accuracy"]
    int8, float32 = by_format["tflite_int8"], by_format["tflite_float32"]
    timing = _timing(result)
    budget = get_application("faces").defaults["time_budget"]
    timing["seconds_per_epoch"] = timing["seconds"] / max(1, timing["epochs"])
    # Issue #13: the planned run should take about half the budget.
    timing["planned_seconds_over_budget"] = (
        timing["seconds_per_epoch"] * timing["planned_epochs"] / budget
    )
    return {
        "data": exported["data"],
        "metrics": result.metrics,
        "identification": exported["evaluation"]["identification"],
        "threshold_choice": _faces_threshold_choice(result),
        "eigenfaces": exported["evaluation"]["eigenfaces"],
        **timing,
        "time_budget": budget,
        "cpu_flags": _cpu_flags(),
        "mediapipe": _faces_mediapipe(exported, result.data.test[0][::8]),
        "files": files,
        "int8": {
            "verification_accuracy_minus_keras": int8["verification_accuracy"] - keras_accuracy,
            "bytes": int8["bytes"],
            "latency_ratio_batch_1": int8["latency_ms_batch_1"] / float32["latency_ms_batch_1"],
            "mean_cosine": int8["mean_cosine"],
        },
        "ratios": timed["ratios"],
    }


def _faces_threshold_choice(result):
    """Open-set identification on the test people at two thresholds set on validation people.

    The exported one (photo vs another person's template, FAR 1e-3) and the
    earlier choice (photo pairs, FAR 1e-3), measured on the same embeddings.
    """
    from dlapps import metrics as metrics_lib
    from dlapps.faces import faces_app
    from dlapps.faces.identification import open_set_identification

    embedder = result.model.get_layer("embedder")
    images, people = result.data.validation
    embeddings = faces_app._embed(embedder, images)
    first, second, same = metrics_lib.verification_pairs(people, faces_app.EVALUATION_PAIRS, seed=1)
    pair_similarities = np.sum(embeddings[first] * embeddings[second], axis=1)
    thresholds = {
        "template_far_1e-3": faces_app.validation_threshold(embedder, result.data),
        "photo_pair_far_1e-3": float(
            np.nextafter(metrics_lib.threshold_at_far(pair_similarities, same, 1e-3), 2)
        ),
    }
    test_images, test_people = result.data.test
    test_embeddings = faces_app._embed(embedder, test_images)
    choice = {}
    for name, threshold in thresholds.items():
        found, _ = open_set_identification(
            test_embeddings, test_people, threshold, faces_app.ENROL_PHOTOS
        )
        choice[name] = {"threshold": threshold, **found}
    return choice


def _cpu_flags():
    """The CPU's int8/bfloat16 vector extensions, as Linux names them."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":")[1].split() for line in text.splitlines() if "flags" in line), [])
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    return [flag for flag in wanted if flag in flags]


def _faces_mediapipe(exported, images):
    """Cosine of MediaPipe Tasks ImageEmbedder's embeddings to the LiteRT interpreter's."""
    from dlapps.export import TFLiteModel, mediapipe_metadata

    directory = Path(exported["path"])
    models = [directory / f"faces_{kind}.tflite" for kind in ("float32", "int8")]
    try:
        found = mediapipe_metadata.mediapipe_embeddings(models, images)
    except (mediapipe_metadata.MetadataUnavailable, RuntimeError, TimeoutError) as error:
        return {"error": str(error)}
    result = {"images": int(len(images))}
    for model, mediapipe in zip(models, found, strict=True):
        (litert,) = TFLiteModel(model).run_batched({"images": images}).values()
        cosine = np.sum(mediapipe * litert, axis=1) / (
            np.linalg.norm(mediapipe, axis=1) * np.linalg.norm(litert, axis=1)
        )
        result[model.name] = {"mean": float(cosine.mean()), "min": float(cosine.min())}
    return result


def _faces_markdown(faces):
    metrics, baseline = faces["metrics"], faces["eigenfaces"]
    lines = [
        "",
        "## faces: generated people never seen in training, default settings",
        "",
        f"{faces['data']['test_people']} test people ({faces['data']['test']} photos), "
        f"{faces['data']['train_people']} training people; {faces['seconds']:.0f} s training, "
        f"{faces['epochs']} epochs.",
        "",
        "| model | verification acc (10 folds) | TAR@FAR 1e-2 | TAR@FAR 1e-3 | ROC AUC | rank-1 |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| embedder (ArcFace) | {metrics['verification_accuracy']:.4f} | "
        f"{metrics['tar_at_far_1e-2']:.4f} | {metrics['tar_at_far_1e-3']:.4f} | "
        f"{metrics['roc_auc']:.4f} | {metrics['rank1']:.4f} |",
        f"| eigenfaces (PCA + cosine) | {baseline['verification_accuracy']:.4f} | "
        f"{baseline['tar_at_far_1e-2']:.4f} | {baseline['tar_at_far_1e-3']:.4f} | "
        f"{baseline['roc_auc']:.4f} | {baseline['rank1']:.4f} |",
        "",
        f"Open-set: impostor rejection {metrics['impostor_rejection']:.4f} at the validation "
        f"people's threshold {metrics['threshold']:.3f}.",
        "",
        "| file | size KB | verification acc | mean cosine to Keras | ms @ 1 | ms @ 32 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in faces["files"]:
        lines.append(
            f"| {f['format']} | {f['bytes'] / 1024:.0f} | {f['verification_accuracy']:.4f} | "
            f"{f['mean_cosine']:.4f} | {f['latency_ms_batch_1']:.2f} | "
            f"{f['latency_ms_batch_32']:.2f} |"
        )
    int8 = faces["int8"]
    lines += [
        "",
        f"int8 vs Keras: {int8['verification_accuracy_minus_keras']:+.4f} verification accuracy; "
        f"{int8['bytes'] / 1024:.0f} KB; {int8['latency_ratio_batch_1']:.2f}x float32 latency "
        "at batch 1.",
    ]
    return lines


def bench_detection(workdir, settings):
    """Detection on the built-in scenes with the default settings: COCO mAP of Keras and every
    exported file, identical detections, latency side by side, and a mean-box baseline."""
    from dlapps.vision import detection_metrics

    print("detection: built-in scenes, default settings", file=sys.stderr)
    result = _train("detection", workdir, epochs=1 if settings.quick else None)
    exported, data = result.report, result.data
    _keep_figures(exported, "detection", settings.figures)
    timed = benchmark.bench_version(exported["path"], (1, 32) if not settings.quick else (1,))
    latency = {row["format"]: row["latency_ms"] for row in timed["rows"]}
    from dlapps.export.tflite import op_names

    def custom_ops(export):  # Flex or custom ops in any subgraph of a .tflite file
        if not export["path"].endswith(".tflite"):
            return None
        ops = op_names((Path(exported["path"]) / export["path"]).read_bytes())
        assert "NON_MAX_SUPPRESSION_V4" in ops, export["path"]
        return sorted(op for op in ops if not op.isupper() or op == "CUSTOM")

    files = [
        {
            "format": export["format"],
            "bytes": export["bytes"],
            "custom_or_flex_ops": custom_ops(export),
            "map": export["metrics"]["map"],
            "ap50": export["metrics"]["ap50"],
            "identical_detections": export["identical_detections"],
            "latency_ms_batch_1": latency[export["format"]][1],
            "latency_ms_batch_32": latency[export["format"]].get(32, float("nan")),
        }
        for export in exported["exports"]
    ]
    # The whole detector on one 320x320 photo: the edge runner's own path (Pillow letterbox,
    # LiteRT invoke with in-graph decode + NMS, boxes mapped back), and the SavedModel's.
    from PIL import Image

    photo = Path(workdir) / "photo_320.png"
    Image.fromarray(data.test.images[0]).resize((320, 320)).save(photo)
    sys.path.insert(0, str(HERE.parent / "export" / "edge"))
    import detect as edge_detect

    whole = {}
    for variant in ("float32", "int8"):
        detector = edge_detect.load_detector(Path(exported["path"]) / f"detection_{variant}.tflite")
        # Per image, the model loaded once: decode the PNG, letterbox, invoke, map boxes back.
        whole[f"edge_{variant}"] = benchmark.median_latency_ms(
            lambda d=detector: edge_detect.detect_image(d, photo)
        )
    signature = tf.saved_model.load(exported["path"]).signatures["serving_default"]
    pixels = tf.constant(np.asarray(Image.open(photo).convert("RGB"))[None])
    whole["saved_model"] = benchmark.median_latency_ms(lambda: signature(images=pixels))
    # Baseline: every class's mean training box (relative to the image), on every test image.
    baseline = _mean_box_baseline(data, detection_metrics)
    keras_metrics = result.metrics
    by_format = {f["format"]: f for f in files}
    return {
        "keras": {**keras_metrics, "per_class_ap": exported["evaluation"]["per_class_ap"]},
        "data": data.summary(),
        "baseline_mean_box": baseline,
        "training": _timing(result),
        "files": files,
        "mediapipe": _detection_mediapipe(exported, data),
        "whole_detector_ms_320": whole,
        "ratios": {
            **timed["ratios"],
            # Same export thresholds on both sides: the SavedModel runs the Keras model's graph.
            "int8_map_minus_keras_points": 100
            * (by_format["tflite_int8"]["map"] - by_format["saved_model"]["map"]),
        },
    }


def bench_detection_folder(workdir, settings):
    """Detection on a one-class Pascal VOC folder (200 scenes, only the letter A labelled, the
    other objects left as look-alike clutter) through `--data DIR` and the folder defaults."""
    from dlapps.vision.detection_scenes import write_voc_folder

    folder = write_voc_folder(Path(workdir) / "voc_a", count=200, seed=7, keep_classes=("A",))
    print("detection: one-class VOC folder, folder defaults", file=sys.stderr)
    result = _train(
        "detection",
        workdir,
        data=str(folder),
        epochs=1 if settings.quick else None,
        workdir=f"{workdir}/runs_folder",
        export=False,
        # Shorter than the default 800 s budget: one heavy run shared by the machine's helpers.
        time_budget=60 if settings.quick else 300,
    )
    return {
        "keras": result.metrics,
        "data": result.data.summary(),
        "training": _timing(result),
        "model": "efficientnet_lite0 (ImageNet), two phases",
    }


def _detection_folder_markdown(folder):
    keras_metrics, training_info = folder["keras"], folder["training"]
    return [
        "",
        "## detection: one-class Pascal VOC folder (200 generated images, held-out test images)",
        "",
        f"`--data DIR` with the folder defaults ({folder['model']}) and a 300 s time budget: "
        f"mAP@[.5:.95] {keras_metrics['map']:.3f}, AP50 {keras_metrics['ap50']:.3f}; trained "
        f"{training_info['seconds']:.0f} s, {training_info['epochs']} epochs "
        f"(stopped by {training_info['stopped_by'] or 'the epoch count'}).",
    ]


def _detection_mediapipe(exported, data):
    """MediaPipe Tasks ObjectDetector vs the LiteRT interpreter on every TFLite file, test split:
    same count, labels, IoU of the boxes (MediaPipe's whole pixels), score difference."""
    from dlapps.export import TFLiteModel, mediapipe_metadata
    from dlapps.vision import detection_metrics

    report = exported.get("mediapipe", {})
    if not report.get("written"):
        return {"skipped": report.get("reason", "no metadata written")}
    directory = Path(exported["path"])
    entries = [e for e in exported["exports"] if e["path"].endswith(".tflite")]
    models = [directory / e["path"] for e in entries]
    images = data.test.images
    try:
        found = mediapipe_metadata.mediapipe_detections(models, images)
    except (mediapipe_metadata.MetadataUnavailable, RuntimeError, TimeoutError) as error:
        return {"skipped": str(error)}
    files = []
    for entry, model, mediapipe in zip(entries, models, found, strict=True):
        litert = TFLiteModel(model)({"images": images})
        agreement = detection_metrics.mediapipe_agreement(
            mediapipe, litert, data.image_size, data.labels
        )
        files.append(
            {
                "format": entry["format"],
                **agreement,
                "metadata_bytes": entry.get("metadata_bytes"),
                "metadata_fraction": entry.get("metadata_bytes", 0) / entry["bytes"],
            }
        )
    return {"api": report["api"], "files": files}


def _mean_box_baseline(data, detection_metrics):
    """COCO mAP of a detector that puts each class's mean training box on every image."""
    count = data.test.count
    labels = data.labels
    boxes = np.zeros((count, len(labels), 4), "float32")
    for label in range(len(labels)):
        mask = data.train.classes == label
        if mask.any():
            boxes[:, label] = data.train.boxes[mask].mean(axis=0)
    detections = {
        "boxes": boxes,
        "classes": np.tile(np.arange(len(labels), dtype="float32"), (count, 1)),
        "scores": np.ones((count, len(labels)), "float32"),
        "num_detections": np.full(count, len(labels), "float32"),
    }
    metrics, _, _ = detection_metrics.coco_evaluate(data.test, detections, labels)
    return metrics


def _detection_markdown(detection):
    keras_metrics, training_info = detection["keras"], detection["training"]
    lines = [
        "",
        "## detection: built-in scenes (held-out test scenes), default settings",
        "",
        f"Keras: mAP@[.5:.95] {keras_metrics['map']:.3f}, AP50 {keras_metrics['ap50']:.3f} "
        f"(mean-box baseline: mAP {detection['baseline_mean_box']['map']:.3f}, "
        f"AP50 {detection['baseline_mean_box']['ap50']:.3f}); trained "
        f"{training_info['seconds']:.0f} s, {training_info['epochs']} epochs "
        f"(stopped by {training_info['stopped_by'] or 'the epoch count'}).",
        "",
        "Keras is scored with COCO's protocol (scores down to 0.05, up to 100 boxes); the "
        "exported files with the export's own --score-threshold (0.25), as a user gets them.",
        "",
        "| file | size KB | mAP | AP50 | identical detections | ms @ 1 | ms @ 32 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in detection["files"]:
        lines.append(
            f"| {f['format']} | {f['bytes'] / 1024:.0f} | {f['map']:.3f} | {f['ap50']:.3f} "
            f"| {f['identical_detections']:.1%} | {f['latency_ms_batch_1']:.2f} "
            f"| {f['latency_ms_batch_32']:.2f} |"
        )
    whole = detection["whole_detector_ms_320"]
    lines += [
        "",
        "Whole detector on one 320x320 image (letterbox, network, decode, NMS, boxes mapped "
        "back): " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in whole.items()) + ".",
        "",
        "Ratios: "
        + ", ".join(f"{name} {value:.2f}" for name, value in detection["ratios"].items())
        + ".",
        "",
        "Per-class AP@[.5:.95] (Keras): "
        + ", ".join(f"{k} {v:.3f}" for k, v in keras_metrics["per_class_ap"].items())
        + ".",
    ]
    mediapipe = detection.get("mediapipe")
    if mediapipe and "files" in mediapipe:
        lines += [
            "",
            "MediaPipe Tasks ObjectDetector vs LiteRT on the same files (test scenes; boxes in "
            "MediaPipe's whole pixels): "
            + "; ".join(
                f"{f['format']}: same count {f['same_count']:.1%}, same labels "
                f"{f['same_labels']:.1%}, min IoU {f['min_iou']:.3f}, metadata "
                f"{f['metadata_fraction']:.2%} of the file"
                for f in mediapipe["files"]
            )
            + ".",
        ]
    elif mediapipe:
        lines += ["", f"MediaPipe Tasks ObjectDetector: not measured ({mediapipe['skipped']})."]
    return lines


BENCHES = {
    "vision": bench_vision,
    "vision_transfer": bench_vision_transfer,
    "gan": bench_gan,
    "speech_kws": bench_speech,
    "speech_kws_speakers": bench_speech_speakers,
    "speech_stt": bench_speech_to_text,
    "translation": bench_translation,
    "summarization": bench_summarization,
    "multi_worker": bench_multi_worker,
    "game": bench_game,
    "game_atari": bench_game_atari,
    "faces": bench_faces,
    "detection": bench_detection,
    "detection_folder": bench_detection_folder,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--full", action="store_true", help="seeds 0-2 and the baselines, into benchmarks/full"
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 0, or 0 1 2 with --full")
    parser.add_argument("--output", help="default: benchmarks/, or benchmarks/full with --full")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run with tiny settings (numbers meaningless), into a scratch folder",
    )
    parser.add_argument(
        "--photo-tiles",
        type=int,
        default=20,
        help="vision_transfer: training tiles of each sample photograph (10-30; default 20)",
    )
    parser.add_argument(
        "--photo-test-tiles",
        type=int,
        default=30,
        help="vision_transfer: held-out tiles of each sample photograph (default 30)",
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
    output = output_folder(args.output, args.full, args.quick)
    output.mkdir(parents=True, exist_ok=True)
    print(f"writing to {output}", file=sys.stderr)
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
            state = source_state()  # before the run: the code that ran
            results[app] = BENCHES[app](workdir, args)
            results[app].update(state)
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
