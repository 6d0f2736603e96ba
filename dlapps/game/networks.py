"""The agents' networks: an MLP for vector observations, the Nature-DQN CNN for stacked frames."""

import keras
import numpy as np


def observation_input(observation_shape, dtype):
    """The `keras.Input` of one observation (e.g. `(4,)` float32 or `(4, 84, 84)` uint8)."""
    return keras.Input(shape=tuple(observation_shape), dtype=dtype, name="observation")


def observation_normalizer(observations):
    """A `Normalization` layer adapted on sample observations, so exports carry the scaling.

    A feature that never varied in the sample (a constant flag) keeps a
    variance of 1 instead of 0.
    """
    observations = np.asarray(observations, np.float32)
    variance = observations.var(axis=0)
    variance = np.where(variance < 1e-6, 1.0, variance)
    return keras.layers.Normalization(
        mean=observations.mean(axis=0), variance=variance, name="observation_normalization"
    )


def mlp(
    observation_shape,
    outputs,
    hidden=(64, 64),
    activation="tanh",
    normalizer=None,
    output_scale=1.0,
    name="mlp",
):
    """`observation -> hidden tanh layers -> outputs` (orthogonal initialisation, as PPO uses).

    The last layer's initial weights are scaled by `output_scale` (0.01 for
    a policy, so that the first actions are close to uniform; 1 for values).
    """
    inputs = observation_input(observation_shape, "float32")
    x = normalizer(inputs) if normalizer is not None else inputs
    for index, units in enumerate(hidden):
        x = keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=keras.initializers.Orthogonal(np.sqrt(2.0)),
            name=f"hidden_{index}",
        )(x)
    x = keras.layers.Dense(
        outputs, kernel_initializer=keras.initializers.Orthogonal(output_scale), name="output"
    )(x)
    return keras.Model(inputs, x, name=name)


def nature_cnn(observation_shape, outputs, name="nature_cnn"):
    """The DQN network of Mnih et al. (2015) on `(frames, 84, 84)` uint8 stacks.

    Frames are channels: 32 8x8 filters stride 4, 64 4x4 stride 2, 64 3x3
    stride 1, a 512-unit dense layer and one output per action. Pixels are
    scaled to [0, 1] inside the network.
    """
    inputs = observation_input(observation_shape, "uint8")
    x = keras.layers.Permute((2, 3, 1), name="frames_last")(inputs)
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(x)
    x = keras.layers.Conv2D(32, 8, strides=4, activation="relu", name="conv_0")(x)
    x = keras.layers.Conv2D(64, 4, strides=2, activation="relu", name="conv_1")(x)
    x = keras.layers.Conv2D(64, 3, strides=1, activation="relu", name="conv_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(512, activation="relu", name="hidden")(x)
    x = keras.layers.Dense(outputs, name="output")(x)
    return keras.Model(inputs, x, name=name)
