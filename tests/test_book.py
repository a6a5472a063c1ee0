"""The chapters' set-up helpers: profiles, labels, stored runs (local and fetched)."""
from __future__ import annotations

import json
import re

import pytest
import torch

import resnet_lib as rl
from resnet_lib.history import History


def test_profile_from_environment_and_device(monkeypatch):
    monkeypatch.delenv("RESNET_BOOK_PROFILE", raising=False)
    assert rl.book.default_profile(torch.device("cpu")) == "quick"
    assert rl.book.default_profile(torch.device("cuda")) == "full"
    monkeypatch.setenv("RESNET_BOOK_PROFILE", "FULL")
    assert rl.book.default_profile(torch.device("cpu")) == "full"
    monkeypatch.setenv("RESNET_BOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="'fast' is not a profile: use 'quick' or 'full'"):
        rl.book.default_profile(torch.device("cpu"))


def test_setup_pick_and_label(capsys):
    ctx = rl.book.setup(seed=3, profile="quick", device="cpu")
    assert "profile=quick" in capsys.readouterr().out
    assert (ctx.pick(quick=1, full=2), ctx.seed, ctx.device.type) == (1, 3, "cpu")
    with ctx.timer() as t:
        pass
    label = ctx.label("Fashion-MNIST", t.seconds)
    assert label.startswith("Fashion-MNIST · quick profile · CPU (") and label.endswith(" s")
    # timings on a CPU depend on its vector ISA (AVX2 vs AVX512...), so the label names it
    assert re.search(r"CPU \(\d+ threads, [A-Z0-9_]+\)", label), label
    with pytest.raises(ValueError, match="not a profile"):
        rl.book.setup(profile="medium", quiet=True)


def _stored_run(d):
    h = History(epochs=[{"epoch": 1, "train_acc": 0.5, "test_acc": 0.4}], steps=[[0, 2.3, 0.1]])
    h.save(d / "history.json")
    (d / "run.json").write_text(json.dumps({"device": "cpu", "status": "finished"}))
    return h


def test_load_run_reads_history_and_provenance(tmp_path):
    h = _stored_run(tmp_path)
    loaded, info = rl.book.load_run(tmp_path)
    assert loaded.epochs == h.epochs and loaded.steps == h.steps and info["status"] == "finished"


def test_load_run_missing_files_is_one_clear_line(tmp_path):
    with pytest.raises(ValueError, match="missing history.json, run.json") as e:
        rl.book.load_run(tmp_path / "nothing")
    assert "\n" not in str(e.value)


def test_load_run_fetches_what_is_missing(tmp_path):
    src = tmp_path / "repo" / "run"
    src.mkdir(parents=True)
    h = _stored_run(src)
    dst = tmp_path / "colab" / "run"
    loaded, info = rl.book.load_run(dst, fetch_from=src.as_uri())  # file:// stands in for the repository's URL
    assert loaded.epochs == h.epochs and info["device"] == "cpu"
    assert sorted(p.name for p in dst.iterdir()) == ["history.json", "run.json"]  # no temporary files left


def test_load_run_failed_fetch_is_a_clear_error_and_leaves_nothing(tmp_path):
    dst = tmp_path / "run"
    with pytest.raises(ValueError, match="could not be downloaded") as e:
        rl.book.load_run(dst, fetch_from=(tmp_path / "absent").as_uri())
    assert "\n" not in str(e.value)
    assert not dst.exists() or not any(dst.iterdir())


def test_load_run_weights_loads_strictly_and_names_the_fix(tmp_path):
    import torch

    net = rl.get_model("resnet20", num_classes=10, in_channels=1)
    torch.save(net.state_dict(), tmp_path / "model.pt")
    other = rl.get_model("resnet20", num_classes=10, in_channels=1)
    assert rl.book.load_run_weights(tmp_path, other) is other and not other.training
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
    with pytest.raises(ValueError, match="does not match the model architecture") as e:
        rl.book.load_run_weights(tmp_path, rl.get_model("resnet56", num_classes=10, in_channels=1))
    assert "\n" not in str(e.value) and "run.json" in str(e.value)
    with pytest.raises(ValueError, match="holds no weights"):
        rl.book.load_run_weights(tmp_path / "none", other)
    (tmp_path / "model.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot be read"):
        rl.book.load_run_weights(tmp_path, other)


def test_load_run_weights_fetches_model_pt(tmp_path):
    import torch

    src = tmp_path / "repo"
    src.mkdir()
    net = rl.get_model("resnet20", num_classes=10, in_channels=1)
    torch.save(net.state_dict(), src / "model.pt")
    dst = tmp_path / "colab"
    rl.book.load_run_weights(dst, rl.get_model("resnet20", num_classes=10, in_channels=1), fetch_from=src.as_uri())
    assert [p.name for p in dst.iterdir()] == ["model.pt"]


def test_seed_override_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("RESNET_BOOK_SEED", "3")
    ctx = rl.book.setup(seed=0, profile="quick", device="cpu", smoke=False)
    assert ctx.seed == 3 and "seed=3 (from RESNET_BOOK_SEED)" in capsys.readouterr().out
    monkeypatch.setenv("RESNET_BOOK_SEED", "three")
    with pytest.raises(ValueError, match="RESNET_BOOK_SEED='three' is not an integer"):
        rl.book.setup(seed=0, profile="quick", device="cpu", smoke=False)
    monkeypatch.delenv("RESNET_BOOK_SEED")
    assert rl.book.setup(seed=0, profile="quick", device="cpu", smoke=False, quiet=True).seed == 0
