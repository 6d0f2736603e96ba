"""Data helpers every app shares: TFDS loading with a clear error, a disk cache, folders.

Folders of labelled files may be local or URLs that TensorFlow's file
systems read (`gs://bucket/photos`, `s3://...`, `ram://...`): data can sit in
Cloud Storage next to a TPU.
"""

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from dlapps.errors import UserError


def load_tfds_splits(name, splits, data_dir=None):
    """`tfds.load(name, split=splits, as_supervised=True, with_info=True)`, explained on failure.

    Returns:
        `(datasets, info)`, one `tf.data.Dataset` per split.

    Raises:
        UserError: the dataset is unknown, missing or cannot be downloaded.
    """
    import tensorflow_datasets as tfds

    try:
        return tfds.load(
            name, split=list(splits), as_supervised=True, with_info=True, data_dir=data_dir
        )
    except Exception as error:  # tfds raises many kinds: missing, offline, bad name
        raise UserError(
            f"could not load TFDS dataset '{name}': {str(error).splitlines()[0]} "
            "(without a network, prepare it first with `tfds build` and pass --tfds-data-dir)"
        ) from None


def is_url(path):
    """True for paths that TensorFlow's file systems serve: gs://, s3://, hdfs://, ram://."""
    return "://" in str(path)


def readable(path):
    """What file readers can open: a local path itself, or a URL's bytes in memory.

    The bytes come through `tf.io.gfile`, as a `BytesIO`: readers such as
    SciPy's WAV reader need a real file or memory, not a stream.
    """
    if not is_url(path):
        return path
    import io

    import tensorflow as tf

    with tf.io.gfile.GFile(str(path), "rb") as file:
        return io.BytesIO(file.read())


def class_folders(directory, extensions):
    """`{sub-folder name: sorted file paths}` of a folder, or `None` when there is no folder.

    Files count when their extension (any case) is in `extensions` (every
    file when `extensions` is `None`) and sit anywhere below the sub-folder.
    Local folders go through pathlib, URLs through `tf.io.gfile`.
    """

    def wanted(name):
        return extensions is None or Path(name).suffix.lower() in extensions

    if not is_url(directory):
        directory = Path(directory)
        if not directory.is_dir():
            return None
        return {
            folder.name: sorted(f for f in folder.rglob("*") if f.is_file() and wanted(f.name))
            for folder in sorted(directory.iterdir())
            if folder.is_dir()
        }
    import tensorflow as tf

    directory = str(directory).rstrip("/")
    if not tf.io.gfile.isdir(directory):
        return None
    classes = {}
    for name in sorted(n.rstrip("/") for n in tf.io.gfile.listdir(directory)):
        folder = f"{directory}/{name}"
        if tf.io.gfile.isdir(folder):
            classes[name] = sorted(
                f"{root.rstrip('/')}/{file}"
                for root, _, files in tf.io.gfile.walk(folder)
                for file in files
                if wanted(file)
            )
    return classes


def default_cache_dir():
    """Where generated data is kept: `$DLAPPS_CACHE` or `~/.cache/dlapps`."""
    return Path(os.environ.get("DLAPPS_CACHE", Path.home() / ".cache" / "dlapps"))


def cached_arrays(prefix, parameters, build, cache_dir=None):
    """Arrays made by `build()` once per parameter set, kept as an .npz file.

    The file name holds a hash of `parameters` (JSON-serialisable), so
    changing any of them builds anew and nothing else does. The file is
    written under a temporary name and renamed, so it is whole or absent.

    Example:

    >>> arrays = cached_arrays("squares", {"n": 4}, lambda: {"x": np.arange(4) ** 2})
    >>> arrays["x"]
    array([0, 1, 4, 9])
    """
    key = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir or default_cache_dir()) / f"{prefix}-{key}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # One partial name per process: local workers may build the same file at once.
        partial = path.with_suffix(f".{os.getpid()}.partial.npz")
        np.savez(partial, **build())
        partial.replace(path)
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}


def stratified_split(images, labels, test_fraction, validation_fraction, seed):
    """Stratified train/validation/test split with a fixed seed.

    Each held-out split gets at least one example of every class, so small
    folders still split.
    """
    num_classes = len(np.unique(labels))
    test_size = max(num_classes, math.ceil(len(labels) * test_fraction))
    validation_size = max(num_classes, math.ceil(len(labels) * validation_fraction))
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_size, stratify=labels, random_state=seed
    )
    train_x, val_x, train_y, val_y = train_test_split(
        train_x, train_y, test_size=validation_size, stratify=train_y, random_state=seed
    )
    return (train_x, train_y), (val_x, val_y), (test_x, test_y)


def random_noise(rng, samples, std):
    """White or brown (random-walk) noise, at standard deviation `std`."""
    noise = rng.normal(size=samples)
    if rng.random() < 0.5:
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(401) / 401, mode="same")  # drop the drift
    return (noise / (noise.std() + 1e-12) * std).astype("float32")


def bucket_by_length(dataset, lengths, length_fn, boundaries, batch_size):
    """`dataset.bucket_by_sequence_length`, with its number of batches stated.

    Examples of similar length are batched together, each batch padded to
    its own longest example. The number of batches does not depend on the
    order of the examples: bucket `i` holds the examples whose length is in
    `[boundaries[i - 1], boundaries[i])`, and yields `ceil(count / batch_size)`
    batches. Stating it (`assert_cardinality`) gives Keras a step count, so
    the first epoch shows a progress bar with its time left and ends
    without the "Your input ran out of data" warning that a dataset of
    unknown length gets.

    Args:
        dataset: unbatched examples.
        lengths: each example's length, as `length_fn` computes it, in
            dataset order (numpy).
        length_fn: `(*example) -> int32 scalar`, the length to bucket on.
        boundaries: increasing bucket boundaries.
        batch_size: examples per batch, in every bucket.

    Example:

    >>> import tensorflow as tf
    >>> lengths = np.array([1, 2, 5, 6, 7])
    >>> data = tf.data.Dataset.from_generator(
    ...     lambda: (np.ones(n) for n in lengths), output_signature=tf.TensorSpec([None])
    ... )
    >>> batches = bucket_by_length(data, lengths, lambda x: tf.shape(x)[0], [4], 2)
    >>> int(batches.cardinality()), len(list(batches))
    (3, 3)
    """
    import tensorflow as tf

    buckets = np.searchsorted(np.asarray(boundaries), np.asarray(lengths), side="right")
    counts = np.bincount(buckets, minlength=len(boundaries) + 1)
    batches = int(sum(math.ceil(count / batch_size) for count in counts))
    dataset = dataset.bucket_by_sequence_length(
        length_fn,
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )
    return dataset.apply(tf.data.experimental.assert_cardinality(batches))
