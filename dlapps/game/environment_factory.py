"""Seeded Gymnasium environments with the standard wrappers, one or many at a time."""

import importlib.util

import gymnasium
import numpy as np

from dlapps.errors import UserError

# Environment ids that need an extra package, and the pip line that installs it.
EXTRAS = {
    "ALE/": ("ale_py", "pip install ale-py opencv-python-headless"),
    "LunarLander": ("Box2D", "pip install box2d"),
    "BipedalWalker": ("Box2D", "pip install box2d"),
    "CarRacing": ("Box2D", "pip install box2d"),
    "MuJoCo": ("mujoco", "pip install mujoco"),
}


def _register_atari():
    import ale_py

    gymnasium.register_envs(ale_py)


class EnvironmentFactory:
    """Makes seeded Gymnasium environments of one id, wrapped the standard way.

    Atari ids (`ALE/...`) get `AtariPreprocessing` (no-op starts, 4-frame
    skip with max-pooling, 84x84 greyscale) and `FrameStackObservation` (the
    last 4 frames), as in the Nature DQN paper; the frame skip lives in
    the wrapper, so the ALE environment is made with `frameskip=1`. Every
    environment records its episode returns (`RecordEpisodeStatistics`).
    Episode `i` of a seed is reproducible: `make(seed)` seeds the
    environment's first reset, and the action space too.

    Args:
        env_id: a registered Gymnasium id, e.g. `"CartPole-v1"`,
            `"LunarLander-v3"` or `"ALE/Pong-v5"`.
        frame_stack: frames per Atari observation.

    Raises:
        UserError: the id is unknown, or its extra package is not installed.

    Example:

    >>> factory = EnvironmentFactory("CartPole-v1")
    >>> environment = factory.make(seed=0)
    >>> observation, info = environment.reset(seed=0)
    >>> observation.shape
    (4,)
    """

    def __init__(self, env_id, frame_stack=4):
        self.env_id = env_id
        self.frame_stack = frame_stack
        self.atari = env_id.startswith("ALE/")
        for prefix, (module, install) in EXTRAS.items():
            if env_id.startswith(prefix) and importlib.util.find_spec(module) is None:
                raise UserError(f"environment {env_id!r} needs the {module} package: {install}")
        if self.atari:
            _register_atari()
        try:
            gymnasium.spec(env_id)
        except gymnasium.error.Error as error:
            raise UserError(
                f"unknown environment {env_id!r} ({str(error).strip()}): use a Gymnasium id "
                "such as CartPole-v1, LunarLander-v3 (pip install box2d) or ALE/Pong-v5 "
                "(pip install ale-py)"
            ) from None
        probe = self.make(seed=0)
        self.observation_space = probe.observation_space
        self.action_space = probe.action_space
        probe.close()

    @property
    def discrete(self):
        """Whether the actions are discrete (an index) rather than continuous (a vector)."""
        return isinstance(self.action_space, gymnasium.spaces.Discrete)

    @property
    def num_actions(self):
        """Number of discrete actions, or the size of a continuous action vector."""
        if self.discrete:
            return int(self.action_space.n)
        return int(np.prod(self.action_space.shape))

    def make(self, seed=None, render_mode=None):
        """One wrapped environment; `seed` seeds its first reset and its action space."""
        kwargs = {"render_mode": render_mode} if render_mode else {}
        try:
            if self.atari:
                environment = gymnasium.make(self.env_id, frameskip=1, **kwargs)
                environment = gymnasium.wrappers.AtariPreprocessing(
                    environment, frame_skip=4, screen_size=84, grayscale_obs=True
                )
                environment = gymnasium.wrappers.FrameStackObservation(
                    environment, self.frame_stack
                )
            else:
                environment = gymnasium.make(self.env_id, **kwargs)
        except gymnasium.error.DependencyNotInstalled as error:
            raise UserError(f"environment {self.env_id!r}: {str(error).strip()}") from None
        environment = gymnasium.wrappers.RecordEpisodeStatistics(environment)
        if seed is not None:
            environment.reset(seed=int(seed))
            environment.action_space.seed(int(seed))
        return environment

    def make_vector(self, num_envs, seed):
        """`num_envs` environments stepped together (seeds `seed`, `seed + 1`, ...).

        Synchronous: on 2 cores the environments are cheap next to the
        network, and subprocesses would only add copies. A finished episode
        resets in the same step (`AutoresetMode.SAME_STEP`).
        """
        vector = gymnasium.vector.SyncVectorEnv(
            [lambda: self.make() for _ in range(num_envs)],
            # An episode's last observation comes in `info["final_obs"]` and the
            # next one's first in its place, so no step is wasted on resets.
            autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP,
        )
        vector.reset(seed=[int(seed) + i for i in range(num_envs)])
        vector.action_space.seed(int(seed))
        return vector
