"""Classification metrics and the confusion-matrix figure."""

import numpy as np
from sklearn import metrics as sklearn_metrics

from dlapps import report


def accuracy(labels, probabilities):
    """Fraction of examples whose most probable class is the true one."""
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def classification_report(labels, probabilities, class_names):
    """Accuracy, per-class precision and recall, and the confusion matrix.

    Args:
        labels: int `(n,)` true classes.
        probabilities: float `(n, num_classes)` model outputs.
        class_names: names of the classes, in class order.

    Returns:
        A dict with `metrics` (scalars: accuracy, macro precision, macro
        recall), `per_class` (name -> precision, recall, support) and
        `confusion_matrix` (rows are true classes, columns predictions).
    """
    predictions = np.argmax(probabilities, axis=-1)
    classes = np.arange(len(class_names))
    precision, recall, _, support = sklearn_metrics.precision_recall_fscore_support(
        labels, predictions, labels=classes, zero_division=0
    )
    matrix = sklearn_metrics.confusion_matrix(labels, predictions, labels=classes)
    return {
        "metrics": {
            "accuracy": accuracy(labels, probabilities),
            "macro_precision": float(np.mean(precision)),
            "macro_recall": float(np.mean(recall)),
        },
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
    }


def plot_confusion_matrix(matrix, class_names, path, title="Confusion matrix (test)"):
    """Writes the confusion matrix as a PNG, counts written in each cell."""
    pyplot = report.pyplot()
    matrix = np.asarray(matrix)
    size = max(4.0, 0.5 * len(class_names) + 2)
    figure, axes = pyplot.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(class_names)), class_names, rotation=90)
    axes.set_yticks(range(len(class_names)), class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            color = "white" if count > threshold else "black"
            axes.text(column, row, count, ha="center", va="center", color=color)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def plot_predictions(images, labels, probabilities, class_names, path, count=32):
    """Writes a grid of test images titled "predicted (true)", mistakes first, in red."""
    pyplot = report.pyplot()
    predictions = np.argmax(probabilities, axis=-1)
    wrong = np.flatnonzero(predictions != labels)
    right = np.flatnonzero(predictions == labels)
    chosen = np.concatenate([wrong, right])[:count]
    columns = 8
    rows = max(1, -(-len(chosen) // columns))
    figure, axes = pyplot.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.5))
    for axis in np.ravel(axes):
        axis.axis("off")
    for axis, index in zip(np.ravel(axes), chosen, strict=False):
        image = images[index]
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
        mistaken = predictions[index] != labels[index]
        axis.set_title(
            f"{class_names[predictions[index]]} ({class_names[labels[index]]})",
            color="red" if mistaken else "black",
            fontsize=8,
        )
    figure.suptitle(f"Test predictions: predicted (true); {len(wrong)} mistakes in {len(labels)}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


# Verification: are two examples the same identity (face, voice, ...)? Generic over embeddings.


def verification_pairs(identities, num_pairs=3000, seed=0):
    """Balanced same/different index pairs, as in the LFW protocol.

    Args:
        identities: int `(n,)` identity of each example.
        num_pairs: pairs of each kind (fewer same pairs if there are not
            that many).
        seed: fixes the sampling.

    Returns:
        `(first, second, same)`: int index arrays and a bool array; half the
        pairs show one identity twice, half two different identities.

    Example:

    >>> first, second, same = verification_pairs(np.repeat(np.arange(5), 4), num_pairs=10)
    >>> int(same.sum()), int((~same).sum())
    (10, 10)
    """
    identities = np.asarray(identities)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(identities == i) for i in np.unique(identities)]
    all_same = [(a, b) for g in groups for k, a in enumerate(g) for b in g[k + 1 :]]
    if not all_same:
        raise ValueError("no identity has two examples: a same pair needs two")
    chosen = rng.choice(len(all_same), min(num_pairs, len(all_same)), replace=False)
    same = np.asarray(all_same)[chosen]
    different = []
    while len(different) < len(same):
        a, b = rng.integers(0, len(identities), 2)
        if identities[a] != identities[b]:
            different.append((a, b))
    pairs = np.concatenate([same, np.asarray(different)])
    labels = np.concatenate([np.ones(len(same), bool), np.zeros(len(different), bool)])
    return pairs[:, 0], pairs[:, 1], labels


def best_threshold(similarities, same):
    """The similarity threshold with the highest accuracy (`similarity >= t` means same)."""
    candidates = np.unique(similarities)
    candidates = np.concatenate([candidates, [candidates[-1] + 1e-6]])
    order = np.argsort(similarities)
    sorted_same = np.asarray(same)[order]
    # Accuracy at each candidate: different pairs below it plus same pairs at or above it.
    below = np.searchsorted(np.asarray(similarities)[order], candidates, side="left")
    different_below = np.concatenate([[0], np.cumsum(~sorted_same)])[below]
    same_above = sorted_same.sum() - np.concatenate([[0], np.cumsum(sorted_same)])[below]
    accuracy = (different_below + same_above) / len(same)
    return float(candidates[int(np.argmax(accuracy))])


def verification_accuracy(similarities, same, folds=10, seed=0):
    """LFW-protocol accuracy: each fold's threshold is chosen on the other folds.

    Returns:
        `(mean accuracy, standard deviation over folds, mean threshold)`.
    """
    similarities, same = np.asarray(similarities), np.asarray(same, bool)
    order = np.random.default_rng(seed).permutation(len(same))
    accuracies, thresholds = [], []
    for fold in np.array_split(order, folds):
        rest = np.setdiff1d(order, fold)
        threshold = best_threshold(similarities[rest], same[rest])
        accuracies.append(np.mean((similarities[fold] >= threshold) == same[fold]))
        thresholds.append(threshold)
    return float(np.mean(accuracies)), float(np.std(accuracies)), float(np.mean(thresholds))


def threshold_at_far(similarities, same, far):
    """The lowest similarity threshold that accepts at most a fraction `far` of different pairs."""
    impostors = np.sort(np.asarray(similarities)[~np.asarray(same, bool)])[::-1]
    accepted = int(np.floor(far * len(impostors)))
    return float(impostors[accepted]) if accepted < len(impostors) else float("-inf")


def tar_at_far(similarities, same, far):
    """True accept rate at the threshold that accepts a fraction `far` of different pairs."""
    similarities, same = np.asarray(similarities), np.asarray(same, bool)
    impostors = np.sort(similarities[~same])[::-1]
    accepted = int(np.floor(far * len(impostors)))
    threshold = impostors[accepted] if accepted < len(impostors) else -np.inf
    return float(np.mean(similarities[same] > threshold))


def verification_report(similarities, same, folds=10):
    """Accuracy (LFW protocol), TAR at FAR 1e-2 and 1e-3, and ROC AUC of pair similarities."""
    accuracy, spread, threshold = verification_accuracy(similarities, same, folds)
    return {
        "verification_accuracy": accuracy,
        "verification_accuracy_std": spread,
        "threshold": threshold,
        "tar_at_far_1e-2": tar_at_far(similarities, same, 1e-2),
        "tar_at_far_1e-3": tar_at_far(similarities, same, 1e-3),
        "roc_auc": float(sklearn_metrics.roc_auc_score(same, similarities)),
    }


def plot_roc(curves, path, title="ROC (unseen identities)"):
    """Writes ROC curves, `curves` = name -> `(similarities, same)`, FAR on a log axis."""
    pyplot = report.pyplot()
    figure, axes = pyplot.subplots(figsize=(5, 4))
    for name, (similarities, same) in curves.items():
        far, tar, _ = sklearn_metrics.roc_curve(same, similarities)
        axes.plot(np.maximum(far, 1e-4), tar, label=name)
    axes.set_xscale("log")
    axes.set_xlabel("false accept rate")
    axes.set_ylabel("true accept rate")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def plot_similarity_histograms(similarities, same, threshold, path, title="Pair similarities"):
    """Writes the same- and different-pair similarity histograms with the threshold."""
    pyplot = report.pyplot()
    similarities, same = np.asarray(similarities), np.asarray(same, bool)
    figure, axes = pyplot.subplots(figsize=(5, 3.5))
    bins = np.linspace(min(-0.2, similarities.min()), 1, 50)
    axes.hist(similarities[same], bins, alpha=0.6, label="same person")
    axes.hist(similarities[~same], bins, alpha=0.6, label="different people")
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    axes.set_xlabel("cosine similarity")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
