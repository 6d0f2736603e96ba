"""Play Gymnasium episodes with a dlapps game agent .tflite file on an edge device.

Needs numpy, gymnasium and a TFLite interpreter (ai-edge-litert or
tflite-runtime); never TensorFlow or dlapps. Copy this file and `litert.py`
to the device together (Atari also needs ale-py and opencv-python-headless,
LunarLander box2d).

    python play.py game_int8.tflite --env CartPole-v1 --episodes 100
    CartPole-v1: mean return 500.0 +- 0.0 over 100 seeded episodes (seeds 0-99)

The model contract: input `observation` `[batch, *observation_shape]`
(float32, or uint8 stacked 84x84 frames for Atari), output `action`
`[batch]` int32 (the greedy action) or float32 `[batch, size]` (continuous
actions). The environment defaults to the one named in `report.json`
beside the .tflite file. Episode seeds are those of `dlapps predict`, so
the same seeds give the same episodes and returns.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

try:
    from . import litert  # imported as part of a package
except ImportError:
    import litert  # run as a script: the script's folder is on sys.path

EdgeError = litert.EdgeError


def trained_environment(model_path):
    """The environment id named in `report.json` beside the model, or None."""
    report = Path(model_path).parent / "report.json"
    if not report.is_file():
        return None
    return json.loads(report.read_text(encoding="utf-8")).get("data", {}).get("environment")


def make_environment(env_id):
    """The environment as dlapps trains on it (Atari: preprocessing, 4 stacked frames)."""
    try:
        import gymnasium
    except ImportError:
        raise EdgeError("gymnasium is not installed: pip install gymnasium") from None
    try:
        if env_id.startswith("ALE/"):
            import ale_py

            gymnasium.register_envs(ale_py)
            environment = gymnasium.make(env_id, frameskip=1)
            environment = gymnasium.wrappers.AtariPreprocessing(environment, frame_skip=4)
            return gymnasium.wrappers.FrameStackObservation(environment, 4)
        return gymnasium.make(env_id)
    except ImportError as error:
        raise EdgeError(f"environment {env_id!r} needs a package: {error}") from None
    except gymnasium.error.Error as error:
        raise EdgeError(f"environment {env_id!r}: {str(error).strip()}") from None


def play(model_path, env_id, episodes=100, first_seed=0, threads=None):
    """Plays `episodes` seeded episodes greedily; returns the list of returns.

    Example:

    >>> returns = play("game_int8.tflite", "CartPole-v1", episodes=3)
    >>> len(returns)
    3
    """
    interpreter = litert.load_interpreter(model_path, num_threads=threads)
    details = litert.input_details(interpreter)
    if set(details) != {"observation"}:
        raise EdgeError(
            f"not a dlapps game agent: its inputs are {sorted(details)}, not observation"
        )
    environment = make_environment(env_id)
    expected = [int(size) for size in details["observation"]["shape"][1:]]
    if list(environment.observation_space.shape) != expected:
        raise EdgeError(
            f"{env_id} observations are {list(environment.observation_space.shape)}, but the "
            f"model takes {expected}: pass the --env it was trained on"
        )
    discrete = hasattr(environment.action_space, "n")
    returns = []
    for seed in range(first_seed, first_seed + episodes):
        observation, _ = environment.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = litert.run(interpreter, np.asarray(observation)[None])["action"][0]
            observation, reward, terminated, truncated, _ = environment.step(
                int(action) if discrete else np.asarray(action, np.float32)
            )
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    environment.close()
    return returns


def main(argv=None):
    """Command line entry point; returns the exit status (0 ok, 1 error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the agent's .tflite file")
    parser.add_argument("--env", help="Gymnasium id (default: the one in report.json)")
    parser.add_argument("--episodes", type=int, default=100, help="seeded episodes to play")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--threads", type=int, help="interpreter CPU threads")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    try:
        env_id = args.env or trained_environment(args.model)
        if not env_id:
            raise EdgeError(f"no report.json beside {args.model} names the environment: pass --env")
        returns = play(args.model, env_id, args.episodes, args.seed, args.threads)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    last = args.seed + args.episodes - 1
    print(
        f"{env_id}: mean return {np.mean(returns):.1f} +- {np.std(returns):.1f} over "
        f"{args.episodes} seeded episodes (seeds {args.seed}-{last})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
