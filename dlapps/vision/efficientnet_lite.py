"""EfficientNet-Lite: the mobile EfficientNet that TFLite Model Maker fine-tunes by default."""

import math

import keras

# Per stage: (depthwise kernel, first stride, expansion, output channels, repeats), as in
# Tan & Le (2019), EfficientNet-B0; the Lite variants share it.
STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
# variant -> (width multiplier, depth multiplier, input resolution, dropout).
VARIANTS = {0: (1.0, 1.0, 224, 0.2), 1: (1.0, 1.1, 240, 0.2), 2: (1.1, 1.2, 260, 0.3)}
STEM_CHANNELS = 32
TOP_CHANNELS = 1280
# The TensorFlow training recipe's batch-norm epsilon (PyTorch's default would be 1e-5).
BATCH_NORM_EPSILON = 1e-3


def round_channels(channels, width_multiplier, divisor=8):
    """Scales a channel count and rounds it to a multiple of 8, as the reference code does."""
    channels *= width_multiplier
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * channels else rounded)


def block_settings(variant, stages=None):
    """The MBConv blocks of a variant's first `stages` stages (all by default).

    Each block is `(kernel, stride, expansion, in_channels, out_channels)`.

    Lite keeps the first and last stages' repeats and the stem and top
    widths fixed (they are scaled in EfficientNet-B1..B7).

    Example:

    >>> len(block_settings(0)), block_settings(0)[0]
    (16, (3, 1, 1, 32, 16))
    """
    width, depth, _, _ = VARIANTS[variant]
    blocks, in_channels = [], STEM_CHANNELS
    for stage, (kernel, stride, expansion, channels, repeats) in enumerate(
        STAGES[: stages or len(STAGES)]
    ):
        out_channels = round_channels(channels, width)
        if 0 < stage < len(STAGES) - 1:
            repeats = int(math.ceil(depth * repeats))
        for repeat in range(repeats):
            blocks.append(
                (kernel, stride if repeat == 0 else 1, expansion, in_channels, out_channels)
            )
            in_channels = out_channels
    return blocks


@keras.saving.register_keras_serializable(package="dlapps")
class EfficientNetLite(keras.Model):
    """EfficientNet-Lite0/1/2 feature extractor: images in 0..1 -> a 1280-channel feature map.

    EfficientNet-Lite (Tan & Le 2019; TensorFlow's `efficientnet/lite`) is
    EfficientNet without squeeze-and-excitation, with ReLU6 instead of swish
    and with a fixed stem and top: friendly to int8 quantization, and the
    default backbone of TFLite Model Maker. Blocks are mobile inverted
    bottlenecks: 1x1 expansion, depthwise KxK, 1x1 linear projection, with
    a residual connection where the shape allows.

    The model normalises its input itself, the way the ImageNet weights
    were trained: pixel values `(255 * x - 127) / 128`. Convolutions pad
    like TensorFlow's "same" (for a stride of 2 on an even size: nothing
    before, the rest after), which is how the reference weights were
    trained; PyTorch ports of them emulate that padding.

    Layer names follow the blocks: `stem_conv`, `block{i}_expand`,
    `block{i}_depthwise`, `block{i}_project` (each with a `_bn`), `top_conv`,
    so that `dlapps.vision.efficientnet_lite_weights` can map weights and
    `trainable_from_block` can unfreeze the top of the network.

    Args:
        variant: 0, 1 or 2 (native resolution 224, 240, 260).
        input_shape: `(height, width, 3)`; height and width may be `None`.
        stages: how many of the seven stages to build (`None`: all; fewer for tests).
        batch_norm_momentum: moving-average momentum of the batch norms.

    Example:

    >>> backbone = EfficientNetLite(variant=0, input_shape=(224, 224, 3))
    >>> backbone(np.zeros((1, 224, 224, 3), "float32")).shape
    TensorShape([1, 7, 7, 1280])
    >>> len(backbone.blocks)
    16
    """

    def __init__(
        self,
        variant=0,
        input_shape=(None, None, 3),
        stages=None,
        batch_norm_momentum=0.99,
        **kwargs,
    ):
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}: choose 0, 1 or 2")
        # Layers and functional model.
        inputs = keras.Input(tuple(input_shape), name="pixels")
        x = keras.layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="normalize")(inputs)
        x = _conv_bn(x, STEM_CHANNELS, 3, 2, "stem", batch_norm_momentum, activation=True)
        block_names = []
        for index, (kernel, stride, expansion, in_channels, out_channels) in enumerate(
            block_settings(variant, stages)
        ):
            name = f"block{index}"
            shortcut = x
            if expansion != 1:
                x = _conv_bn(
                    x, in_channels * expansion, 1, 1, f"{name}_expand", batch_norm_momentum, True
                )
            x = keras.layers.DepthwiseConv2D(
                kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise"
            )(x)
            x = keras.layers.BatchNormalization(
                momentum=batch_norm_momentum,
                epsilon=BATCH_NORM_EPSILON,
                name=f"{name}_depthwise_bn",
            )(x)
            x = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
            x = _conv_bn(x, out_channels, 1, 1, f"{name}_project", batch_norm_momentum, False)
            if stride == 1 and in_channels == out_channels:
                x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
            block_names.append(name)
        outputs = _conv_bn(x, TOP_CHANNELS, 1, 1, "top", batch_norm_momentum, activation=True)
        super().__init__(inputs, outputs, **kwargs)
        # Config.
        self.variant = variant
        self.image_input_shape = tuple(input_shape)
        self.stages = stages
        self.batch_norm_momentum = batch_norm_momentum
        self.blocks = block_names

    @property
    def native_resolution(self):
        """The resolution the ImageNet weights were trained at (224 for Lite0)."""
        return VARIANTS[self.variant][2]

    def trainable_from_block(self, first_block, train_batch_norm=False):
        """Freezes the stem and the blocks before `first_block`; the rest trains.

        `first_block` counts from the input: 0 trains every block,
        `len(blocks)` only the top convolution. Batch norms stay frozen
        unless `train_batch_norm`, as Keras' transfer-learning guide advises
        for small datasets: a frozen `BatchNormalization` runs in inference
        mode, so its ImageNet statistics are neither used from the batch
        nor overwritten by a few small batches.

        Example:

        >>> backbone.trainable_from_block(len(backbone.blocks) - 4)
        """
        self.trainable = True
        trainable_prefixes = tuple(f"{b}_" for b in self.blocks[first_block:]) + ("top_",)
        for layer in self.layers:
            is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
            layer.trainable = layer.name.startswith(trainable_prefixes) and (
                train_batch_norm or not is_batch_norm
            )

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "variant": self.variant,
            "input_shape": self.image_input_shape,
            "stages": self.stages,
            "batch_norm_momentum": self.batch_norm_momentum,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _conv_bn(x, filters, kernel, stride, name, momentum, activation):
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=momentum, epsilon=BATCH_NORM_EPSILON, name=f"{name}_bn"
    )(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x) if activation else x
