"""The exported policy: observation in, greedy action (+ probabilities or Q-values) out."""

import tensorflow as tf

from dlapps.export import Endpoint


def policy_endpoint(agent, observation_shape, observation_dtype):
    """`serving_default`: `observation` `(batch, *shape)` -> `action` and the policy's scores.

    PPO (discrete) adds `probabilities`, DQN `q_values`; a continuous PPO
    policy returns its mean action, clipped to the action bounds.
    """

    def serve(observation):
        return agent.serving_outputs(observation)

    return Endpoint(
        "serving_default",
        serve,
        [tf.TensorSpec([None, *observation_shape], observation_dtype, name="observation")],
    )


def observation_signature(agent):
    """The `tf.TensorSpec` of a batch of any size of the agent's observations."""
    network = getattr(agent, "policy_network", None) or agent.q_network
    spec = network.inputs[0]
    return tf.TensorSpec([None, *spec.shape[1:]], spec.dtype, name="observation")


def keras_policy(agent):
    """The greedy policy of a Keras agent as `callable(numpy observations) -> numpy actions`."""
    # One trace for every batch size: episodes end one by one, so the batch shrinks.
    forward = tf.function(agent.serving_outputs, input_signature=[observation_signature(agent)])

    def policy(observations):
        return forward(tf.constant(observations))["action"].numpy()

    return policy


def runner_policy(run):
    """The greedy policy of an exported model's runner (`run(inputs dict) -> outputs dict`)."""

    def policy(observations):
        return run({"observation": observations})["action"]

    return policy
