"""The game application: agents that learn to play Gymnasium environments from reward."""

import json
from pathlib import Path

import numpy as np

from dlapps.application import AppCommand, Application
from dlapps.errors import UserError
from dlapps.experience import GoalReached, experience_dataset
from dlapps.export import ExportSpec, TFLiteModel
from dlapps.export.saved_model import signature_runner
from dlapps.export.tflite import is_tflite
from dlapps.game import episodes, networks, serving
from dlapps.game.dqn_agent import DQNAgent
from dlapps.game.environment_factory import EnvironmentFactory
from dlapps.game.game_data import GameData
from dlapps.game.ppo_agent import PPOAgent
from dlapps.game.replay_collector import ReplayCollector
from dlapps.game.rollout_collector import RolloutCollector

AGENTS = ("ppo", "dqn")
# Training environments are seeded from here up (plus 1000 per --seed), far from
# the evaluation (0, 1, ...) and validation seeds.
TRAINING_SEED = 1_000_000
VALIDATION_EPISODES = 20
ACTION_NAMES = {
    "CartPole": ["push_left", "push_right"],
    "LunarLander": ["nothing", "fire_left_engine", "fire_main_engine", "fire_right_engine"],
    "Acrobot": ["torque_minus_1", "torque_0", "torque_plus_1"],
    "MountainCar": ["push_left", "nothing", "push_right"],
}

# Settings per agent (and per environment where a known-good recipe exists, from
# the RL Baselines3 Zoo's tuned hyperparameters); flags override them.
PRESETS = {
    "ppo": {
        "num_envs": 16,
        "rollout_steps": 1024,
        "rollouts_per_epoch": 1,
        "update_epochs": 4,
        "gamma": 0.999,
        "gae_lambda": 0.98,
        "clip_ratio": 0.2,
        "value_coefficient": 0.5,
        "entropy_coefficient": 0.01,
        "training": {
            "epochs": 60,
            "batch_size": 64,
            "learning_rate": 3e-4,
            "schedule": "constant",
            "time_budget": 1200,
        },
    },
    "ppo CartPole-v1": {
        "num_envs": 8,
        "rollout_steps": 32,
        "rollouts_per_epoch": 10,
        "update_epochs": 20,
        "gamma": 0.98,
        "gae_lambda": 0.8,
        "entropy_coefficient": 0.0,
        "training": {
            "epochs": 40,
            "batch_size": 256,
            "learning_rate": 1e-3,
            "schedule": "cosine",
            "time_budget": 170,
        },
    },
    "dqn": {
        "num_envs": 4,
        "buffer_size": 50_000,
        "learning_starts": 1000,
        "collect_steps": 64,
        "collections_per_epoch": 4,
        "train_every": 2,
        "exploration_steps": 10_000,
        "final_epsilon": 0.04,
        "target_update": 250,
        "gamma": 0.99,
        "training": {
            "epochs": 60,
            "batch_size": 64,
            "learning_rate": 1e-3,
            "schedule": "constant",
            "time_budget": 300,
        },
    },
    "dqn atari": {
        "num_envs": 1,
        "buffer_size": 20_000,
        "learning_starts": 5000,
        "collect_steps": 1000,
        "collections_per_epoch": 1,
        "train_every": 4,
        "exploration_steps": 250_000,
        "final_epsilon": 0.01,
        "target_update": 1000,
        "gamma": 0.99,
        "training": {
            "epochs": 10_000,
            "batch_size": 32,
            "learning_rate": 1e-4,
            "schedule": "constant",
            "time_budget": 600,
        },
    },
}
SETTINGS = sorted({key for preset in PRESETS.values() for key in preset if key != "training"})


def _preset(env_id, agent):
    if agent == "dqn" and env_id.startswith("ALE/"):
        return PRESETS["dqn atari"]
    base = dict(PRESETS[agent])
    specific = PRESETS.get(f"{agent} {env_id}", {})
    return {**base, **specific, "training": {**base["training"], **specific.get("training", {})}}


def _agent(options):
    agent = options.get("agent") or "auto"
    if agent == "auto":
        return "dqn" if options.get("env", "CartPole-v1").startswith("ALE/") else "ppo"
    return agent


def _action_names(factory):
    if factory.atari:
        probe = factory.make()
        names = [name.lower() for name in probe.unwrapped.get_action_meanings()]
        probe.close()
        return names
    for prefix, names in ACTION_NAMES.items():
        if factory.env_id.startswith(prefix) and len(names) == factory.num_actions:
            return names
    return [f"action_{i}" for i in range(factory.num_actions)]


class GameApp(Application):
    """Reinforcement learning on Gymnasium: PPO (discrete or continuous actions) and DQN.

    There is no fixed dataset: each epoch, the collector runs the current
    policy in seeded, vectorised environments and `model.fit` trains on
    what it collected (see `dlapps.experience`). Judged by the greedy
    policy's mean return over seeded evaluation episodes that training
    never saw, next to a random policy on the same episodes.
    """

    name = "game"
    description = "reinforcement learning (PPO, DQN) on Gymnasium: observation in, action out"
    defaults = {
        "optimizer": "adam",
        "warmup_epochs": 0,
        "clipnorm": 0.5,
        "monitor": "episode_return",
        "monitor_mode": "max",
        "patience": 0,
        "optimizer_options": {"epsilon": 1e-5},
    }

    def training_defaults(self, config):
        options = config.options
        preset = _preset(options.get("env", "CartPole-v1"), _agent(options))
        return {**self.defaults, **preset["training"]}

    def add_arguments(self, parser):
        group = parser.add_argument_group("game")
        group.add_argument(
            "--env",
            default="CartPole-v1",
            help="Gymnasium id: CartPole-v1 (default), LunarLander-v3, ALE/Pong-v5",
        )
        group.add_argument(
            "--agent",
            choices=("auto", *AGENTS),
            default="auto",
            help="ppo, dqn, or auto (default): dqn for Atari, else ppo",
        )
        group.add_argument(
            "--eval-episodes",
            type=int,
            default=None,
            help="seeded evaluation episodes per score (default: 100; 10 for Atari)",
        )
        for setting in SETTINGS:
            kind = (
                float
                if setting in ("gamma", "gae_lambda", "clip_ratio", "final_epsilon")
                or (setting.endswith("coefficient"))
                else int
            )
            group.add_argument(
                "--" + setting.replace("_", "-"),
                type=kind,
                default=None,
                help=f"{setting.replace('_', ' ')} (default: the agent's preset)",
            )

    def check_options(self, options):
        agent = _agent(options)
        if agent not in AGENTS:
            raise UserError(f"unknown agent {agent!r}: choose one of {', '.join(AGENTS)}")
        for setting in SETTINGS + ["eval_episodes"]:
            value = options.get(setting)
            if value is None:
                continue
            low = 0 if setting in ("entropy_coefficient", "learning_starts") else 1e-12
            high = 1 if setting in ("gamma", "gae_lambda", "final_epsilon") else float("inf")
            if not low <= value <= high:
                flag = "--" + setting.replace("_", "-")
                raise UserError(
                    f"{flag} {value} is out of range: use a value in [{low:g}, {high:g}]"
                )
        factory = EnvironmentFactory(options.get("env", "CartPole-v1"))
        if agent == "dqn" and not factory.discrete:
            raise UserError(
                f"{factory.env_id} has continuous actions, which DQN cannot choose: use --agent ppo"
            )

    def settings(self, options):
        """The agent settings of a run: the preset, overridden by the flags given."""
        agent = _agent(options)
        preset = _preset(options.get("env", "CartPole-v1"), agent)
        resolved = {k: v for k, v in preset.items() if k != "training"}
        for key in resolved:
            if options.get(key) is not None:
                resolved[key] = options[key]
        return resolved

    def load_data(self, config):
        options = config.options
        if config.data:
            raise UserError("game learns from its environment, not from --data: use --env ID")
        self.check_options(options)
        env_id, agent = options.get("env", "CartPole-v1"), _agent(options)
        factory = EnvironmentFactory(env_id)
        settings = self.settings(options)
        seed = TRAINING_SEED + 1000 * config.seed
        if agent == "ppo":
            collector = RolloutCollector(
                factory,
                settings["num_envs"],
                settings["rollout_steps"],
                settings["rollouts_per_epoch"],
                settings["update_epochs"],
                settings["gamma"],
                settings["gae_lambda"],
                seed,
            )
        else:
            collector = ReplayCollector(
                factory,
                settings["num_envs"],
                settings["buffer_size"],
                settings["learning_starts"],
                settings["collect_steps"],
                settings["collections_per_epoch"],
                settings["train_every"],
                settings["exploration_steps"],
                settings["final_epsilon"],
                seed,
                clip_rewards=factory.atari,
            )
        sample = None
        if len(factory.observation_space.shape) == 1:
            # A random policy's observations set the normalisation inside the model.
            sample = episodes.visited_observations(
                episodes.random_policy(factory, seed),
                factory,
                [seed + 500 + i for i in range(10)],
                count=2000,
                max_steps=500,
            )
        spec = factory.make().spec
        eval_episodes = options.get("eval_episodes") or (10 if factory.atari else 100)
        return GameData(
            env_id=env_id,
            agent=agent,
            factory=factory,
            collector=collector,
            settings=settings,
            batch_size=config.batch_size,
            observation_sample=sample,
            eval_episodes=eval_episodes,
            labels=_action_names(factory),
            goal=getattr(spec, "reward_threshold", None),
        )

    def datasets(self, data, batch_size, seed):
        return experience_dataset(data.collector, batch_size), None

    def num_train_examples(self, data):
        return data.collector.batches_per_epoch(data.batch_size) * data.batch_size

    def build_model(self, config, data):
        factory, settings = data.factory, data.settings
        shape = factory.observation_space.shape
        normalizer = (
            networks.observation_normalizer(data.observation_sample)
            if data.observation_sample is not None
            else None
        )
        if data.agent == "ppo":
            if len(shape) == 1:
                policy = networks.mlp(
                    shape,
                    factory.num_actions,
                    normalizer=normalizer,
                    output_scale=0.01,
                    name="policy",
                )
                value = networks.mlp(shape, 1, normalizer=normalizer, name="value")
            else:
                policy = networks.nature_cnn(shape, factory.num_actions, name="policy")
                value = networks.nature_cnn(shape, 1, name="value")
            space = factory.action_space
            agent = PPOAgent(
                policy,
                value,
                discrete=factory.discrete,
                clip_ratio=settings["clip_ratio"],
                value_coefficient=settings["value_coefficient"],
                entropy_coefficient=settings["entropy_coefficient"],
                action_low=None if factory.discrete else space.low.tolist(),
                action_high=None if factory.discrete else space.high.tolist(),
            )
        else:
            if len(shape) == 1:
                q_network = networks.mlp(
                    shape,
                    factory.num_actions,
                    hidden=(256, 256),
                    activation="relu",
                    normalizer=normalizer,
                    name="q_network",
                )
            else:
                q_network = networks.nature_cnn(shape, factory.num_actions, name="q_network")
            agent = DQNAgent(
                q_network, gamma=settings["gamma"], target_update_period=settings["target_update"]
            )
        # The collector plays with the model being trained (dlapps.experience).
        data.collector.model = agent
        return agent

    def compile_arguments(self, config, data):
        return {}

    def extra_callbacks(self, config, data, workdir):
        if data.goal is None:
            return []
        seeds = [episodes.VALIDATION_SEED + i for i in range(VALIDATION_EPISODES)]

        def validation_return(model):
            returns, _ = episodes.play_episodes(serving.keras_policy(model), data.factory, seeds)
            return float(np.mean(returns))

        # Checked once the training episodes come near the goal; stops on held-out seeds.
        trigger = 0.8 * data.goal if data.goal > 0 else data.goal
        return [GoalReached(validation_return, data.goal, "episode_return", trigger)]

    def evaluate(self, model, data, figures_dir):
        figures_dir = Path(figures_dir)
        figures_dir.mkdir(parents=True, exist_ok=True)
        seeds = data.eval_seeds
        policy = serving.keras_policy(model)
        returns, lengths = episodes.play_episodes(policy, data.factory, seeds)
        random_returns, _ = episodes.play_episodes(
            episodes.random_policy(data.factory), data.factory, seeds
        )
        metrics = {
            "mean_return": float(np.mean(returns)),
            "std_return": float(np.std(returns)),
            "random_policy_mean_return": float(np.mean(random_returns)),
        }
        if data.goal is not None:
            metrics["solved"] = float(np.mean(returns) >= data.goal)
        stats = data.collector.stats
        details = {
            "split": f"{len(seeds)} seeded evaluation episodes (seeds {seeds[0]}-{seeds[-1]}), "
            "greedy policy; training used other seeds",
            "goal": data.goal,
            "min_return": float(np.min(returns)),
            "max_return": float(np.max(returns)),
            "mean_episode_length": float(np.mean(lengths)),
            "random_policy_std_return": float(np.std(random_returns)),
            **stats.summary(),
        }
        if data.goal is not None and stats.episodes:
            details["training_episodes_to_goal"] = stats.episodes_to_reach(data.goal)
        figures = []
        if stats.episodes:
            figures.append(self._learning_curve(stats, data, figures_dir / "learning_curve.png"))
        gif = figures_dir / "episode.gif"
        episode_return, steps = episodes.record_episode(policy, data.factory, seeds[0], gif)
        details["gif_episode"] = {"seed": seeds[0], "return": episode_return, "steps": steps}
        figures.append(gif)
        return metrics, details, figures

    def _learning_curve(self, stats, data, path):
        from dlapps.report import pyplot

        plt = pyplot()
        steps = np.array([s for s, _ in stats.episodes])
        returns = np.array([r for _, r in stats.episodes])
        window = min(100, len(returns))
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot(steps, returns, ".", alpha=0.3, label="training episode")
        axis.plot(steps[window - 1 :], smooth, label=f"mean of last {window}")
        if data.goal is not None:
            axis.axhline(data.goal, color="grey", linestyle="--", label=f"goal {data.goal:g}")
        axis.set_xlabel("environment steps")
        axis.set_ylabel("return")
        axis.set_title(f"{data.agent.upper()} on {data.env_id}")
        axis.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path

    def export_spec(self, model, data):
        factory = data.factory
        space = factory.observation_space
        policy = serving.keras_policy(model)
        # Observations the greedy policy meets on episodes apart from the evaluation ones.
        observations = episodes.visited_observations(
            policy, factory, [episodes.VALIDATION_SEED + 100 + i for i in range(4)], 1024
        )
        calibration = episodes.visited_observations(
            policy, factory, [episodes.VALIDATION_SEED + 200 + i for i in range(4)], 256
        )
        reference = policy(observations)

        def agreement(actions):
            if factory.discrete:
                return {"action_agreement": float(np.mean(np.asarray(actions) == reference))}
            return {"max_action_diff": float(np.max(np.abs(np.asarray(actions) - reference)))}

        def play(run):
            returns, _ = episodes.play_episodes(
                serving.runner_policy(run), factory, data.eval_seeds
            )
            return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns))}

        outputs = {"action": {"dtype": "int32" if factory.discrete else "float32", "shape": [None]}}
        if factory.discrete:
            scores = "q_values" if data.agent == "dqn" else "probabilities"
            outputs[scores] = {"dtype": "float32", "shape": [None, factory.num_actions]}
        endpoint = serving.policy_endpoint(model, space.shape, str(space.dtype))
        return ExportSpec(
            app=self.name,
            # Only the network that acts is exported (not the value or target network).
            model=model.q_network if data.agent == "dqn" else model.policy_network,
            serving=[endpoint],
            tflite=endpoint,
            output_key="action",
            test_inputs={"observation": observations},
            reference=reference,
            score=agreement,
            parity=agreement,
            representative_data=lambda: ({"observation": o[None]} for o in calibration),
            labels=list(data.labels),
            inputs={"observation": {"dtype": str(space.dtype), "shape": [None, *space.shape]}},
            outputs=outputs,
            # The observation normalisation stays float: one int8 scale for all of
            # the raw features would leave the small ones (CartPole's pole angle)
            # a handful of levels.
            int8_float_ops=("SUB", "MUL") if space.dtype != np.uint8 else (),
            score_runner=play,
        )

    def add_predict_arguments(self, parser):
        group = parser.add_argument_group("game")
        group.add_argument(
            "--episodes", type=int, default=100, help="game: seeded episodes to play (default 100)"
        )
        group.add_argument("--env", help="game: environment id (default: the one it trained on)")

    def predict(self, model_path, inputs, options):
        if inputs:
            raise UserError("a game agent takes no input files: use --episodes N (and --env ID)")
        episodes_count = options.get("episodes") or 100
        if episodes_count < 1:
            raise UserError(f"--episodes {episodes_count} is too small: play at least 1")
        factory, policy = _exported_policy(model_path, options.get("env"))
        first = options.get("seed") or 0
        seeds = list(range(first, first + episodes_count))
        returns, lengths = episodes.play_episodes(policy, factory, seeds)
        random_returns, _ = episodes.play_episodes(episodes.random_policy(factory), factory, seeds)
        return [
            f"{factory.env_id}: mean return {np.mean(returns):.1f} +- {np.std(returns):.1f} over "
            f"{len(seeds)} seeded episodes (seeds {seeds[0]}-{seeds[-1]}; "
            f"mean length {np.mean(lengths):.0f} steps)",
            f"random policy on the same episodes: {np.mean(random_returns):.1f} "
            f"+- {np.std(random_returns):.1f}",
        ]

    def commands(self):
        return [
            AppCommand(
                name="play",
                help="play one seeded episode with an exported agent and save it as a GIF",
                example="example:\n  dlapps play saved_models/game/1 --out episode.gif --seed 3",
                add_arguments=_play_arguments,
                run=_play,
            )
        ]


def _play_arguments(parser):
    parser.add_argument("--out", default="episode.gif", help="GIF to write (default: episode.gif)")
    parser.add_argument("--seed", type=int, default=0, help="the episode's seed (default: 0)")
    parser.add_argument("--env", help="environment id (default: the one it trained on)")


def _play(args):
    out = Path(args.out)
    if out.exists():
        raise UserError(f"{out} exists and is kept: pass --out with a new file name")
    if out.suffix.lower() != ".gif":
        raise UserError(f"--out {out} is not a .gif file name: use e.g. --out episode.gif")
    factory, policy = _exported_policy(args.model, args.env)
    episode_return, steps = episodes.record_episode(policy, factory, args.seed, out)
    return [
        f"wrote {out}: {factory.env_id}, seed {args.seed}, "
        f"return {episode_return:.1f} in {steps} steps"
    ]


def _exported_policy(model_path, env_id=None):
    """The environment factory and greedy policy of an exported SavedModel or .tflite file."""
    model_path = Path(model_path)
    directory = model_path if model_path.is_dir() else model_path.parent
    report = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    env_id = env_id or report.get("data", {}).get("environment")
    if not env_id:
        raise UserError(f"{directory}/report.json names no environment: pass --env ID")
    factory = EnvironmentFactory(env_id)
    trained_shape = report.get("data", {}).get("observation_shape")
    if trained_shape and list(factory.observation_space.shape) != list(trained_shape):
        raise UserError(
            f"{env_id} observations are {list(factory.observation_space.shape)}, but the model "
            f"takes {trained_shape}: pass the --env it was trained on, "
            f"{report['data'].get('environment')}"
        )
    run = TFLiteModel(model_path) if is_tflite(model_path) else signature_runner(model_path)
    return factory, serving.runner_policy(run)
