"""Game playing: PPO and DQN agents trained by `model.fit` on experience from Gymnasium."""
