"""Generalized advantage estimation (Schulman et al. 2016), in numpy, outside the graph."""

import numpy as np


def generalized_advantages(rewards, values, next_values, terminated, episode_ends, gamma, lam):
    """Advantages and value targets of a rollout of `T` steps in `N` environments.

    The temporal-difference error of step t is
    `delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)`, and the
    advantage is the exponentially weighted sum `A_t = delta_t + gamma *
    lam * A_{t+1}`, cut at the end of each episode. A time limit
    (truncation) ends the episode but not the value: `V(s_{t+1})` of the
    truncated state still counts, which `next_values` carries.

    Args:
        rewards: `(T, N)` rewards.
        values: `(T, N)` value estimates `V(s_t)`.
        next_values: `(T, N)` value estimates of the state after step t
            (the final observation when an episode ended there).
        terminated: `(T, N)` bools: the episode ended in a terminal state
            (no value after it).
        episode_ends: `(T, N)` bools: the episode ended at step t, by
            termination or truncation.
        gamma: the discount factor.
        lam: GAE's lambda: 0 is the one-step TD error, 1 the Monte-Carlo
            return minus the value.

    Returns:
        `(advantages, returns)`, both `(T, N)` float32; `returns =
        advantages + values` are the value function's targets.

    Example:

    >>> rewards = np.ones((3, 1)); values = np.zeros((3, 1))
    >>> done = np.array([[False], [False], [True]])
    >>> advantages, _ = generalized_advantages(rewards, values, values, done, done, 0.5, 1.0)
    >>> advantages[:, 0].tolist()
    [1.75, 1.5, 1.0]
    """
    rewards = np.asarray(rewards, np.float64)
    values = np.asarray(values, np.float64)
    not_terminal = 1.0 - np.asarray(terminated, np.float64)
    continues = 1.0 - np.asarray(episode_ends, np.float64)
    deltas = rewards + gamma * np.asarray(next_values, np.float64) * not_terminal - values
    advantages = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1:])
    for t in reversed(range(len(rewards))):
        running = deltas[t] + gamma * lam * continues[t] * running
        advantages[t] = running
    return advantages.astype(np.float32), (advantages + values).astype(np.float32)
