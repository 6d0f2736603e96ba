"""COCO detection metrics through pycocotools (the reference implementation), and figures.

`coco_evaluate` turns ground truth and padded detections into COCO's
dictionaries and runs `COCOeval`: mAP@[.5:.95], AP50, AP75 and AP per
class. "Difficult" (VOC) and crowd (COCO) boxes are marked `iscrowd`, so
detecting them neither helps nor hurts, as in both benchmarks.
"""

import contextlib
import io
from pathlib import Path

import numpy as np

from dlapps import report


def _to_xywh(box):
    ymin, xmin, ymax, xmax = (float(v) for v in box)
    return [xmin, ymin, xmax - xmin, ymax - ymin]


def coco_evaluate(split, detections, labels):
    """COCO metrics of padded detections on a `DetectionSplit`.

    Args:
        split: the ground truth (`DetectionSplit`).
        detections: dict with `boxes` `(n, K, 4)`, `classes`, `scores`
            `(n, K)` and `num_detections` `(n,)`, in the split's pixels.
        labels: class names.

    Returns:
        `(metrics, per_class, precision)`: `{"map", "ap50", "ap75"}`, class
        name -> AP@[.5:.95], and COCOeval's precision array `[T, R, K, A, M]`.

    Example:

    >>> metrics, per_class, _ = coco_evaluate(data.test, model_outputs, data.labels)
    >>> round(metrics["ap50"], 3)
    0.912
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    size = split.images.shape[1:3]
    for index in range(split.count):
        images.append({"id": index, "height": int(size[0]), "width": int(size[1])})
        boxes, classes, difficult = split.objects(index)
        for box, label, crowd in zip(boxes, classes, difficult, strict=True):
            xywh = _to_xywh(box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index,
                    "category_id": int(label),
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "iscrowd": int(crowd),
                }
            )
        count = int(detections["num_detections"][index])
        for k in range(count):
            results.append(
                {
                    "image_id": index,
                    "category_id": int(round(float(detections["classes"][index][k]))),
                    "bbox": _to_xywh(detections["boxes"][index][k]),
                    "score": float(detections["scores"][index][k]),
                }
            )
    categories = [{"id": i, "name": name} for i, name in enumerate(labels)]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations, "categories": categories}
        truth.createIndex()
        if results:
            predicted = truth.loadRes(results)
        else:
            predicted = COCO()
            predicted.dataset = {"images": images, "annotations": [], "categories": categories}
            predicted.createIndex()
        evaluator = COCOeval(truth, predicted, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    precision = evaluator.eval["precision"]  # [IoU T, recall R, class K, area A, maxDets M]
    per_class = {}
    for k, name in enumerate(labels):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        per_class[name] = float(values.mean()) if values.size else 0.0
    metrics = {
        "map": max(0.0, float(stats[0])),
        "ap50": max(0.0, float(stats[1])),
        "ap75": max(0.0, float(stats[2])),
    }
    return metrics, per_class, precision


def plot_precision_recall(precision, labels, path):
    """Precision-recall curves at IoU 0.5 per class (COCOeval's interpolated precision)."""
    plt = report.pyplot()
    recall = np.linspace(0, 1, precision.shape[1])
    figure, axis = plt.subplots(figsize=(5, 4))
    for k, name in enumerate(labels):
        values = precision[0, :, k, 0, -1]
        if (values > -1).any():
            axis.plot(recall, np.where(values < 0, np.nan, values), label=name)
    axis.set(xlabel="recall", ylabel="precision", title="Precision-recall at IoU 0.5 (test)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def plot_detections(split, detections, labels, path, count=8, min_score=0.3):
    """Test images with ground truth (green, dashed) beside predicted boxes (red, with scores)."""
    plt = report.pyplot()
    count = min(count, split.count)
    columns = min(4, count)
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for index, axis in enumerate(axes.ravel()):
        axis.axis("off")
        if index >= count:
            continue
        axis.imshow(split.images[index])
        boxes, classes, _ = split.objects(index)
        for (ymin, xmin, ymax, xmax), _label in zip(boxes, classes, strict=True):
            axis.add_patch(
                plt.Rectangle(
                    (xmin, ymin),
                    xmax - xmin,
                    ymax - ymin,
                    fill=False,
                    color="lime",
                    ls="--",
                    lw=1.2,
                )
            )
        for k in range(int(detections["num_detections"][index])):
            score = float(detections["scores"][index][k])
            if score < min_score:
                continue
            ymin, xmin, ymax, xmax = detections["boxes"][index][k]
            name = labels[int(round(float(detections["classes"][index][k])))]
            axis.add_patch(
                plt.Rectangle(
                    (xmin, ymin), xmax - xmin, ymax - ymin, fill=False, color="red", lw=1.2
                )
            )
            axis.text(
                xmin,
                ymin,
                f"{name} {score:.2f}",
                color="white",
                fontsize=6,
                bbox={"facecolor": "red", "alpha": 0.6, "pad": 1, "lw": 0},
            )
    figure.suptitle("Test images: ground truth (green, dashed) and detections (red)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def mediapipe_agreement(mediapipe, litert, image_size, labels):
    """How MediaPipe's ObjectDetector agrees with the LiteRT interpreter on the same file.

    MediaPipe reports whole pixels, `[origin_x, origin_y, width, height]`,
    each truncated from the box's fractions times the image side (C++'s
    `static_cast<int>`); LiteRT's boxes are rounded the same way before the
    IoU, so only a real difference shows.

    Args:
        mediapipe: per image, MediaPipe's detections (dicts of `box`,
            `label`, `score`, see `mediapipe_metadata.mediapipe_detections`).
        litert: the file's outputs on the same images: `boxes` (fractions),
            `classes`, `scores`, `num_detections`.
        image_size: the side of the square images both were given.
        labels: the label names, by class index.

    Returns:
        `{"images", "same_count", "same_labels", "min_iou", "max_score_diff"}`:
        the fraction of images with as many detections, the fraction of
        those whose labels match box by box, the lowest IoU of a box with
        its LiteRT counterpart, and the largest score difference.
    """
    same_count, same_labels, ious, score_diffs = 0, 0, [], []
    for index, found in enumerate(mediapipe):
        count = int(litert["num_detections"][index])
        if len(found) != count:
            continue
        same_count += 1
        fractions = np.asarray(litert["boxes"][index][:count], np.float32)
        expected = np.stack(
            [
                fractions[:, 1] * image_size,
                fractions[:, 0] * image_size,
                (fractions[:, 3] - fractions[:, 1]) * image_size,
                (fractions[:, 2] - fractions[:, 0]) * image_size,
            ],
            axis=-1,
        ).astype(np.int64)
        got = np.array([f["box"] for f in found], np.int64).reshape(-1, 4)
        ious.extend(_xywh_iou(got, expected).tolist())
        names = [labels[int(round(float(c)))] for c in litert["classes"][index][:count]]
        same_labels += [f["label"] for f in found] == names
        scores = np.array([f["score"] for f in found], np.float32)
        score_diffs.extend(np.abs(scores - litert["scores"][index][:count]).tolist())
    return {
        "images": len(mediapipe),
        "same_count": same_count / max(len(mediapipe), 1),
        "same_labels": same_labels / max(same_count, 1),
        # Over the boxes of the images with as many detections (NaN: there were none).
        "min_iou": float(min(ious)) if ious else float("nan"),
        "max_score_diff": float(max(score_diffs)) if score_diffs else float("nan"),
    }


def _xywh_iou(a, b):
    """Row-wise IoU of `[x, y, width, height]` boxes; two empty boxes in one place count as 1."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    low = np.maximum(a[:, :2], b[:, :2])
    high = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    union = np.prod(a[:, 2:], axis=-1) + np.prod(b[:, 2:], axis=-1) - inter
    same = (a == b).all(axis=-1)
    return np.where(same, 1.0, inter / np.maximum(union, 1e-9))
