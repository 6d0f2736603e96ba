"""Runs speech synthesis in a new Python process, so its output depends only on its inputs.

eSpeak NG carries synthesis state from one utterance to the next (among
others the phase of its glottal source and of its pitch flutter), so the same
word in the same voice comes out slightly different, and some milliseconds
longer or shorter, depending on everything said before in the process.
Measured with the espeakng-loader build: neither `espeak_ng_SetRandSeed`,
nor `srand`, nor `espeak_Terminate` + `espeak_Initialize` resets it. A new
process that says the same things in the same order gives the same audio,
sample for sample. So the built-in speech data is made in a new process, and
a dataset is a function of its parameters alone, whatever the calling process
synthesised before.

The child gets its arguments as a JSON file (a command line is too short for
thousands of sentences) and returns NumPy arrays through an .npz file (no
pickle); its progress bar prints to this process' terminal. The child
imports the target's module without running `dlapps/speech/__init__.py`
(which loads TensorFlow), so a target that needs no TensorFlow, such as
`keyword_synthesis`, starts in about a second.

Example:

```python
arrays = call_in_fresh_process(
    "dlapps.speech.keyword_synthesis:generate_keyword_splits",
    counts={"train": 2, "validation": 1, "test": 1},
    voices={"train": ["en+m1"], "validation": ["en-us+f2"], "test": ["en-029+m3"]},
    seed=0,
)
arrays["train_x"].shape  # (24, 16000)
```
"""

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from dlapps.errors import UserError


def call_in_fresh_process(target, **arguments):
    """Calls `target` ("module:function") in a new Python process.

    Args:
        target: a module-level function, as "package.module:function". It
            takes JSON-serialisable keyword arguments and returns a dict of
            NumPy arrays.
        **arguments: its keyword arguments.

    Returns:
        The dict of arrays the function returned.

    Raises:
        UserError: the child process failed; the message holds the end of
            its error output.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, environment.get("PYTHONPATH")) if p
    )
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment["CUDA_VISIBLE_DEVICES"] = ""  # synthesis needs no accelerator
    with tempfile.TemporaryDirectory(prefix="dlapps-synth-") as scratch:
        output = Path(scratch) / "arrays.npz"
        argument_file = Path(scratch) / "arguments.json"
        argument_file.write_text(json.dumps(arguments), encoding="utf-8")
        sys.stdout.flush()
        finished = subprocess.run(
            [sys.executable, "-c", _BOOTSTRAP, target, str(argument_file), str(output)],
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )
        if finished.returncode != 0 or not output.exists():
            tail = "\n".join(finished.stderr.strip().splitlines()[-8:])
            raise UserError(f"generating speech data ({target}) failed:\n{tail}")
        with np.load(output, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}


# The child: `dlapps.speech` as a bare package (its submodules import as
# usual, its __init__ and so TensorFlow are not loaded), then `_main`.
_BOOTSTRAP = """
import sys, types
from pathlib import Path
import dlapps
package = types.ModuleType("dlapps.speech")
package.__path__ = [str(Path(dlapps.__file__).parent / "speech")]
sys.modules["dlapps.speech"] = package
from dlapps.speech.fresh_process import main
main(sys.argv[1:])
"""


def main(arguments):
    """The child process' entry point: `target argument_file output`."""
    try:
        _main(*arguments)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def _main(target, argument_file, output):
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    arrays = function(**json.loads(Path(argument_file).read_text(encoding="utf-8")))
    np.savez(output, **arrays)


if __name__ == "__main__":
    main(sys.argv[1:])
