"""DQN: a Q-network trained by `model.fit` on minibatches from a replay buffer."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlapps.game")
class DQNAgent(keras.Model):
    """Deep Q-learning with a target network and double-DQN targets.

    Each `train_step` regresses `Q(s, a)` on the target
    `r + gamma * (1 - terminal) * Q_target(s', argmax_a' Q(s', a'))`
    (van Hasselt et al. 2016: the online network picks the next action,
    the target network values it, which curbs Q-learning's
    overestimation; `double=False` gives Mnih et al.'s
    `max_a' Q_target(s', a')`) with the Huber loss. Every
    `target_update_period` optimizer steps the target network becomes a
    copy of the online one.

    `fit` takes batches of dicts from a `ReplayCollector`: `observations`,
    `actions`, `rewards`, `next_observations`, `terminated` and
    `episode_return` (logged as a metric).

    Args:
        q_network: observation -> one Q-value per action.
        gamma: the discount factor.
        target_update_period: optimizer steps between target updates.
        double: double-DQN targets (default) or plain max targets.

    Example:

    >>> agent = DQNAgent(mlp((4,), 2), gamma=0.99, target_update_period=10)
    >>> agent.compile(keras.optimizers.Adam(1e-3))
    >>> agent.fit(experience_dataset(replay_collector, 64), epochs=20)  # doctest: +SKIP
    """

    def __init__(self, q_network, gamma=0.99, target_update_period=1000, double=True, **kwargs):
        super().__init__(**kwargs)
        self.q_network = q_network
        self.target_network = keras.models.clone_model(q_network)
        self.target_network.set_weights(q_network.get_weights())
        self.target_network.trainable = False
        self.gamma = gamma
        self.target_update_period = target_update_period
        self.double = double
        self.huber = keras.losses.Huber()
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in ("loss", "q_value", "episode_return")
        }
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, observations, training=False):
        return self.q_network(observations, training=training)

    def targets(self, rewards, next_observations, terminated):
        """The regression targets of a batch of transitions (no gradient flows into them)."""
        next_target_q = self.target_network(next_observations)
        if self.double:
            next_actions = tf.argmax(self.q_network(next_observations), axis=-1)
            next_q = tf.gather(next_target_q, next_actions, batch_dims=1)
        else:
            next_q = tf.reduce_max(next_target_q, axis=-1)
        not_terminal = 1.0 - tf.cast(terminated, tf.float32)
        return tf.stop_gradient(rewards + self.gamma * not_terminal * next_q)

    def update_target(self, copy=True):
        """Copies the online weights into the target network where `copy` (a bool tensor) holds."""
        for target, online in zip(self.target_network.weights, self.q_network.weights, strict=True):
            target.assign(tf.where(copy, online, target))

    def train_step(self, data):
        targets = self.targets(data["rewards"], data["next_observations"], data["terminated"])
        with tf.GradientTape() as tape:
            q_values = self.q_network(data["observations"], training=True)
            chosen = tf.gather(q_values, tf.cast(data["actions"], tf.int32), batch_dims=1)
            loss = self.huber(targets, chosen)
        gradients = tape.gradient(loss, self.q_network.trainable_weights)
        self.optimizer.apply(gradients, self.q_network.trainable_weights)
        self.update_target(self.optimizer.iterations % self.target_update_period == 0)
        self.trackers["loss"].update_state(loss)
        self.trackers["q_value"].update_state(tf.reduce_mean(chosen))
        self.trackers["episode_return"].update_state(tf.reduce_mean(data["episode_return"]))
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def serving_outputs(self, observations):
        """The greedy policy: `{"action", "q_values"}`."""
        q_values = self.q_network(observations)
        return {"action": tf.argmax(q_values, axis=-1, output_type=tf.int32), "q_values": q_values}

    def get_config(self):
        return {
            **super().get_config(),
            "q_network": keras.saving.serialize_keras_object(self.q_network),
            "gamma": self.gamma,
            "target_update_period": self.target_update_period,
            "double": self.double,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["q_network"] = keras.saving.deserialize_keras_object(config["q_network"])
        return cls(**config)
