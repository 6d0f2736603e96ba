"""Write TF Serving's models.config for every model exported under saved_models/.

Uses only the Python standard library. A model is a folder of `saved_models/`
holding at least one numeric version directory with a `saved_model.pb`;
each becomes a `config` block served at `/models/<name>` in the container
(mount `saved_models/` there), with the `latest` version policy.

    python export/serving/make_config.py                   # prints it
    python export/serving/make_config.py --output export/serving/models.config
"""

import argparse
import sys
from pathlib import Path

HEADER = """# TensorFlow Serving model config for the dlapps SavedModels, written by
# export/serving/make_config.py. Mount saved_models/ at /models:
#
#   docker run -p 8501:8501 -v "$PWD/saved_models:/models" \\
#     -v "$PWD/export/serving:/config" \\
#     tensorflow/serving --model_config_file=/config/models.config
#
# TF Serving loads each new numeric version directory as it appears and, with
# the `latest` policy, serves the newest `num_versions` of each model.
"""


def served_models(saved_models):
    """Names of the folders of `saved_models` that hold an exported version, sorted."""
    names = []
    for folder in sorted(Path(saved_models).iterdir()) if Path(saved_models).is_dir() else []:
        versions = (
            [v for v in folder.iterdir() if v.name.isdigit() and (v / "saved_model.pb").is_file()]
            if folder.is_dir()
            else []
        )
        if versions:
            names.append(folder.name)
    return names


def model_config(names, base="/models", versions=1):
    """The models.config text serving `names` from `<base>/<name>`.

    Example:

    >>> print(model_config(["vision"]))  # doctest: +ELLIPSIS
    # TensorFlow Serving model config ...
    model_config_list {
      config {
        name: "vision"
        base_path: "/models/vision"
        model_platform: "tensorflow"
        model_version_policy { latest { num_versions: 1 } }
      }
    }
    """
    blocks = [
        "  config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{base}/{name}"\n'
        '    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ latest {{ num_versions: {versions} }} }}\n"
        "  }"
        for name in names
    ]
    return HEADER + "model_config_list {\n" + "\n".join(blocks) + "\n}\n"


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 nothing to serve)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved-models", default="saved_models", help="the exports' folder")
    parser.add_argument("--base", default="/models", help="where the server sees that folder")
    parser.add_argument("--versions", type=int, default=1, help="versions served per model")
    parser.add_argument("--output", help="write here instead of printing")
    args = parser.parse_args(argv)
    names = served_models(args.saved_models)
    if not names:
        print(
            f"error: no exported SavedModel under {args.saved_models}/ "
            "(run `make demo` or `dlapps train APP` first)",
            file=sys.stderr,
        )
        return 1
    text = model_config(names, args.base, args.versions)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: {', '.join(names)}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
