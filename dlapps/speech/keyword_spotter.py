"""The keyword spotter: raw waveform -> log-mel -> DS-CNN -> class probabilities."""

import keras

from dlapps.speech.band_energy_normalization import BandEnergyNormalization
from dlapps.speech.frequency_warp import FrequencyWarp
from dlapps.speech.log_mel_spectrogram import LogMelSpectrogram
from dlapps.speech.spec_augment import SpecAugment
from dlapps.speech.synthesizer import SAMPLE_RATE

# Short trainings: Keras' default 0.99 leaves the moving statistics far from
# the data after a few hundred steps (measured: 8% inference accuracy).
BATCH_NORM_MOMENTUM = 0.9


def _conv_bn_relu(x, layer, name):
    x = layer(x)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def ds_cnn(features, filters=64, blocks=4, dropout=0.2):
    """The DS-CNN of MLPerf Tiny's keyword-spotting reference model.

    A strided 10x4 convolution, then `blocks` depthwise-separable blocks
    (3x3 depthwise conv and 1x1 pointwise conv, each with batch norm and
    ReLU), then global average pooling. Depthwise-separable convolutions
    split a full convolution into a per-channel spatial filter and a
    channel mixer, for about a ninth of the multiply-adds.

    Args:
        features: a Keras tensor `(batch, frames, mel_bins, 1)`.
        filters: channels of every layer.
        blocks: depthwise-separable blocks.
        dropout: applied before and after the blocks, as in the reference.

    Returns:
        The pooled features `(batch, filters)`.
    """
    x = keras.layers.Dropout(dropout, name="input_dropout")(features)
    x = _conv_bn_relu(
        x,
        keras.layers.Conv2D(
            filters, (10, 4), strides=2, padding="same", use_bias=False, name="stem_conv"
        ),
        name="stem",
    )
    for block in range(blocks):
        x = _conv_bn_relu(
            x,
            keras.layers.DepthwiseConv2D(
                3, padding="same", use_bias=False, name=f"block{block}_depthwise"
            ),
            name=f"block{block}_depthwise",
        )
        x = _conv_bn_relu(
            x,
            keras.layers.Conv2D(filters, 1, use_bias=False, name=f"block{block}_pointwise"),
            name=f"block{block}_pointwise",
        )
    x = keras.layers.Dropout(dropout, name="top_dropout")(x)
    return keras.layers.GlobalAveragePooling2D(name="pool")(x)


# 20 bands cost half of 40 in every DS-CNN layer; on the held-out voices they
# were as accurate (benchmarks/RESULTS.md).
MEL_BINS = 20
# Vocal tract length perturbation's usual range (Jaitly and Hinton, 2013): 0.9-1.1.
FREQUENCY_WARP = 0.1


def build_keyword_spotter(
    num_classes,
    clip_samples=SAMPLE_RATE,
    filters=64,
    blocks=4,
    mel_bins=MEL_BINS,
    spec_augment=True,
    frequency_warp=FREQUENCY_WARP,
    energy_norm=True,
):
    """Builds a keyword spotter that takes raw float32 waveforms.

    Layers: `LogMelSpectrogram` (in-graph front end), `FrequencyWarp`
    (training only: each clip's spectrum stretched by up to
    `frequency_warp`, as a longer or shorter vocal tract would),
    `BandEnergyNormalization` (each band divided by its mean energy over the
    clip: loudness and spectral tilt of voice and microphone removed), batch
    normalization of the features (a learned per-band offset and scale),
    SpecAugment masks (training only: two bands of up to `mel_bins // 7`
    mel bins, two spans of up to 4 frames), the DS-CNN and a softmax over
    the classes.

    Args:
        num_classes: number of labels, including `_silence_` and `_unknown_`.
        clip_samples: waveform length; 16,000 = one second at 16 kHz.
        filters, blocks: DS-CNN size (see `ds_cnn`).
        mel_bins: mel bands of the front end; the DS-CNN's cost grows with
            them.
        spec_augment: add the SpecAugment layer (identity at inference).
        frequency_warp: largest relative stretch of the frequency axis while
            training (0.1: 0.9-1.1x); 0 leaves the layer out.
        energy_norm: add `BandEnergyNormalization` after the front end.

    Returns:
        An uncompiled `keras.Model` from `(batch, clip_samples)` float32 in
        [-1, 1] to class probabilities `(batch, num_classes)`.

    Example:

    >>> model = build_keyword_spotter(12)
    >>> model.predict(np.zeros((2, 16000), "float32"), verbose=0).shape
    (2, 12)
    """
    inputs = keras.Input((clip_samples,), dtype="float32", name="waveforms")
    features = LogMelSpectrogram(num_mel_bins=mel_bins, name="log_mel")(inputs)
    if frequency_warp:
        features = FrequencyWarp(mel_bins, frequency_warp, name="frequency_warp")(features)
    if energy_norm:
        features = BandEnergyNormalization(name="energy_norm")(features)
    features = keras.layers.BatchNormalization(
        momentum=BATCH_NORM_MOMENTUM, axis=2, name="feature_norm"
    )(features)
    if spec_augment:
        features = SpecAugment(
            frequency_width=max(1, mel_bins // 7), time_width=4, name="spec_augment"
        )(features)
    x = ds_cnn(features, filters=filters, blocks=blocks)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="keyword_spotter")
