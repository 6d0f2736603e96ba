"""
Title: PPO on CartPole, trained with model.fit on the experience its policy collects
Description: Train a proximal policy optimisation agent in seeded, vectorised
Gymnasium environments, judge its greedy policy on 100 seeded episodes next to
a random policy, and export it as a SavedModel (observation in, action and
probabilities out) and TFLite.

    python apps/game.py                     # at most 170 s of training
"""

import argparse
from pathlib import Path

import keras
import numpy as np

from dlapps import callbacks, game, optimizers, report
from dlapps.experience import experience_dataset
from dlapps.export import export_model
from dlapps.training import TrainConfig

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--epochs", type=int, default=40, help="each epoch is 10 rollouts")
parser.add_argument("--time-budget", type=float, default=170, help="seconds of training")
parser.add_argument("--eval-episodes", type=int, default=100)
parser.add_argument("--output", default="saved_models")
parser.add_argument("--workdir", default="runs/game_script")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Experience

There is no fixed dataset: every epoch, a collector runs the current policy
for 10 rollouts of 32 steps in 8 CartPole environments (seeds far from the
evaluation episodes' 0-99), computes generalized advantage estimates, and
yields 20 shuffled passes of minibatches over each rollout. `experience_dataset`
wraps it as a `tf.data.Dataset` that `model.fit` reads like any other.
"""
application = game.GameApp()
options = {"env": "CartPole-v1", "eval_episodes": args.eval_episodes}
data = application.load_data(TrainConfig(app="game", batch_size=256, options=options))
dataset = experience_dataset(data.collector, batch_size=256)

"""
## Model

Two small tanh MLPs, a policy (4 observations -> 2 action logits) and a value
function, behind a normalisation layer fitted on a random policy's
observations. `PPOAgent.train_step` minimises the clipped surrogate loss plus
half the value error.
"""
normalizer = game.observation_normalizer(data.observation_sample)
policy = game.mlp((4,), 2, normalizer=normalizer, output_scale=0.01, name="policy")
value = game.mlp((4,), 1, normalizer=normalizer, name="value")
agent = game.PPOAgent(policy, value, clip_ratio=0.2, entropy_coefficient=0.0)
data.collector.model = agent  # the collector plays with the model being trained

"""
## Training

Adam at 1e-3 on a cosine schedule; the time budget ends training cleanly.
"""
steps = args.epochs * data.collector.batches_per_epoch(256)
optimizer = optimizers.make_optimizer(
    "adam", 1e-3, schedule="cosine", total_steps=steps, clipnorm=0.5
)
agent.compile(optimizer=optimizer)
agent.fit(dataset, epochs=args.epochs, callbacks=[callbacks.TimeBudget(args.time_budget)])

"""
## Evaluation

The greedy policy (the most probable action) on seeded episodes, next to a
uniformly random policy on the same episodes.
"""
seeds = range(args.eval_episodes)
returns, _ = game.play_episodes(game.keras_policy(agent), data.factory, seeds)
random_returns, _ = game.play_episodes(game.random_policy(data.factory), data.factory, seeds)
metrics = {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns))}
metrics["random_policy_mean_return"] = float(np.mean(random_returns))
print(metrics)
Path(args.workdir).mkdir(parents=True, exist_ok=True)
game.record_episode(game.keras_policy(agent), data.factory, 0, f"{args.workdir}/episode.gif")

"""
## Export

The greedy policy as a new version under saved_models/game/, each file
scored by playing the same seeded episodes.
"""
exported = export_model(application.export_spec(agent, data), args.output, metrics)
print(report.format_summary(exported))
