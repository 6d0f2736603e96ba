"""What every app's run leaves for people to look at: curves, summary lines."""

import json
import math
from pathlib import Path


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as _pyplot

    return _pyplot


def plot_history(history, path, title="Training curves"):
    """Writes one panel per metric (loss, accuracy, ...) with its validation twin.

    Args:
        history: `keras.callbacks.History.history`: name -> values per epoch.
        path: the PNG to write.
    """
    names = [n for n in history if not n.startswith("val_") and n != "learning_rate"]
    plt = pyplot()
    figure, axes = plt.subplots(1, max(1, len(names)), figsize=(5 * max(1, len(names)), 3.5))
    axes = [axes] if len(names) <= 1 else list(axes)
    for axis, name in zip(axes, names, strict=False):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], label="train")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def format_summary(report):
    """A short human summary of a `report.json` dict: metrics, then one line per file."""
    lines = [f"{report['app']} v{report['version']}  ({report.get('path', '')})"]
    metrics = ", ".join(f"{k} {_format_value(v)}" for k, v in report["metrics"].items())
    lines.append(f"  keras model: {metrics}")
    if "training" in report:
        training = report["training"]
        completed = training.get("epochs_completed", training["epochs"])
        planned = training.get("planned_epochs")
        line = f"  trained {completed}" + (f" of {planned} planned" if planned else "")
        line += f" epochs ({training['epochs']} in this run, {training['seconds']:.1f} s)"
        if training.get("stopped_by"):
            line += f", stopped by {training['stopped_by']}"
        lines.append(line)
    # The first three metrics of each file (report.json has them all), in a
    # column as wide as the longest, so that no two columns run together.
    rows = [
        ", ".join(f"{k} {_format_value(v)}" for k, v in list(export.get("metrics", {}).items())[:3])
        for export in report["exports"]
    ]
    width = max([36, *(len(row) + 2 for row in rows)])
    lines.append(f"  {'format':<18}{'size':>10}  {'metrics':<{width}}{'vs keras':>11}{'ms@1':>9}")
    for export, metrics in zip(report["exports"], rows, strict=True):
        latency = export.get("latency_ms")
        lines.append(
            f"  {export['format']:<18}{export['bytes'] / 1024:>8.0f}KB  {metrics:<{width}}"
            f"{_parity(export):>11}"
            f"{'' if latency is None else f'{latency:.3f}':>9}"
        )
    return "\n".join(lines)


def _parity(export):
    """How close an export is to the Keras model: max |diff|, or identical outputs."""
    if export.get("max_abs_diff") is not None:
        return f"{export['max_abs_diff']:.2e}"
    if export.get("identical_detections") is not None:  # detectors: same boxes after NMS
        return f"{export['identical_detections']:.1%} same"
    if export.get("identical_to_keras") is not None:
        return f"{export['identical_to_keras']:.1%} same"
    return "-"  # e.g. an agent's files, compared by the actions they choose


def write_json(data, path):
    """Writes `data` as indented JSON."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, sort_keys=False)
        file.write("\n")
    return path


def image_grid(images, columns=8):
    """Tiles uint8 images `(n, height, width, channels)` into one uint8 image."""
    import numpy as np

    images = np.asarray(images)
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    grid = np.zeros((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), "uint8")
    for index, image in enumerate(images):
        top = 1 + (index // columns) * (height + 1)
        left = 1 + (index % columns) * (width + 1)
        grid[top : top + height, left : left + width] = image
    return grid


def save_image_grid(images, path, columns=8, scale=4):
    """Writes `images` as one PNG grid, each pixel drawn `scale` times larger."""
    import numpy as np
    from PIL import Image

    grid = image_grid(images, columns)
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    return path


def plot_spectrograms(model, waveforms, titles, path, columns=4):
    """Saves the log-mel features the model computes for each clip, one panel each.

    Args:
        model: a model whose layer "log_mel" is its front end.
        waveforms: float32 `(n, samples)`.
        titles: one title per clip (e.g. its label or transcript).
        path: PNG to write.
    """
    import keras

    front_end = keras.Model(model.input, model.get_layer("log_mel").output)
    features = front_end.predict(waveforms, verbose=0)[..., 0]
    plt = pyplot()
    rows = -(-len(features) // columns)
    width = 3 if features.shape[1] < 100 else 5
    figure, axes = plt.subplots(rows, columns, figsize=(width * columns, 2.6 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, feature, title in zip(axes.flat, features, titles, strict=False):
        axis.imshow(feature.T, origin="lower", aspect="auto", cmap="magma")
        axis.set_title(title, fontsize=9)
    figure.suptitle("Log-mel spectrograms (time ->, mel band ^)")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return Path(path)
