"""Playing seeded evaluation episodes with any greedy policy (Keras, SavedModel, TFLite)."""

import os

import numpy as np
from PIL import Image

# Evaluation episodes use seeds 0, 1, ...; training environments start far
# above (see GameApp), so no evaluation episode was seen in training.
EVALUATION_SEED = 0
VALIDATION_SEED = 500_000


def play_episodes(policy, factory, seeds, max_steps=None):
    """Plays one episode per seed, all in lockstep, and returns `(returns, lengths)`.

    Args:
        policy: `callable(observations batch) -> actions batch` (numpy).
        factory: an `EnvironmentFactory`.
        seeds: the episodes' seeds; the same seeds give the same episodes.
        max_steps: cut episodes after this many steps (`None`: the
            environment's own time limit).

    Example:

    >>> returns, lengths = play_episodes(lambda o: np.zeros(len(o), int),
    ...                                  EnvironmentFactory("CartPole-v1"), range(5))
    >>> returns.shape
    (5,)
    """
    environments = [factory.make() for _ in seeds]
    observations = [
        environment.reset(seed=int(seed))[0]
        for environment, seed in zip(environments, seeds, strict=True)
    ]
    returns = np.zeros(len(environments))
    lengths = np.zeros(len(environments), int)
    active = list(range(len(environments)))
    while active:
        actions = np.asarray(policy(np.stack([observations[i] for i in active])))
        still_active = []
        for index, action in zip(active, actions, strict=True):
            observation, reward, terminated, truncated, _ = environments[index].step(
                action if not factory.discrete else int(action)
            )
            observations[index] = observation
            returns[index] += reward
            lengths[index] += 1
            if not (terminated or truncated) and (max_steps is None or lengths[index] < max_steps):
                still_active.append(index)
        active = still_active
    for environment in environments:
        environment.close()
    return returns, lengths


def visited_observations(policy, factory, seeds, count, max_steps=None):
    """Up to `count` observations the policy meets in the episodes of `seeds` (evenly spaced)."""
    seen = []

    def recording_policy(observations):
        seen.append(observations)
        return policy(observations)

    play_episodes(recording_policy, factory, seeds, max_steps)
    observations = np.concatenate(seen)
    chosen = np.linspace(0, len(observations) - 1, min(count, len(observations))).astype(int)
    return observations[chosen]


def record_episode(policy, factory, seed, path, max_frames=500, every=2):
    """Plays one episode, writes it as an animated GIF at `path`, returns `(return, steps)`.

    Every `every`-th frame is kept, at most `max_frames` of them.
    """
    # pygame draws the frames off-screen; without a display it needs no video device.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    environment = factory.make(render_mode="rgb_array")
    observation, _ = environment.reset(seed=int(seed))
    frames, total, steps, done = [], 0.0, 0, False
    while not done:
        if steps % every == 0 and len(frames) < max_frames:
            frames.append(_gif_frame(environment.render()))
        action = np.asarray(policy(observation[None]))[0]
        observation, reward, terminated, truncated, _ = environment.step(
            int(action) if factory.discrete else action
        )
        total += reward
        steps += 1
        done = terminated or truncated
    environment.close()
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40 * every, loop=0)
    return total, steps


def _gif_frame(pixels):
    """A rendered frame as a palette image, halved when wider than 320 pixels (a small GIF)."""
    frame = Image.fromarray(pixels)
    if frame.width > 320:
        frame = frame.reduce(2)
    return frame.quantize(colors=64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def random_policy(factory, seed=0):
    """A uniformly random policy: the baseline every agent is compared with."""
    space = factory.action_space
    rng = np.random.default_rng(seed)

    def policy(observations):
        if factory.discrete:
            return rng.integers(0, space.n, len(observations))
        return rng.uniform(space.low, space.high, (len(observations), *space.shape)).astype(
            np.float32
        )

    return policy
