"""``python -m resnet_lib.train``: files written, provenance, and bad arguments as one-line errors."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_lib.history import History
from resnet_lib.cli import build_parser, config_from_args, main

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "resnet20", "--data", "digits", "--train-size", "128", "--val-size", "64", "--test-size", "64",
        "--batch-size", "32", "--epochs", "2", "--quiet", "--device", "cpu"]


def test_cli_writes_history_checkpoint_and_run_json(tmp_path):
    out = tmp_path / "run"
    assert main(TINY + ["--out", str(out), "--lr", "0.05", "--schedule", "step", "--warmup-epochs", "0.5",
                        "--label-smoothing", "0", "--weight-decay", "1e-4", "--precision", "fp32", "--seed", "3"]) == 0
    h = History.load(out / "history.json")
    assert len(h.epochs) == 2 and {"val_acc", "test_acc", "train_acc"} <= set(h.epochs[0])
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 2 and any(k.endswith("weight") for k in ck["model"])
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["config"]["model"] == "resnet20" and run["config"]["seed"] == 3
    assert run["config"]["schedule"] == "step" and run["config"]["warmup_epochs"] == 0.5
    assert set(run["versions"]) == {"python", "torch", "torchvision", "numpy", "resnet_lib"}
    assert run["start_time"] and run["end_time"] and "git_commit" in run and "git_dirty" in run and run["device"] == "cpu"
    assert run["final"]["test_acc"] == h.final("test_acc")
    assert 0.0 <= run["final_test"]["accuracy"] <= 1.0
    assert run["data"] == {"name": "digits", "source": "scikit-learn load_digits (bundled)", "train": 128, "val": 64,
                           "test": 64, "augment": "none", "pad": 0}  # the policy resolved from augment=None


def test_parser_maps_every_config_field():
    cfg = config_from_args(build_parser().parse_args(
        ["--no-nesterov", "--channels-last", "true", "--eval-splits", "val", "test", "--grad-clip", "none",
         "--milestones", "0.3", "0.6", "--augment", "false", "--train-size", "1000"]))
    assert cfg.nesterov is False and cfg.channels_last is True and cfg.eval_splits == ("val", "test")
    assert cfg.grad_clip is None and cfg.milestones == (0.3, 0.6) and cfg.augment is False and cfg.train_size == 1000
    assert config_from_args(build_parser().parse_args(["--augment", "flip"])).augment == "flip"


BAD = [
    (["--epochs", "0"], "error: epochs=0"),
    (["--schedule", "wiggly"], "error: schedule='wiggly'"),
    (["--precision", "fp8"], "error: precision='fp8'"),
    (["--model", "no-such-net"], "error: unknown model"),
    (["--data", "no-such-data"], "error: unknown dataset"),
    (["--lr", "abc"], "invalid float value"),
    (["--bogus"], "unrecognized arguments"),
    (["--model-options", "depth"], "error: model_options=('depth',) is not allowed: use KEY=VALUE"),
    (["--model-options", "no_such_option=1"], "error: --model-options no_such_option=1: "),
]


def test_model_options_reach_the_model_and_run_json(tmp_path):
    out = tmp_path / "sd"
    assert main([*TINY, "--out", str(out), "--epochs", "1", "--model-options", "stochastic_depth_prob=0.2",
                 "widths=(8, 16, 32)", "block=preact_basic"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["model_options"] == ["stochastic_depth_prob=0.2", "widths=(8, 16, 32)", "block=preact_basic"]
    state = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    assert state["conv1.weight"].shape[0] == 8 and "final_bn.weight" in state  # pre-activation, 8 channels


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, args, needle):
    try:
        code = main([*TINY, "--out", str(tmp_path / "x"), *args])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and needle in err, err
    if needle.startswith("error: "):
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "checkpoint.pt").exists()


@pytest.mark.parametrize("args,needle", [BAD[0], BAD[3], BAD[5]])
def test_bad_arguments_as_a_command_no_traceback(tmp_path, args, needle):
    res = subprocess.run([sys.executable, "-m", "resnet_lib.train", *TINY, "--out", str(tmp_path / "x"), *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=100, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 2
    assert needle in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_existing_run_without_resume_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(TINY + ["--out", str(out), "--epochs", "1"]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(TINY + ["--out", str(out), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and len(err.strip().splitlines()) == 1
    assert (out / "checkpoint.pt").read_bytes() == before


def test_recipe_paper_sets_the_papers_values_and_explicit_flags_win():
    from resnet_lib.cli import parse_args
    from resnet_lib.train_config import RECIPES, TrainConfig, from_recipe

    paper = config_from_args(parse_args(["--recipe", "paper"]))
    assert (paper.lr, paper.weight_decay, paper.schedule, paper.milestones, paper.nesterov) == \
        (0.1, 1e-4, "step", (0.5, 0.75), False)
    assert paper.augment == "crop-flip" and paper.label_smoothing == 0.0 and not paper.no_decay_bn_bias
    assert paper == from_recipe("paper") and paper.recipe == "paper"
    mine = config_from_args(parse_args(["--recipe", "paper", "--lr", "0.05", "--augment", "flip"]))
    assert (mine.lr, mine.augment, mine.weight_decay) == (0.05, "flip", 1e-4)
    assert config_from_args(parse_args([])) == TrainConfig()               # no recipe: the defaults
    assert set(RECIPES["paper"]) <= {f.name for f in dataclasses.fields(TrainConfig)}
    with pytest.raises(ValueError, match="recipe='fast' is not allowed: use one of default, paper"):
        config_from_args(parse_args(["--recipe", "fast"]))
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        from_recipe("fast")


def test_recipe_speedrun_builds_its_network_from_the_command_line(tmp_path):
    import json

    from resnet_lib.cli import parse_args
    from resnet_lib.train_config import from_recipe

    cfg = config_from_args(parse_args(["--recipe", "speedrun"]))
    assert cfg == from_recipe("speedrun") and cfg.model == "resnet9"
    assert cfg.model_options == ("widths=(16, 32, 64, 128)",)
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.augment) == (3, 256, 0.4, False)
    cfg94 = config_from_args(parse_args(["--recipe", "speedrun94"]))   # the 94 % target: same net, 6 epochs, flips
    assert (cfg94.model, cfg94.model_options) == (cfg.model, cfg.model_options)
    assert (cfg94.epochs, cfg94.batch_size, cfg94.lr, cfg94.augment) == (6, 256, 0.4, "flip")
    out = tmp_path / "sr"        # the recipe's network on 8x8 digits, one short epoch: the CLI path works
    assert main(["--recipe", "speedrun", "--data", "digits", "--train-size", "256", "--val-size", "0",
                 "--test-size", "64", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["recipe"] == "speedrun" and info["config"]["model_options"] == ["widths=(16, 32, 64, 128)"]


def test_switches_for_fields_named_no_something_set_what_they_say():
    """--no-decay-bn-bias turns no_decay_bn_bias ON (argparse's BooleanOptionalAction turned it off: a run of
    chapter 5's grid trained with decay on BN while its flag said otherwise)."""
    from resnet_lib.cli import parse_args

    def cfg(*a):
        return config_from_args(parse_args(list(a)))

    assert cfg("--no-decay-bn-bias").no_decay_bn_bias is True
    assert cfg("--recipe", "paper", "--no-decay-bn-bias").no_decay_bn_bias is True
    assert cfg("--no-no-decay-bn-bias").no_decay_bn_bias is False
    assert cfg("--no-nesterov").nesterov is False and cfg("--recipe", "paper", "--nesterov").nesterov is True
    assert cfg("--quiet").quiet is True and cfg().quiet is False
