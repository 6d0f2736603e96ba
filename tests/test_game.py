"""The game app: GAE, PPO's clip, DQN's buffer and target, seeded episodes, and one tiny run.

One module fixture trains a PPO agent on CartPole for a few PPO updates
through the shared driver and exports it (SavedModel + four TFLite files,
each playing 3 seeded episodes); the tests share it.
"""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlapps import cli, training
from dlapps.application import get_application
from dlapps.game import episodes, networks
from dlapps.game.dqn_agent import DQNAgent
from dlapps.game.environment_factory import EnvironmentFactory
from dlapps.game.gae import generalized_advantages
from dlapps.game.ppo_agent import clipped_surrogate_loss
from dlapps.game.replay_buffer import ReplayBuffer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained_game(tmp_path_factory):
    folder = tmp_path_factory.mktemp("game")
    config = training.TrainConfig(
        app="game",
        epochs=2,
        batch_size=64,
        workdir=str(folder / "runs"),
        output=str(folder / "models"),
        verbose=0,
        options={
            "env": "CartPole-v1",
            "num_envs": 4,
            "rollout_steps": 32,
            "rollouts_per_epoch": 2,
            "update_epochs": 2,
            "eval_episodes": 3,
        },
    )
    return training.run(get_application("game"), config)


def test_gae_matches_a_hand_computed_rollout_with_a_time_limit_and_a_terminal_state():
    # One environment, 4 steps: an episode truncated by a time limit after step 1
    # (bootstrapped from the value 10 of its last state), then one that terminates.
    rewards = np.array([[1.0], [2.0], [3.0], [4.0]])
    values = np.array([[0.5], [1.0], [2.0], [1.5]])
    next_values = np.array([[1.0], [10.0], [1.5], [0.0]])
    terminated = np.array([[False], [False], [False], [True]])
    ends = np.array([[False], [True], [False], [True]])
    gamma, lam = 0.9, 0.5
    advantages, returns = generalized_advantages(
        rewards, values, next_values, terminated, ends, gamma, lam
    )
    delta = [1 + 0.9 * 1.0 - 0.5, 2 + 0.9 * 10.0 - 1.0, 3 + 0.9 * 1.5 - 2.0, 4 - 1.5]
    a3 = delta[3]
    a2 = delta[2] + 0.45 * a3
    a1 = delta[1]  # the episode ends here: nothing flows back from step 2
    a0 = delta[0] + 0.45 * a1
    np.testing.assert_allclose(advantages[:, 0], [a0, a1, a2, a3], rtol=1e-6)
    np.testing.assert_allclose(returns[:, 0], [a0 + 0.5, a1 + 1.0, a2 + 2.0, a3 + 1.5], rtol=1e-6)


def test_ppo_clip_stops_the_gain_and_the_gradient_beyond_the_trust_region():
    ratio = tf.Variable([1.5, 0.5, 1.1, 0.7])
    advantages = tf.constant([1.0, -1.0, 1.0, 1.0])
    with tf.GradientTape() as tape:
        loss = clipped_surrogate_loss(ratio, advantages, 0.2)
    # Clipped at 1.2 and at 0.8 (times -1); inside the region, or where the
    # ratio moved against the advantage, the unclipped term counts.
    np.testing.assert_allclose(float(loss), -(1.2 - 0.8 + 1.1 + 0.7) / 4, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, ratio).numpy(), [0, 0, -0.25, -0.25])


def test_replay_buffer_overwrites_the_oldest_and_samples_what_it_holds():
    buffer = ReplayBuffer(5)
    for start in (0, 3, 6):
        buffer.add({"x": np.arange(start, start + 3), "y": np.arange(start, start + 3) * 10})
    assert len(buffer) == 5
    assert sorted(buffer.arrays["x"].tolist()) == [4, 5, 6, 7, 8]
    batch = buffer.sample(64, np.random.default_rng(0))
    assert set(batch["x"].tolist()) <= {4, 5, 6, 7, 8} and len(set(batch["x"].tolist())) > 2
    np.testing.assert_array_equal(batch["y"], batch["x"] * 10)  # rows stay together


def test_dqn_double_targets_and_the_periodic_target_update():
    keras.utils.set_random_seed(0)
    agent = DQNAgent(networks.mlp((3,), 2, hidden=(8,)), gamma=0.9, target_update_period=2)
    agent.compile(keras.optimizers.SGD(0.1))
    rng = np.random.default_rng(0)
    batch = {
        "observations": rng.normal(size=(8, 3)).astype("float32"),
        "actions": rng.integers(0, 2, 8).astype("int32"),
        "rewards": rng.normal(size=8).astype("float32"),
        "next_observations": rng.normal(size=(8, 3)).astype("float32"),
        "terminated": np.array([True, False] * 4),
        "episode_return": np.zeros(8, "float32"),
    }
    online = agent.q_network(batch["next_observations"]).numpy()
    target = online + np.array([1.0, -1.0])  # a target network that disagrees
    agent.target_network.layers[-1].bias.assign(agent.target_network.layers[-1].bias + [1, -1])
    expected = (
        batch["rewards"]
        + 0.9
        * (1 - batch["terminated"])
        * np.take_along_axis(target, online.argmax(1)[:, None], 1)[:, 0]
    )
    computed = agent.targets(batch["rewards"], batch["next_observations"], batch["terminated"])
    np.testing.assert_allclose(computed.numpy(), expected, rtol=1e-5)

    def weights_equal():
        pairs = zip(agent.target_network.get_weights(), agent.q_network.get_weights(), strict=True)
        return all(np.array_equal(t, q) for t, q in pairs)

    one_step = tf.data.Dataset.from_tensors(batch)
    agent.fit(one_step, verbose=0)  # step 1: the target stays behind
    assert not weights_equal()
    agent.fit(one_step, verbose=0)  # step 2: copied
    assert weights_equal()


def test_a_seeded_episode_is_reproducible_and_seeds_differ():
    factory = EnvironmentFactory("CartPole-v1")
    policy = episodes.random_policy  # a fresh, seeded random policy per play
    first = episodes.play_episodes(policy(factory, seed=1), factory, [3, 4, 5])
    again = episodes.play_episodes(policy(factory, seed=1), factory, [3, 4, 5])
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    observation_a = factory.make().reset(seed=3)[0]
    observation_b = factory.make().reset(seed=4)[0]
    assert not np.array_equal(observation_a, observation_b)


def test_training_through_the_driver_learns_logs_returns_and_exports_every_format(trained_game):
    history = trained_game.history
    assert len(history["episode_return"]) == 2 and history["episode_return"][0] > 5
    assert history["entropy"][-1] < np.log(2) + 1e-6  # a categorical policy over 2 actions
    report = trained_game.report
    formats = {e["format"]: e for e in report["exports"]}
    assert set(formats) == {
        "saved_model", "tflite_float32", "tflite_float16", "tflite_dynamic", "tflite_int8",
    }  # fmt: skip
    keras_return = report["metrics"]["mean_return"]
    for name in ("saved_model", "tflite_float32"):
        assert formats[name]["action_agreement"] == 1.0
        assert formats[name]["metrics"]["mean_return"] == keras_return  # the same 3 episodes
    # Weights-only int8 keeps the near-uniform early policy's choices; the full-int8
    # file (scored the same way) is measured on a trained policy in benchmarks/.
    assert formats["tflite_dynamic"]["action_agreement"] > 0.9
    assert 0 <= formats["tflite_int8"]["action_agreement"] <= 1
    assert formats["tflite_int8"]["metrics"]["mean_return"] > 0
    evaluation = report["evaluation"]
    assert evaluation["env_steps"] >= 2 * 2 * 4 * 32
    assert evaluation["collection_env_steps_per_second"] > 0
    figures = {Path(f).name for f in report["figures"]}
    assert {"learning_curve.png", "episode.gif"} <= figures
    assert report["data"]["environment"] == "CartPole-v1"


def test_the_saved_model_plays_in_a_fresh_process_with_tensorflow_only(trained_game):
    path = trained_game.report["path"]
    observations = np.random.default_rng(0).normal(size=(16, 4)).astype("float32") * 0.1
    code = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        f"serve = tf.saved_model.load({path!r}).signatures['serving_default']\n"
        "out = serve(observation=tf.constant(json.loads(sys.stdin.read()), tf.float32))\n"
        "print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(observations.tolist()),
        capture_output=True,
        text=True,
        check=True,
    )
    outputs = json.loads(result.stdout)
    expected = trained_game.model.serving_outputs(observations)
    np.testing.assert_array_equal(outputs["action"], expected["action"].numpy())
    np.testing.assert_allclose(outputs["probabilities"], expected["probabilities"], atol=1e-5)


def test_serving_client_body_runs_on_the_saved_model_as_tf_serving_would(
    trained_game, serving_client, tf_serving
):
    observations = [[0.01, 0.3, -0.02, -0.5], [0.0, -0.4, 0.05, 0.6]]
    body = serving_client.build_observation_body(observations)
    outputs = tf_serving(trained_game.report["path"], body)
    expected = trained_game.model.serving_outputs(np.array(observations, "float32"))
    np.testing.assert_array_equal(outputs["action"], expected["action"].numpy())


def test_edge_runner_plays_the_int8_file_without_tensorflow(trained_game):
    path = Path(trained_game.report["path"]) / "game_int8.tflite"
    block = "import sys; sys.modules.update({'tensorflow': None, 'dlapps': None, 'keras': None})\n"
    script = str(ROOT / "export" / "edge" / "play.py")
    runner = f"{block}import runpy; runpy.run_path({script!r}, run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", runner, str(path), "--episodes", "3"],
        capture_output=True,
        text=True,
        cwd=ROOT / "export" / "edge",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    int8 = next(e for e in trained_game.report["exports"] if e["format"] == "tflite_int8")
    assert f"mean return {int8['metrics']['mean_return']:.1f}" in result.stdout
    assert "CartPole-v1" in result.stdout and "seeds 0-2" in result.stdout


def test_predict_and_play_commands(trained_game, tmp_path, capsys):
    path = trained_game.report["path"]
    assert cli.main(["predict", path, "--episodes", "3"]) == 0
    printed = capsys.readouterr().out
    assert f"mean return {trained_game.report['metrics']['mean_return']:.1f}" in printed
    assert "random policy" in printed
    gif = tmp_path / "episode.gif"
    assert cli.main(["play", path, "--out", str(gif), "--seed", "1"]) == 0
    from PIL import Image

    with Image.open(gif) as image:
        assert image.n_frames > 3
    assert cli.main(["play", path, "--out", str(gif)]) == 1  # kept, not overwritten
    assert "exists" in capsys.readouterr().err


def test_unknown_environment_or_missing_extra_is_one_line(capsys, monkeypatch):
    assert cli.main(["train", "game", "--env", "NoSuchGame-v0"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "unknown environment 'NoSuchGame-v0'" in error[0]
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "Box2D" else find_spec(name, *a),
    )
    assert cli.main(["train", "game", "--env", "LunarLander-v3"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "pip install box2d" in error[0]
