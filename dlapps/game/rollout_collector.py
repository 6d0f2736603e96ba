"""PPO's experience: rollouts of the current policy in vectorised environments, with GAE."""

import numpy as np
import tensorflow as tf

from dlapps.experience import ExperienceSource
from dlapps.game.experience_stats import ExperienceStats
from dlapps.game.gae import generalized_advantages
from dlapps.game.serving import observation_signature


class RolloutCollector(ExperienceSource):
    """Runs the current policy for `rollout_steps` in `num_envs` environments per rollout.

    The policy runs as a `tf.function` on the whole vector of
    observations; actions are sampled in numpy from a seeded generator.
    Each Keras epoch is `rollouts_per_epoch` rollouts, each followed by
    `update_epochs` shuffled passes of minibatches over it.

    Args:
        factory: an `EnvironmentFactory`.
        num_envs, rollout_steps: a rollout is `num_envs * rollout_steps` steps.
        rollouts_per_epoch: rollouts per Keras epoch.
        update_epochs: passes over each rollout.
        gamma, gae_lambda: see `generalized_advantages`.
        seed: seeds the environments (`seed`, `seed + 1`, ...) and sampling.

    Example:

    >>> collector = RolloutCollector(EnvironmentFactory("CartPole-v1"), 8, 32, 10, 20, 0.98, 0.8, 0)
    >>> collector.model = agent
    >>> agent.fit(experience_dataset(collector, 256), epochs=40)  # doctest: +SKIP
    """

    def __init__(
        self,
        factory,
        num_envs,
        rollout_steps,
        rollouts_per_epoch,
        update_epochs,
        gamma,
        gae_lambda,
        seed,
    ):
        self.factory = factory
        self.num_envs = num_envs
        self.rollout_steps = rollout_steps
        self.rollouts_per_epoch = rollouts_per_epoch
        self.update_epochs = update_epochs
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.stats = ExperienceStats()
        self.environments = None
        self.observations = None
        self.episode_returns = np.zeros(num_envs)
        self._model = None
        self._forward = None
        space = factory.observation_space
        action_shape = () if factory.discrete else factory.action_space.shape
        self.element_spec = {
            "observations": tf.TensorSpec(space.shape, tf.as_dtype(space.dtype)),
            "actions": tf.TensorSpec(action_shape, tf.int32 if factory.discrete else tf.float32),
            "log_probs": tf.TensorSpec((), tf.float32),
            "advantages": tf.TensorSpec((), tf.float32),
            "returns": tf.TensorSpec((), tf.float32),
            "episode_return": tf.TensorSpec((), tf.float32),
        }

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, model):
        self._model = model
        self._forward = tf.function(
            model.policy_and_value, input_signature=[observation_signature(model)]
        )

    def _policy(self, observations):
        outputs, values = self._forward(tf.constant(observations))
        return outputs.numpy().astype(np.float64), values.numpy().astype(np.float64)

    def _sample(self, outputs):
        """Actions and their log-probabilities under the policy `outputs`."""
        if self.factory.discrete:
            log_policy = outputs - outputs.max(axis=1, keepdims=True)
            log_policy -= np.log(np.exp(log_policy).sum(axis=1, keepdims=True))
            gumbel = -np.log(-np.log(self.rng.uniform(1e-12, 1.0, outputs.shape)))
            actions = np.argmax(log_policy + gumbel, axis=1)
            return actions.astype(np.int32), log_policy[np.arange(len(actions)), actions]
        log_std = np.asarray(self._model.log_std.numpy(), np.float64)
        noise = self.rng.standard_normal(outputs.shape)
        actions = outputs + np.exp(log_std) * noise
        log_probs = (-0.5 * noise**2 - log_std - 0.5 * np.log(2 * np.pi)).sum(axis=1)
        return actions.astype(np.float32), log_probs

    def _environment_actions(self, actions):
        if self.factory.discrete:
            return actions
        space = self.factory.action_space
        return np.clip(actions, space.low, space.high)

    def collect(self):
        """One rollout: returns dict name -> flat array of `num_envs * rollout_steps` examples."""
        started = self.stats.start_collecting()
        if self.environments is None:
            self.environments = self.factory.make_vector(self.num_envs, self.seed)
            self.observations, _ = self.environments.reset(
                seed=[self.seed + i for i in range(self.num_envs)]
            )
        steps, envs = self.rollout_steps, self.num_envs
        shape, dtype = self.observations.shape[1:], self.observations.dtype
        observations = np.zeros((steps, envs, *shape), dtype)
        actions, log_probs = [], np.zeros((steps, envs))
        rewards, values = np.zeros((steps, envs)), np.zeros((steps, envs))
        next_values = np.zeros((steps, envs))
        terminated, episode_ends = np.zeros((steps, envs), bool), np.zeros((steps, envs), bool)
        for t in range(steps):
            outputs, values[t] = self._policy(self.observations)
            if t > 0:
                next_values[t - 1] = np.where(episode_ends[t - 1], next_values[t - 1], values[t])
            observations[t] = self.observations
            action, log_probs[t] = self._sample(outputs)
            actions.append(action)
            self.observations, rewards[t], terminated[t], truncated, info = self.environments.step(
                self._environment_actions(action)
            )
            episode_ends[t] = terminated[t] | truncated
            self.stats.env_steps += envs
            self.episode_returns += rewards[t]
            for index in np.flatnonzero(episode_ends[t]):
                self.stats.episode_finished(self.episode_returns[index])
                self.episode_returns[index] = 0.0
            cut = np.flatnonzero(truncated & ~terminated[t])
            if len(cut):
                # A time limit is no terminal state: bootstrap from the last observation's value.
                final = np.stack([info["final_obs"][i] for i in cut])
                next_values[t, cut] = self._policy(final)[1]
        _, last_values = self._policy(self.observations)
        next_values[-1] = np.where(episode_ends[-1], next_values[-1], last_values)
        advantages, returns = generalized_advantages(
            rewards, values, next_values, terminated, episode_ends, self.gamma, self.gae_lambda
        )
        count = steps * envs
        rollout = {
            "observations": observations.reshape(count, *observations.shape[2:]),
            "actions": np.stack(actions).reshape(count, *np.shape(actions[0])[1:]),
            "log_probs": log_probs.reshape(count).astype(np.float32),
            "advantages": advantages.reshape(count),
            "returns": returns.reshape(count),
            "episode_return": np.full(count, self.stats.recent_return(), np.float32),
        }
        self.stats.stop_collecting(started)
        return rollout

    def batches_per_epoch(self, batch_size):
        count = self.num_envs * self.rollout_steps
        return self.rollouts_per_epoch * self.update_epochs * (count // min(batch_size, count))

    def epoch_batches(self, batch_size):
        for _ in range(self.rollouts_per_epoch):
            rollout = self.collect()
            count = len(rollout["log_probs"])
            size = min(batch_size, count)
            for _ in range(self.update_epochs):
                order = self.rng.permutation(count)
                for start in range(0, count - size + 1, size):
                    chosen = order[start : start + size]
                    yield {name: value[chosen] for name, value in rollout.items()}
                    self.stats.batch_served()
