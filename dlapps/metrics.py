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
