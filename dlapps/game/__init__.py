"""Game playing: PPO and DQN agents trained by `model.fit` on experience from Gymnasium.

Example:

>>> from dlapps import game
>>> factory = game.EnvironmentFactory("CartPole-v1")
>>> collector = game.RolloutCollector(factory, 8, 32, 10, 20, gamma=0.98, gae_lambda=0.8, seed=1)
>>> agent = game.PPOAgent(game.mlp((4,), 2, output_scale=0.01), game.mlp((4,), 1))
>>> collector.model = agent
>>> agent.compile(keras.optimizers.Adam(1e-3))
>>> agent.fit(experience_dataset(collector, 256), epochs=40)  # doctest: +SKIP
"""

from dlapps.game.dqn_agent import DQNAgent
from dlapps.game.environment_factory import EnvironmentFactory
from dlapps.game.episodes import play_episodes, random_policy, record_episode
from dlapps.game.gae import generalized_advantages
from dlapps.game.game_app import GameApp
from dlapps.game.networks import mlp, nature_cnn, observation_normalizer
from dlapps.game.ppo_agent import PPOAgent, clipped_surrogate_loss
from dlapps.game.replay_buffer import ReplayBuffer
from dlapps.game.replay_collector import ReplayCollector
from dlapps.game.rollout_collector import RolloutCollector
from dlapps.game.serving import keras_policy

__all__ = [
    "DQNAgent",
    "EnvironmentFactory",
    "GameApp",
    "PPOAgent",
    "ReplayBuffer",
    "ReplayCollector",
    "RolloutCollector",
    "clipped_surrogate_loss",
    "generalized_advantages",
    "keras_policy",
    "mlp",
    "nature_cnn",
    "observation_normalizer",
    "play_episodes",
    "random_policy",
    "record_episode",
]
