"""DQN's experience: epsilon-greedy steps into a replay buffer, minibatches sampled from it."""

import numpy as np
import tensorflow as tf

from dlapps.experience import ExperienceSource
from dlapps.game.experience_stats import ExperienceStats
from dlapps.game.replay_buffer import ReplayBuffer
from dlapps.game.serving import observation_signature


class ReplayCollector(ExperienceSource):
    """Plays epsilon-greedy in `num_envs` environments and serves minibatches from a replay buffer.

    Each Keras epoch is `collections_per_epoch` rounds of `collect_steps`
    steps in every environment, each followed by one minibatch per
    `train_every` environment steps. Epsilon falls linearly from 1 to
    `final_epsilon` over the first `exploration_steps` environment steps.
    Training starts once the buffer holds `learning_starts` transitions.

    Args:
        factory: an `EnvironmentFactory`.
        num_envs: environments stepped together.
        buffer_size: replay capacity in transitions.
        learning_starts: transitions collected before the first minibatch.
        collect_steps: steps per environment per collection.
        collections_per_epoch: collections per Keras epoch.
        train_every: environment steps per minibatch.
        exploration_steps, final_epsilon: the epsilon schedule.
        seed: seeds the environments, exploration and sampling.
        clip_rewards: train on the reward's sign (Atari, as in the Nature
            paper); returns are reported unclipped.

    Example:

    >>> collector = ReplayCollector(EnvironmentFactory("CartPole-v1"), 4, 100_000, 1000,
    ...                             64, 4, 2, 10_000, 0.04, 0)
    >>> collector.model = agent
    """

    def __init__(
        self,
        factory,
        num_envs,
        buffer_size,
        learning_starts,
        collect_steps,
        collections_per_epoch,
        train_every,
        exploration_steps,
        final_epsilon,
        seed,
        clip_rewards=False,
    ):
        self.factory = factory
        self.num_envs = num_envs
        self.buffer = ReplayBuffer(buffer_size)
        self.learning_starts = learning_starts
        self.collect_steps = collect_steps
        self.collections_per_epoch = collections_per_epoch
        self.train_every = train_every
        self.exploration_steps = exploration_steps
        self.final_epsilon = final_epsilon
        self.seed = seed
        self.clip_rewards = clip_rewards
        self.rng = np.random.default_rng(seed)
        self.stats = ExperienceStats()
        self.environments = None
        self.observations = None
        self.episode_returns = np.zeros(num_envs)
        self._model = None
        self._forward = None
        space = factory.observation_space
        observation_spec = tf.TensorSpec(space.shape, tf.as_dtype(space.dtype))
        self.element_spec = {
            "observations": observation_spec,
            "actions": tf.TensorSpec((), tf.int32),
            "rewards": tf.TensorSpec((), tf.float32),
            "next_observations": observation_spec,
            "terminated": tf.TensorSpec((), tf.bool),
            "episode_return": tf.TensorSpec((), tf.float32),
        }

    def batches_per_epoch(self, batch_size):
        return self.collections_per_epoch * max(
            1, self.collect_steps * self.num_envs // self.train_every
        )

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, model):
        self._model = model
        self._forward = tf.function(model.q_network, input_signature=[observation_signature(model)])

    def epsilon(self):
        progress = min(1.0, self.stats.env_steps / max(1, self.exploration_steps))
        return 1.0 + progress * (self.final_epsilon - 1.0)

    def collect(self, steps):
        """Steps every environment `steps` times, adding the transitions to the buffer."""
        started = self.stats.start_collecting()
        if self.environments is None:
            self.environments = self.factory.make_vector(self.num_envs, self.seed)
            self.observations, _ = self.environments.reset(
                seed=[self.seed + i for i in range(self.num_envs)]
            )
        for _ in range(steps):
            actions = np.argmax(self._forward(tf.constant(self.observations)).numpy(), axis=1)
            explore = self.rng.uniform(size=self.num_envs) < self.epsilon()
            random_actions = self.rng.integers(0, self.factory.num_actions, self.num_envs)
            actions = np.where(explore, random_actions, actions).astype(np.int32)
            next_observations, rewards, terminated, truncated, info = self.environments.step(
                actions
            )
            ends = terminated | truncated
            stored_next = next_observations.copy()
            for index in np.flatnonzero(ends):
                stored_next[index] = info["final_obs"][index]
            self.buffer.add(
                {
                    "observations": self.observations,
                    "actions": actions,
                    "rewards": (np.sign(rewards) if self.clip_rewards else rewards).astype(
                        np.float32
                    ),
                    "next_observations": stored_next,
                    "terminated": terminated,
                }
            )
            self.observations = next_observations
            self.stats.env_steps += self.num_envs
            self.episode_returns += rewards
            for index in np.flatnonzero(ends):
                self.stats.episode_finished(self.episode_returns[index])
                self.episode_returns[index] = 0.0
        self.stats.stop_collecting(started)

    def epoch_batches(self, batch_size):
        for _ in range(self.collections_per_epoch):
            self.collect(self.collect_steps)
            while len(self.buffer) < self.learning_starts:
                self.collect(self.collect_steps)
            for _ in range(max(1, self.collect_steps * self.num_envs // self.train_every)):
                batch = self.buffer.sample(batch_size, self.rng)
                batch["episode_return"] = np.full(
                    batch_size, self.stats.recent_return(), np.float32
                )
                yield batch
                self.stats.batch_served()
