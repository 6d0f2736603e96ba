"""What a collector has seen: environment steps, episode returns, time spent collecting."""

import collections
import time

import numpy as np


class ExperienceStats:
    """Counts environment steps and episodes, and times collection against the whole run.

    `collect_seconds` is the time spent running the policy and the
    environments; the rest of the wall-clock time since the first
    collection (`elapsed() - collect_seconds`) went to gradient updates,
    so the two throughputs can be reported apart.

    Example:

    >>> stats = ExperienceStats()
    >>> stats.episode_finished(500.0)
    >>> stats.recent_return()
    500.0
    """

    def __init__(self, window=100):
        self.env_steps = 0
        self.episodes = []  # (env steps so far, return) of each finished training episode
        self.recent = collections.deque(maxlen=window)
        self.collect_seconds = 0.0
        self.first_collection = None
        self.last_batch = None

    def episode_finished(self, episode_return):
        self.episodes.append((self.env_steps, float(episode_return)))
        self.recent.append(float(episode_return))

    def recent_return(self):
        """Mean return of the last `window` training episodes (0 before the first ends)."""
        return float(np.mean(self.recent)) if self.recent else 0.0

    def start_collecting(self):
        now = time.perf_counter()
        if self.first_collection is None:
            self.first_collection = now
        return now

    def stop_collecting(self, started):
        self.collect_seconds += time.perf_counter() - started

    def batch_served(self):
        self.last_batch = time.perf_counter()

    def episodes_to_reach(self, goal, window=100):
        """Training episodes until the mean return of the last `window` reached `goal`, or None."""
        returns = [r for _, r in self.episodes]
        for count in range(1, len(returns) + 1):
            if np.mean(returns[max(0, count - window) : count]) >= goal and count >= min(
                window, len(returns)
            ):
                return count
        return None

    def summary(self):
        """Steps, episodes and the two throughputs (env steps per second)."""
        if self.first_collection is None:
            return {}
        elapsed = max(1e-9, (self.last_batch or time.perf_counter()) - self.first_collection)
        training_seconds = max(1e-9, elapsed - self.collect_seconds)
        return {
            "env_steps": self.env_steps,
            "training_episodes": len(self.episodes),
            "collection_seconds": round(self.collect_seconds, 2),
            "update_seconds": round(training_seconds, 2),
            "collection_env_steps_per_second": round(
                self.env_steps / max(1e-9, self.collect_seconds), 1
            ),
            "update_env_steps_per_second": round(self.env_steps / training_seconds, 1),
            "overall_env_steps_per_second": round(self.env_steps / elapsed, 1),
        }
