"""The vision classifier whose features score a GAN's samples, as an explicit artifact."""

import hashlib
import json
from pathlib import Path

from dlapps import runs
from dlapps.datasets import default_cache_dir


def feature_classifier(image_data, seed, epochs=30, cache_dir=None):
    """A vision classifier trained on `image_data`'s own training split, cached on disk.

    The GAN's Fréchet distance is measured on this classifier's features
    of the test images, so the classifier must never have seen them: it is
    trained with the run's `seed` on the split that seed gives, and its
    cache key holds the split's content signature (`dlapps.runs`), so
    another seed, folder or class list trains a classifier of its own.

    Args:
        image_data: `dlapps.vision.ImageData` as loaded for the GAN, before
            resizing (`data.source` names where it came from).
        seed: the run's seed, which made the split.
        epochs: epochs of the vision app's default training.
        cache_dir: where the `.keras` file is kept (default
            `dlapps.datasets.default_cache_dir()/gan_feature_classifiers`).

    Returns:
        The trained `keras.Model` (its layer "pool" gives the features).

    Example:

    >>> data = vision.load_digits(seed=1)  # doctest: +SKIP
    >>> classifier = feature_classifier(data, seed=1, epochs=30)  # doctest: +SKIP
    """
    from dlapps import training
    from dlapps.vision.vision_app import VisionApp

    splits = runs.split_signatures(image_data)
    key = {"source": image_data.source, "seed": seed, "epochs": epochs, "splits": splits}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    directory = Path(cache_dir or default_cache_dir() / "gan_feature_classifiers")
    path = directory / f"classifier-{digest}.keras"
    if path.is_file():
        return VisionApp().load_model(path)
    config = training.TrainConfig(
        app="vision",
        data=image_data.source.removeprefix("folder:"),
        workdir=str(directory / f"run-{digest}"),
        export=False,
        verbose=0,
        epochs=epochs,
        seed=seed,
        restart=True,
    )
    result = training.run(VisionApp(), config)
    if runs.split_signatures(result.data) != splits:
        raise RuntimeError(
            "the feature classifier's split differs from the GAN's: "
            f"{runs.split_signatures(result.data)} != {splits}"
        )
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.keras")
    result.model.save(partial)
    partial.replace(path)
    return result.model
