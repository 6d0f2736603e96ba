"""What a game run trains and is judged on: the environment, the collector and the episode seeds."""

import dataclasses

import numpy as np

from dlapps.game.episodes import EVALUATION_SEED


@dataclasses.dataclass
class GameData:
    """The app's data object: no fixed dataset, but an environment and a collector.

    Attributes:
        env_id: the Gymnasium id.
        agent: "ppo" or "dqn".
        factory: the `EnvironmentFactory`.
        collector: the `ExperienceSource` that collects the training
            experience with the model being trained.
        settings: the run's resolved agent settings (after presets).
        batch_size: minibatch size.
        observation_sample: observations of a random policy (training
            seeds), which adapt the observation normalisation.
        eval_episodes: how many seeded evaluation episodes score a model
            (seeds `EVALUATION_SEED + i`, which training never uses).
        labels: action names.
        goal: the return that counts as solved (the environment's
            `reward_threshold`), or `None`.
    """

    env_id: str
    agent: str
    factory: object
    collector: object
    settings: dict
    batch_size: int
    observation_sample: np.ndarray
    eval_episodes: int
    labels: list
    goal: float | None

    @property
    def eval_seeds(self):
        return list(range(EVALUATION_SEED, EVALUATION_SEED + self.eval_episodes))

    def summary(self):
        """What was trained on, for the report (`dlapps predict` and play.py read it)."""
        space = self.factory.observation_space
        return {
            "environment": self.env_id,
            "agent": self.agent,
            "observation_shape": list(space.shape),
            "observation_dtype": str(space.dtype),
            "actions": self.labels,
            "discrete": self.factory.discrete,
            "goal": self.goal,
            "evaluation_episodes": self.eval_episodes,
            "evaluation_seeds": f"{self.eval_seeds[0]}-{self.eval_seeds[-1]}",
            "settings": self.settings,
        }
