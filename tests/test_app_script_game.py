"""apps/game.py end to end; one file per script so pytest-xdist spreads them."""


def test_game_script_trains_plays_and_exports(tmp_path, run_app_script):
    stdout = run_app_script(
        "game", tmp_path, "--epochs", "1", "--time-budget", "1", "--eval-episodes", "2"
    )
    assert "random_policy_mean_return" in stdout
    assert (tmp_path / "out" / "game" / "1" / "game_int8.tflite").is_file()
