"""The `dlapps` command: train, evaluate, export, predict, bench and demo.

Progress goes to stderr, results to stdout. Every mistake a user can make
ends in one line `error: ...` and a non-zero exit; `--debug` shows the
traceback.
"""

import argparse
import contextlib
import json
import os
import sys
import warnings
from pathlib import Path

from dlapps.errors import UserError

EXAMPLES = {
    "train": """examples:
  dlapps train vision                               # built-in digits
  dlapps train vision --data photos/                # a sub-folder per class; ImageNet Lite0
  dlapps train vision --data photos/ --backbone small_cnn --weights none   # from scratch
  dlapps train vision --data tfds:mnist --backbone mobilenet_v2 --width-multiplier 0.5
  dlapps train vision --optimizer sgd --momentum 0.9 --nesterov --schedule step
  dlapps train gan --gan wgan_gp --time-budget 300
  dlapps train speech_kws --data speech_commands/   # one sub-folder of WAVs per word
  dlapps train translation --source-lang en --target-lang fr
  dlapps train translation --data pairs.tsv --model gru   # source<TAB>target lines""",
    "evaluate": """example:
  dlapps evaluate vision runs/vision/best.keras --data photos/""",
    "export": """example:
  dlapps export vision runs/vision/best.keras --data photos/   # a new saved_models/vision/N""",
    "predict": """examples:
  dlapps predict saved_models/vision/1 cat.png dog.jpg
  dlapps predict saved_models/vision/1/vision_int8.tflite cat.png
  dlapps predict saved_models/gan/1 --num 64 --label 3 --out threes.png
  dlapps predict saved_models/translation/1 "twenty-one" 'Monday, May 4, 2026'""",
    "bench": """example:
  dlapps bench saved_models/vision/1 --batch-sizes 1 32""",
    "demo": """example:
  dlapps demo          # trains every app on its built-in data and exports it""",
    "launch": """examples:
  dlapps launch --workers 2 train vision    # 2 local workers, MultiWorkerMirroredStrategy
  dlapps launch --workers 2 --timeout 600 train vision --epochs 5
On real hosts, run `dlapps train ... --strategy multi_worker` on each with its TF_CONFIG.""",
}


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None


def _positive_int(text):
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text):
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _positive_float(text):
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text):
    value = _number(text, float)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _add_training_arguments(parser):
    group = parser.add_argument_group("training (defaults suit each app)")
    group.add_argument("--data", help="app-specific data source (see the app's --help)")
    group.add_argument("--epochs", type=_positive_int)
    group.add_argument("--batch-size", type=_positive_int, help="per replica")
    group.add_argument("--optimizer", help="adam, adamw, rmsprop or sgd")
    group.add_argument("--learning-rate", type=_positive_float)
    group.add_argument("--schedule", help="constant, cosine (with warmup) or step")
    group.add_argument("--warmup-epochs", type=_non_negative_float)
    group.add_argument("--weight-decay", type=_non_negative_float)
    group.add_argument("--momentum", type=float, help="sgd and rmsprop")
    group.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd)")
    group.add_argument("--clipnorm", type=_positive_float, help="clip each gradient's norm")
    group.add_argument(
        "--strategy", default="auto", help="auto, default, mirrored, multi_worker, tpu"
    )
    group.add_argument(
        "--precision",
        default="float32",
        help="float32, mixed_float16 (GPU) or mixed_bfloat16 (TPU, recent CPUs/GPUs)",
    )
    group.add_argument(
        "--jit-compile",
        default="auto",
        help="XLA: auto (on for GPU/TPU, off on CPU), on or off",
    )
    group.add_argument("--time-budget", type=_positive_float, help="stop cleanly after SECONDS")
    group.add_argument(
        "--patience", type=_non_negative_int, help="early-stopping patience in epochs (0: none)"
    )
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--output", default="saved_models", help="where versions are exported")
    _add_tflite_argument(group)
    group.add_argument("--workdir", default="runs", help="checkpoints, logs, resume backup")
    group.add_argument(
        "--restart",
        action="store_true",
        help="start over instead of resuming an interrupted run",
    )


def _app_subparsers(parser, command, add_training=True):
    from dlapps.application import application_names, get_application

    subparsers = parser.add_subparsers(dest="app", required=True, metavar="APP")
    for name in application_names():
        application = get_application(name)
        app_parser = subparsers.add_parser(
            name,
            help=application.description,
            epilog=EXAMPLES[command],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_common(app_parser)
        if command in ("evaluate", "export"):
            app_parser.add_argument(
                "model_path",
                metavar="model",
                help="a trained .keras file (e.g. runs/vision/best.keras)",
            )
        if add_training:
            _add_training_arguments(app_parser)
        else:
            app_parser.add_argument(
                "--data", help="the data the model was trained on (default: the run's)"
            )
            app_parser.add_argument(
                "--seed", type=int, help="seed of the data split (default: the run's)"
            )
            app_parser.add_argument("--output", default="saved_models")
            _add_tflite_argument(app_parser)
        application.add_arguments(app_parser)


def _add_tflite_argument(parser):
    parser.add_argument(
        "--tflite",
        nargs="*",
        metavar="FORMAT",
        help="only these TFLite files: tflite_float32, tflite_float16, tflite_dynamic, "
        "tflite_int8, and tflite_strings for translation and summarization (none after the "
        "flag: no TFLite file; default: every format the app offers)",
    )


def _add_common(parser):
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser():
    """The argparse parser of the `dlapps` command."""
    parser = argparse.ArgumentParser(
        prog="dlapps",
        description="Train Keras applications with model.fit and export them to "
        "SavedModel (TF Serving) and TFLite (phones, boards).",
        epilog="Run `dlapps COMMAND --help` for each command's options and examples.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text):
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub

    _app_subparsers(command("train", "train an app, evaluate it and export a new version"), "train")
    _app_subparsers(
        command("evaluate", "measure a trained .keras model on the test split"),
        "evaluate",
        add_training=False,
    )
    _app_subparsers(
        command("export", "export a trained .keras model as a new version"),
        "export",
        add_training=False,
    )

    predict = command("predict", "run an exported SavedModel directory or .tflite file")
    _add_common(predict)
    predict.add_argument("model", help="saved_models/APP/VERSION or a .tflite file")
    predict.add_argument(
        "inputs", nargs="*", help="files to run the model on (vision: images; speech_kws: WAVs)"
    )
    predict.add_argument(
        "--top-k", type=_positive_int, default=3, help="labels shown (vision, speech_kws)"
    )
    predict.add_argument("--num", type=_positive_int, default=64, help="gan: images to generate")
    predict.add_argument("--label", type=int, help="gan: class to generate (conditional)")
    predict.add_argument("--seed", type=int, default=0, help="gan: noise seed")
    predict.add_argument("--out", help="gan: PNG grid to write (default: samples.png)")
    from dlapps.application import application_names, get_application

    for app_name in application_names():
        get_application(app_name).add_predict_arguments(predict)

    bench = command("bench", "time every exported file of a version at several batch sizes")
    _add_common(bench)
    bench.add_argument("model", help="saved_models/APP/VERSION")
    bench.add_argument("--batch-sizes", type=_positive_int, nargs="+", default=[1, 32])
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")

    demo = command("demo", "train every app on its built-in data, export, summarise")
    _add_common(demo)
    demo.add_argument("--apps", nargs="+", help="only these apps")
    demo.add_argument("--output", default="saved_models")
    demo.add_argument("--workdir", default="runs")
    demo.add_argument("--epochs", type=_positive_int, help="override each app's default")

    _app_commands(commands)

    launch = command("launch", "run multi-worker training in N local processes (TF_CONFIG each)")
    _add_common(launch)
    launch.add_argument("--workers", type=_positive_int, default=2, help="worker processes")
    launch.add_argument(
        "--timeout", type=float, help="stop every worker after this many seconds (default: none)"
    )
    launch.add_argument(
        "train_command", nargs=argparse.REMAINDER, help="train APP [options], as for dlapps train"
    )
    return parser


def _app_commands(commands):
    """Adds each app's own commands (`AppCommand`) as `dlapps NAME MODEL ...`."""
    from dlapps.application import application_names, get_application

    APP_COMMANDS.clear()
    for app_name in application_names():
        for app_command in get_application(app_name).commands():
            if app_command.name in COMMANDS or app_command.name in APP_COMMANDS:
                raise RuntimeError(f"two commands are called {app_command.name!r}")
            sub = commands.add_parser(
                app_command.name,
                help=f"{app_name}: {app_command.help}",
                description=app_command.help,
                epilog=app_command.example,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            _add_common(sub)
            sub.add_argument("model", help=f"saved_models/{app_name}/VERSION or a file in one")
            app_command.add_arguments(sub)
            APP_COMMANDS[app_command.name] = app_name


def _run_app_command(args, out):
    """Runs an app's own command on the app that exported `args.model`."""
    from dlapps.application import get_application

    if not Path(args.model).exists():
        raise UserError(f"{args.model} does not exist: pass saved_models/APP/VERSION")
    owner = APP_COMMANDS[args.command]
    app_name = _resolve_app(args.model)
    if app_name != owner:
        raise UserError(
            f"{args.model} is a {app_name} model; `dlapps {args.command}` works with {owner} models"
        )
    for app_command in get_application(app_name).commands():
        if app_command.name == args.command:
            for line in app_command.run(args):
                print(line, file=out)


def _config_from_args(args):
    from dlapps.training import TrainConfig

    common = {
        "app",
        "data",
        "epochs",
        "batch_size",
        "optimizer",
        "learning_rate",
        "schedule",
        "warmup_epochs",
        "weight_decay",
        "momentum",
        "nesterov",
        "clipnorm",
        "strategy",
        "precision",
        "jit_compile",
        "output",
        "workdir",
        "time_budget",
        "patience",
        "restart",
        "seed",
        "tflite",
    }
    values = vars(args)
    config = {k: values[k] for k in common if k in values}
    options = {
        k: v for k, v in values.items() if k not in common | {"command", "debug", "model_path"}
    }
    return TrainConfig(**config, options=options)


def _resolve_app(model_path):
    """Which app exported `model_path`, from the report.json beside it."""
    path = Path(model_path)
    directory = path if path.is_dir() else path.parent
    report_path = directory / "report.json"
    if report_path.is_file():
        return json.loads(report_path.read_text(encoding="utf-8"))["app"]
    raise UserError(
        f"{model_path} is not an exported dlapps model (no report.json beside it): "
        "pass a version directory such as saved_models/vision/1 or a .tflite file in one"
    )


def _check_model_path(path):
    from dlapps.export.saved_model import is_saved_model
    from dlapps.export.tflite import is_tflite

    if not Path(path).exists():
        raise UserError(f"{path} does not exist: pass saved_models/APP/VERSION or a .tflite file")
    if not (is_saved_model(path) or is_tflite(path)):
        raise UserError(
            f"{path} is neither a SavedModel directory (with saved_model.pb) nor a "
            ".tflite file: pass saved_models/APP/VERSION or a .tflite file in one"
        )


def _train(args, out):
    from dlapps import report, training
    from dlapps.application import get_application

    application = get_application(args.app)
    with contextlib.redirect_stdout(sys.stderr):
        result = training.run(application, _config_from_args(args))
    if "worker" in result.report:  # a non-chief worker: the chief exports
        print(f"worker {result.report['worker']} finished; worker 0 exports", file=out)
    else:
        print(report.format_summary(result.report), file=out)
    return result.report


def _load_for_data(args):
    """The app, the user's trained .keras model and the data it was trained on.

    The run's `run.json` beside the model says which data, seed and app
    options made its split; flags that contradict it, or data that no longer
    gives the same split, are an error rather than an optimistic number.
    """
    import dataclasses

    from dlapps import runs
    from dlapps.application import get_application

    application = get_application(args.app)
    config = _config_from_args(args)
    stored = runs.read_fingerprint(Path(args.model_path).parent)
    if stored is not None and stored.get("app") not in (None, application.name):
        raise UserError(f"{args.model_path} is a {stored['app']} model, not {application.name}")
    if stored is not None:
        given = {"data": config.data, "seed": config.seed}
        for key, value in given.items():
            if value is not None and value != stored.get(key):
                raise UserError(
                    f"{args.model_path} was trained on other data ({key} {stored.get(key)}, "
                    f"not --{key} {value}): leave --{key} out to use the run's"
                )
        config = dataclasses.replace(
            config,
            data=stored.get("data"),
            seed=stored.get("seed", 0),
            options={**config.options, **stored.get("options", {})},
        )
    else:
        print(
            f"warning: no {runs.FINGERPRINT_FILE} beside {args.model_path}: the split is rebuilt "
            "from --data and --seed and cannot be checked",
            file=sys.stderr,
        )
        config = dataclasses.replace(config, seed=config.seed or 0)
    config = config.with_defaults(application.defaults)
    with contextlib.redirect_stdout(sys.stderr):
        model = application.load_model(args.model_path)
        data = application.load_data(config)
    if stored is not None:
        current = runs.run_fingerprint(application, config, data)
        runs.check_same_run({**stored, "optimizer": current["optimizer"]}, current, args.model_path)
    return application, model, data, config


def _evaluate(args, out):
    import tempfile

    application, model, data, _ = _load_for_data(args)
    with tempfile.TemporaryDirectory() as figures:
        metrics, _, _ = application.evaluate(model, data, figures)
    for name, value in metrics.items():
        print(f"{name}: {value:.4f}", file=out)


def _export(args, out):
    import tempfile

    from dlapps import report
    from dlapps.export import export_model, exporter

    exporter.check_tflite_formats(args.tflite)
    application, model, data, config = _load_for_data(args)
    with (
        tempfile.TemporaryDirectory() as figures_dir,
        contextlib.redirect_stdout(sys.stderr),
    ):
        metrics, details, figures = application.evaluate(model, data, figures_dir)
        spec = exporter.with_tflite_formats(application.export_spec(model, data), args.tflite)
        exported = export_model(
            spec,
            config.output,
            metrics,
            {
                "data": data.summary(),
                "evaluation": details,
                "source_model": str(args.model_path),
            },
            figures,
        )
    print(report.format_summary(exported), file=out)


def _predict(args, out):
    from dlapps.application import get_application

    _check_model_path(args.model)
    application = get_application(_resolve_app(args.model))
    options = {
        k: v for k, v in vars(args).items() if k not in ("command", "debug", "model", "inputs")
    }
    for line in application.predict(args.model, args.inputs, options):
        print(line, file=out)


def _bench(args, out):
    from dlapps.export import benchmark

    _check_model_path(args.model)
    with contextlib.redirect_stdout(sys.stderr):
        result = benchmark.bench_version(args.model, tuple(args.batch_sizes))
    print(
        json.dumps(result, indent=2) if args.json else benchmark.format_bench(result),
        file=out,
    )


def _demo(args, out):
    from dlapps import report, training
    from dlapps.application import application_names, get_application

    names = args.apps or application_names()
    summaries = []
    for name in names:
        application = get_application(name)
        print(f"== {name}: training on built-in data ==", file=sys.stderr)
        config = training.TrainConfig(
            app=name,
            output=args.output,
            workdir=args.workdir,
            epochs=args.epochs,
            verbose=2,
        )
        with contextlib.redirect_stdout(sys.stderr):
            result = training.run(application, config)
        summaries.append(report.format_summary(result.report))
    print("\n\n".join(summaries), file=out)


def _launch(args, out):
    from dlapps import launch

    if not args.train_command or args.train_command[0] != "train":
        raise UserError("give the training command after the options: dlapps launch train APP ...")
    launch.launch(args.train_command[1:], workers=args.workers, timeout=args.timeout)
    print(f"{args.workers} workers finished", file=out)


COMMANDS = {
    "train": _train,
    "evaluate": _evaluate,
    "export": _export,
    "predict": _predict,
    "bench": _bench,
    "demo": _demo,
    "launch": _launch,
}

# Filled by build_parser from each app's `commands()`: command name -> app name.
APP_COMMANDS = {}


def _quiet_tensorflow():
    """Silences TensorFlow's C++ start-up logs (e.g. `failed call to cuInit` without a GPU).

    Must run before TensorFlow is first imported; a user's own settings win.
    """
    # Without an NVIDIA device CUDA's probe can only fail, and it logs that at
    # ERROR level (2); level 3 keeps only fatal messages then.
    has_nvidia_device = any(Path("/dev").glob("nvidia*"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if has_nvidia_device else "3")
    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")


def main(argv=None):
    """Entry point of the `dlapps` console script; returns the exit status."""
    _quiet_tensorflow()

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        # Parsing is inside: app flag types and app imports may raise UserError too.
        args = build_parser().parse_args(argv)
        COMMANDS.get(args.command, _run_app_command)(args, sys.stdout)
    except UserError as error:
        if debug:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: run the same command again to resume training",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
