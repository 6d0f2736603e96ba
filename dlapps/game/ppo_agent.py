"""PPO: a policy and a value network trained by `model.fit` on the policy's own rollouts."""

import keras
import numpy as np
import tensorflow as tf


def clipped_surrogate_loss(ratio, advantages, clip_ratio):
    """PPO's clipped objective, negated to a loss (Schulman et al. 2017, eq. 7).

    `-mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A))`: a step
    gains nothing from moving the probability ratio of an action beyond
    `1 +- eps` in the direction its advantage favours, which keeps each
    update close to the policy that collected the data.

    Example:

    >>> float(clipped_surrogate_loss(tf.constant([1.5]), tf.constant([1.0]), 0.2))
    -1.2
    """
    clipped = tf.clip_by_value(ratio, 1.0 - clip_ratio, 1.0 + clip_ratio)
    return -tf.reduce_mean(tf.minimum(ratio * advantages, clipped * advantages))


@keras.saving.register_keras_serializable(package="dlapps.game")
class PPOAgent(keras.Model):
    """Proximal policy optimisation: clipped objective, GAE advantages, value and entropy terms.

    Discrete actions: the policy network returns one logit per action
    (a categorical policy). Continuous actions: it returns the mean of a
    Gaussian whose log standard deviation is a trained vector of its own;
    actions are clipped to the action space's bounds in the environment.
    The greedy (deterministic) policy takes the most probable action, or
    the mean.

    `fit` takes batches of dicts from a `RolloutCollector`:
    `observations`, `actions`, `log_probs` (of the collecting policy),
    `advantages`, `returns` (value targets) and `episode_return` (the
    recent training episodes' mean return, logged as a metric).

    Args:
        policy_network: observation -> logits (discrete) or action means.
        value_network: observation -> one value.
        discrete: whether the actions are discrete.
        clip_ratio: PPO's epsilon.
        value_coefficient, entropy_coefficient: weights of the value loss
            and of the entropy bonus.
        action_low, action_high: bounds of continuous actions.
        initial_log_std: starting log standard deviation (continuous).

    Example:

    >>> agent = PPOAgent(mlp((4,), 2, output_scale=0.01), mlp((4,), 1))
    >>> agent.compile(keras.optimizers.Adam(1e-3))
    >>> agent.fit(experience_dataset(collector, 256), epochs=40)  # doctest: +SKIP
    >>> agent.serving_outputs(np.zeros((1, 4), "float32"))["action"]  # doctest: +SKIP
    """

    def __init__(
        self,
        policy_network,
        value_network,
        discrete=True,
        clip_ratio=0.2,
        value_coefficient=0.5,
        entropy_coefficient=0.0,
        action_low=None,
        action_high=None,
        initial_log_std=-0.5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.policy_network = policy_network
        self.value_network = value_network
        self.discrete = discrete
        self.clip_ratio = clip_ratio
        self.value_coefficient = value_coefficient
        self.entropy_coefficient = entropy_coefficient
        self.action_low = None if action_low is None else [float(v) for v in action_low]
        self.action_high = None if action_high is None else [float(v) for v in action_high]
        self.initial_log_std = initial_log_std
        if not discrete:
            self.log_std = self.add_weight(
                shape=(int(policy_network.outputs[0].shape[-1]),),
                initializer=keras.initializers.Constant(initial_log_std),
                name="log_std",
            )
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (
                "loss",
                "policy_loss",
                "value_loss",
                "entropy",
                "approx_kl",
                "clip_fraction",
                "episode_return",
            )
        }
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, observations, training=False):
        return self.policy_network(observations, training=training)

    def policy_and_value(self, observations):
        """`(logits or means, values)` for a batch of observations (for collection)."""
        return self.policy_network(observations), self.value_network(observations)[:, 0]

    def log_probs_and_entropy(self, outputs, actions):
        """Log-probabilities of `actions` under the policy `outputs`, and the policy's entropy."""
        if self.discrete:
            log_policy = tf.nn.log_softmax(outputs)
            chosen = tf.gather(log_policy, tf.cast(actions, tf.int32), batch_dims=1)
            entropy = -tf.reduce_sum(tf.exp(log_policy) * log_policy, axis=-1)
            return chosen, entropy
        log_std = tf.broadcast_to(self.log_std, tf.shape(outputs))
        variance = tf.exp(2.0 * log_std)
        log_prob = -0.5 * ((actions - outputs) ** 2 / variance + 2.0 * log_std + np.log(2 * np.pi))
        entropy = tf.reduce_sum(log_std + 0.5 * np.log(2 * np.pi * np.e), axis=-1)
        return tf.reduce_sum(log_prob, axis=-1), entropy

    def train_step(self, data):
        advantages = data["advantages"]
        # Normalised per minibatch, as the PPO implementations do.
        advantages = (advantages - tf.reduce_mean(advantages)) / (
            tf.math.reduce_std(advantages) + 1e-8
        )
        with tf.GradientTape() as tape:
            outputs = self.policy_network(data["observations"], training=True)
            values = self.value_network(data["observations"], training=True)[:, 0]
            log_probs, entropy = self.log_probs_and_entropy(outputs, data["actions"])
            log_ratio = log_probs - data["log_probs"]
            ratio = tf.exp(log_ratio)
            policy_loss = clipped_surrogate_loss(ratio, advantages, self.clip_ratio)
            value_loss = 0.5 * tf.reduce_mean((data["returns"] - values) ** 2)
            entropy = tf.reduce_mean(entropy)
            loss = (
                policy_loss
                + self.value_coefficient * value_loss
                - self.entropy_coefficient * entropy
            )
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        values = {
            "loss": loss,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            # The low-variance KL estimator (ratio - 1) - log(ratio), Schulman's "k3".
            "approx_kl": tf.reduce_mean((ratio - 1.0) - log_ratio),
            "clip_fraction": tf.reduce_mean(
                tf.cast(tf.abs(ratio - 1.0) > self.clip_ratio, tf.float32)
            ),
            "episode_return": tf.reduce_mean(data["episode_return"]),
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def serving_outputs(self, observations):
        """The greedy policy: `{"action", "probabilities"}` (discrete) or `{"action"}` (means)."""
        outputs = self.policy_network(observations)
        if self.discrete:
            return {
                "action": tf.argmax(outputs, axis=-1, output_type=tf.int32),
                "probabilities": tf.nn.softmax(outputs),
            }
        action = outputs
        if self.action_low is not None:
            action = tf.clip_by_value(action, self.action_low, self.action_high)
        return {"action": action}

    def get_config(self):
        return {
            **super().get_config(),
            "policy_network": keras.saving.serialize_keras_object(self.policy_network),
            "value_network": keras.saving.serialize_keras_object(self.value_network),
            "discrete": self.discrete,
            "clip_ratio": self.clip_ratio,
            "value_coefficient": self.value_coefficient,
            "entropy_coefficient": self.entropy_coefficient,
            "action_low": self.action_low,
            "action_high": self.action_high,
            "initial_log_std": self.initial_log_std,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("policy_network", "value_network"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)
