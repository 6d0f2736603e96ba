"""A fixed-size replay buffer of transitions, in numpy."""

import numpy as np


class ReplayBuffer:
    """Keeps the last `capacity` transitions and samples minibatches uniformly.

    Arrays are allocated on the first `add`, from the dtypes and shapes of
    what is added (uint8 Atari frames stay uint8: 28 KB per stacked
    observation, twice per transition).

    Args:
        capacity: transitions kept; the oldest are overwritten.

    Example:

    >>> buffer = ReplayBuffer(1000)
    >>> buffer.add({"observations": np.zeros((8, 4)), "actions": np.zeros(8, "int32")})
    >>> len(buffer)
    8
    >>> buffer.sample(4, np.random.default_rng(0))["observations"].shape
    (4, 4)
    """

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.arrays = None
        self.size = 0
        self.next_index = 0

    def __len__(self):
        return self.size

    def add(self, transitions):
        """Adds a batch of transitions: dict name -> array with the batch first."""
        count = len(next(iter(transitions.values())))
        if self.arrays is None:
            self.arrays = {
                name: np.zeros((self.capacity, *np.shape(value)[1:]), np.asarray(value).dtype)
                for name, value in transitions.items()
            }
        indices = (self.next_index + np.arange(count)) % self.capacity
        for name, value in transitions.items():
            self.arrays[name][indices] = value
        self.next_index = int((self.next_index + count) % self.capacity)
        self.size = min(self.capacity, self.size + count)

    def sample(self, batch_size, rng):
        """A uniformly sampled minibatch (with replacement) as dict name -> array."""
        if self.size == 0:
            raise ValueError("the replay buffer is empty")
        indices = rng.integers(0, self.size, size=batch_size)
        return {name: array[indices] for name, array in self.arrays.items()}
