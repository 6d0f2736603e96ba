import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dlapps import cli

REPO = Path(__file__).resolve().parent.parent


def _run(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_one_line_error(status, err, *fragments):
    assert status != 0
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def _folder(root, classes, per_class=5):
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.new("L", (12, 12), index * 30).save(root / name / f"{index}.png")
    return root


def test_train_on_an_empty_folder_says_how_to_lay_it_out(capsys, tmp_path):
    (tmp_path / "data").mkdir()
    status, _, err = _run(
        capsys,
        "train",
        "vision",
        "--data",
        tmp_path / "data",
        "--workdir",
        tmp_path / "r",
    )
    _assert_one_line_error(
        status, err, "no class sub-folders", "one sub-folder of images per class"
    )


def test_train_on_one_class_asks_for_two(capsys, tmp_path):
    _folder(tmp_path / "data", ["cat"])
    status, _, err = _run(
        capsys,
        "train",
        "vision",
        "--data",
        tmp_path / "data",
        "--workdir",
        tmp_path / "r",
    )
    _assert_one_line_error(status, err, "only one class", "at least two")


def test_train_on_a_corrupt_image_names_the_file(capsys, tmp_path):
    _folder(tmp_path / "data", ["cat", "dog"])
    (tmp_path / "data" / "dog" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    status, _, err = _run(
        capsys,
        "train",
        "vision",
        "--data",
        tmp_path / "data",
        "--workdir",
        tmp_path / "r",
    )
    _assert_one_line_error(status, err, "bad.png", "could not decode")


def test_unknown_optimizer_lists_the_valid_ones(capsys, tmp_path):
    status, _, err = _run(capsys, "train", "vision", "--optimizer", "adma", "--workdir", tmp_path)
    _assert_one_line_error(status, err, "unknown optimizer 'adma'", "adam, adamw, rmsprop, sgd")


@pytest.mark.parametrize("kind", ["missing", "empty_dir", "text_file"])
def test_predict_on_something_that_is_not_a_model(capsys, tmp_path, kind):
    path = {
        "missing": tmp_path / "nope",
        "empty_dir": tmp_path,
        "text_file": tmp_path / "m.tflite",
    }[kind]
    if kind == "text_file":
        path.write_text("not a model")
    status, _, err = _run(capsys, "predict", path, "cat.png")
    _assert_one_line_error(status, err, str(path))


def test_predict_with_saved_model_and_int8_tflite_agree(capsys, trained_vision, tmp_path):
    version = Path(trained_vision.report["path"])
    images, labels = trained_vision.data.test
    files = []
    for index in range(3):
        files.append(tmp_path / f"digit{index}.png")
        Image.fromarray(images[index, :, :, 0]).resize((32, 32)).save(files[-1])
    status, saved_out, err = _run(capsys, "predict", version, *files)
    assert status == 0, err
    status, tflite_out, err = _run(
        capsys, "predict", version / "vision_int8.tflite", *files, "--top-k", "1"
    )
    assert status == 0, err
    saved_top = [line.split(": ")[1].split(" ")[0] for line in saved_out.splitlines()]
    tflite_top = [line.split(": ")[1].split(" ")[0] for line in tflite_out.splitlines()]
    assert len(saved_top) == 3 and saved_top == tflite_top


def test_predict_on_a_corrupt_image_names_it(capsys, trained_vision, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    status, _, err = _run(capsys, "predict", trained_vision.report["path"], tmp_path / "broken.jpg")
    _assert_one_line_error(status, err, "broken.jpg")


def test_bench_times_batch_1_and_32_and_reports_int8_ratio(capsys, trained_vision):
    status, out, err = _run(capsys, "bench", trained_vision.report["path"], "--json")
    assert status == 0, err
    result = json.loads(out)
    formats = {row["format"] for row in result["rows"]}
    assert {"saved_model", "tflite_float32", "tflite_int8"} <= formats
    for row in result["rows"]:
        assert set(row["latency_ms"]) == {"1", "32"} and all(
            v > 0 for v in row["latency_ms"].values()
        )
    assert result["ratios"]["tflite_int8/tflite_float32@32"] > 0


def test_evaluate_and_export_a_saved_keras_model(capsys, trained_vision, tmp_path):
    model = trained_vision.model
    model.save(tmp_path / "model.keras")
    status, out, err = _run(capsys, "evaluate", "vision", tmp_path / "model.keras")
    assert status == 0, err
    assert (
        abs(float(out.split("accuracy:")[1].split()[0]) - trained_vision.metrics["accuracy"]) < 1e-4
    )
    status, out, err = _run(
        capsys,
        "export",
        "vision",
        tmp_path / "model.keras",
        "--output",
        tmp_path / "out",
        "--tflite",
        "tflite_int8",
    )
    assert status == 0, err
    version = tmp_path / "out" / "vision" / "1"
    assert (version / "saved_model.pb").is_file()
    assert sorted(p.name for p in version.glob("*.tflite")) == ["vision_int8.tflite"]


def test_console_script_error_has_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlapps.cli",
            "predict",
            str(tmp_path / "missing"),
            "x.png",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error:")


@pytest.mark.parametrize("command", ["train vision", "predict", "bench", "export vision", "demo"])
def test_help_shows_an_example_for_each_command(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command.split(), "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and "dlapps " in out


def test_a_bad_app_flag_value_is_one_line_without_traceback(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "vision", "--image-size", "abc"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --image-size: 'abc' is not a size: write e.g. 64" in err
    assert "Traceback" not in err


def test_a_bad_number_is_argparses_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "vision", "--epochs", "abc"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --epochs: 'abc' is not an integer" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "message"),
    [("--select-every", "--select-every 0 is too small"), ("--critic-steps", "--critic-steps 0")],
)
def test_gan_flags_out_of_range_are_refused_before_any_work(capsys, tmp_path, flag, message):
    status, _, err = _run(
        capsys, "train", "gan", "--gan", "wgan_gp", flag, "0", "--workdir", tmp_path / "runs"
    )
    _assert_one_line_error(status, err, message)
    assert not (tmp_path / "runs" / "gan" / "run.json").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--hidden-dim", "100", "--heads", "3"], "--hidden-dim 100 is not divisible by --heads 3"),
        (["--heads", "3"], "the default width is not divisible by --heads 3"),
        (["--layers", "0"], "--layers 0 is too small"),
    ],
)
def test_translation_shapes_that_cannot_build_are_refused_before_any_work(
    capsys, tmp_path, flags, message
):
    status, _, err = _run(capsys, "train", "translation", *flags, "--workdir", tmp_path / "runs")
    _assert_one_line_error(status, err, message)
    assert not (tmp_path / "runs" / "translation" / "run.json").exists()


def test_a_bug_is_not_disguised_as_a_user_error(monkeypatch):
    def broken(args, out):
        raise ValueError("a bug in dlapps")

    monkeypatch.setitem(cli.COMMANDS, "bench", broken)
    with pytest.raises(ValueError, match="a bug in dlapps"):
        cli.main(["bench", "saved_models/vision/1"])


def test_no_cuda_error_on_a_machine_without_a_gpu():
    code = (
        "from dlapps import cli; cli._quiet_tensorflow(); import tensorflow as tf; "
        "print(len(tf.config.list_physical_devices('GPU')))"
    )
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=environment
    )
    assert result.returncode == 0, result.stderr
    assert "cuInit" not in result.stderr and "CUDA error" not in result.stderr


def test_an_apps_own_command_runs_on_the_model_that_app_exported(capsys, monkeypatch, tmp_path):
    from dlapps import application

    class Toy(application.Application):
        name = "toy"
        description = "a toy app with a command of its own"

        def commands(self):
            def add_arguments(parser):
                parser.add_argument("--times", type=int, default=2)

            def run(args):
                return [f"hello from {args.model}"] * args.times

            return [
                application.AppCommand("greet", "says hello", "dlapps greet M", add_arguments, run)
            ]

    monkeypatch.setitem(application.APPLICATIONS, "toy", "toy_app:Toy")
    monkeypatch.setitem(sys.modules, "toy_app", type(sys)("toy_app"))
    sys.modules["toy_app"].Toy = Toy
    toy_model = tmp_path / "toy" / "1"
    toy_model.mkdir(parents=True)
    (toy_model / "report.json").write_text('{"app": "toy"}')
    assert cli.main(["greet", str(toy_model), "--times", "3"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"hello from {toy_model}"] * 3

    other_model = tmp_path / "vision" / "1"
    other_model.mkdir(parents=True)
    (other_model / "report.json").write_text('{"app": "vision"}')
    assert cli.main(["greet", str(other_model)]) == 1
    assert "is a vision model; `dlapps greet` works with toy models" in capsys.readouterr().err
