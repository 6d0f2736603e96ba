"""EfficientNet-Lite: architecture, the PyTorch weight mapping, ImageNet sanity, freezing."""

import numpy as np
import pytest

from dlapps.errors import UserError
from dlapps.vision.efficientnet_lite import EfficientNetLite, block_settings
from dlapps.vision.efficientnet_lite_weights import (
    imagenet_class_names,
    load_pytorch_weights,
    load_weights,
)


def _random_state_dict(backbone, seed=0):
    """A PyTorch-layout state dict with random values for every layer of `backbone`."""
    from dlapps.vision.efficientnet_lite_weights import _pytorch_names

    rng = np.random.default_rng(seed)
    state = {}
    for layer in backbone.layers:
        if not layer.weights:
            continue
        prefix = _pytorch_names(layer.name)
        if type(layer).__name__ == "BatchNormalization":
            channels = layer.weights[0].shape[0]
            state[f"{prefix}.weight"] = rng.uniform(0.5, 1.5, channels).astype("float32")
            state[f"{prefix}.bias"] = rng.normal(0, 0.1, channels).astype("float32")
            state[f"{prefix}.running_mean"] = rng.normal(0, 0.1, channels).astype("float32")
            state[f"{prefix}.running_var"] = rng.uniform(0.5, 2, channels).astype("float32")
        elif type(layer).__name__ == "DepthwiseConv2D":
            height, width, channels, _ = layer.weights[0].shape
            state[f"{prefix}.weight"] = rng.normal(0, 0.3, (channels, 1, height, width)).astype(
                "float32"
            )
        else:
            height, width, inputs, outputs = layer.weights[0].shape
            state[f"{prefix}.weight"] = rng.normal(0, 0.3, (outputs, inputs, height, width)).astype(
                "float32"
            )
    return state


def _conv2d(image, kernel, stride, groups=1):
    """Plain numpy convolution with TensorFlow's "same" padding; kernel in PyTorch OIHW."""
    height, width, _ = image.shape
    out_channels, in_per_group, kh, kw = kernel.shape
    out_h, out_w = -(-height // stride), -(-width // stride)
    pad_h = max((out_h - 1) * stride + kh - height, 0)
    pad_w = max((out_w - 1) * stride + kw - width, 0)
    padded = np.pad(
        image, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    )
    output = np.zeros((out_h, out_w, out_channels), "float64")
    per_group = out_channels // groups
    for o in range(out_channels):
        channels = slice((o // per_group) * in_per_group, (o // per_group + 1) * in_per_group)
        for y in range(out_h):
            for x in range(out_w):
                patch = padded[y * stride : y * stride + kh, x * stride : x * stride + kw, channels]
                output[y, x, o] = np.sum(patch * kernel[o].transpose(1, 2, 0))
    return output


def _batch_norm_relu6(x, state, prefix, relu=True):
    scale = state[f"{prefix}.weight"] / np.sqrt(state[f"{prefix}.running_var"] + 1e-3)
    x = (x - state[f"{prefix}.running_mean"]) * scale + state[f"{prefix}.bias"]
    return np.clip(x, 0, 6) if relu else x


def test_lite0_has_the_published_blocks_and_parameter_count():
    settings = block_settings(0)
    assert len(settings) == 16
    assert [s[4] for s in settings][-1] == 320
    backbone = EfficientNetLite(0, input_shape=(224, 224, 3))
    assert backbone.output_shape == (None, 7, 7, 1280)
    # Every float of the packaged weights has its place: the backbone's weights and
    # batch-norm statistics, plus the 1000-class head (1280 * 1000 + 1000).
    from dlapps.vision.efficientnet_lite_weights import packaged_weights_path
    from dlapps.vision.pytorch_weights import load_state_dict

    state = load_state_dict(packaged_weights_path(0))
    floats = sum(v.size for v in state.values() if v.dtype == np.float32)
    assert backbone.count_params() + 1_281_000 == floats
    # 4.65 M parameters without the statistics, as published for Lite0.
    statistics = sum(v.size for k, v in state.items() if "running" in k)
    assert round((floats - statistics) / 1e6, 2) == 4.65


def test_weight_mapping_matches_a_hand_computed_convolution():
    backbone = EfficientNetLite(0, input_shape=(9, 8, 3), stages=2)  # 3 blocks
    assert backbone.blocks == ["block0", "block1", "block2"]
    state = _random_state_dict(backbone)
    load_pytorch_weights(backbone, state)
    image = np.random.default_rng(1).uniform(0, 1, (9, 8, 3)).astype("float32")

    # Stem: normalise, 3x3 stride-2 convolution (TF "same" on 9x8), BN, ReLU6.
    normalised = (255 * image.astype("float64") - 127) / 128
    stem = _batch_norm_relu6(_conv2d(normalised, state["_conv_stem.weight"], 2), state, "_bn0")
    # Block 0: depthwise 3x3 (groups = channels), BN, ReLU6, 1x1 projection, BN.
    depthwise = _conv2d(stem, state["_blocks.0._depthwise_conv.weight"], 1, groups=32)
    depthwise = _batch_norm_relu6(depthwise, state, "_blocks.0._bn1")
    project = _conv2d(depthwise, state["_blocks.0._project_conv.weight"], 1)
    project = _batch_norm_relu6(project, state, "_blocks.0._bn2", relu=False)

    import keras

    probe = keras.Model(
        backbone.input, [backbone.get_layer(n).output for n in ("stem_relu", "block0_project_bn")]
    )
    keras_stem, keras_project = probe(image[None])
    np.testing.assert_allclose(keras_stem[0], stem, atol=1e-4)
    np.testing.assert_allclose(keras_project[0], project, atol=1e-3)


def test_weights_of_another_shape_are_refused():
    small = EfficientNetLite(0, input_shape=(32, 32, 3), stages=2)
    state = _random_state_dict(small)
    state["_conv_stem.weight"] = np.zeros((24, 3, 3, 3), "float32")
    with pytest.raises(UserError, match="not EfficientNet-Lite0 weights"):
        load_pytorch_weights(small, state)


def test_pretrained_lite0_recognises_the_cat_photo():
    import skimage.data
    import tensorflow as tf

    backbone = EfficientNetLite(0, input_shape=(224, 224, 3))
    head = load_weights(backbone, "imagenet")
    image = tf.image.resize(skimage.data.chelsea()[None], (224, 224), antialias=True) / 255.0
    features = backbone(image).numpy().mean(axis=(1, 2))
    logits = features @ head["kernel"] + head["bias"]
    top5 = [imagenet_class_names()[i] for i in np.argsort(logits[0])[::-1][:5]]
    assert any(name.split(",")[0].endswith("cat") or "tabby" in name for name in top5[:2]), top5


def test_freezing_and_unfreezing_the_top_blocks():
    import keras

    from dlapps.vision import build_image_classifier
    from dlapps.vision.pretrained_backbones import freeze, unfreeze_top

    model = build_image_classifier(
        3, (32, 32), 3, backbone="efficientnet_lite0", weights="imagenet", augment=False
    )
    backbone = model.get_layer("backbone")
    freeze(backbone)
    assert [w.path for w in model.trainable_weights] == [
        "probabilities/kernel",
        "probabilities/bias",
    ]
    unfreeze_top(backbone, blocks=2)
    trainable = {w.path.split("/")[-2] for w in model.trainable_weights}
    assert {"block14_expand_conv", "block15_depthwise", "top_conv"} <= trainable
    assert not any(n.startswith(("block13_", "stem_")) or n.endswith("_bn") for n in trainable)

    # One training step moves only what is trainable; frozen BN statistics stay put.
    frozen = backbone.get_layer("block13_expand_conv").kernel.numpy()
    moving_mean = backbone.get_layer("block15_project_bn").moving_mean.numpy()
    tuned = backbone.get_layer("block15_expand_conv").kernel.numpy()
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), "uint8")
    model.train_on_batch(images, np.arange(8) % 3)
    np.testing.assert_array_equal(backbone.get_layer("block13_expand_conv").kernel, frozen)
    np.testing.assert_array_equal(backbone.get_layer("block15_project_bn").moving_mean, moving_mean)
    assert not np.allclose(backbone.get_layer("block15_expand_conv").kernel, tuned)
