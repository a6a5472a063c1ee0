"""resnet_lib.limits and the book's smoke mode: caps are honoured by fit/evaluate/landscape, claims are not checked."""
from __future__ import annotations

import pytest
import torch

import resnet_lib as rl
from resnet_lib import limits
from resnet_lib.data import DataBundle


def _bundle(n: int = 96, classes: int = 3) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % classes
    return DataBundle("digits", x, y, x[:0], y[:0], x[:64], y[:64], (0.5,), (0.25,), [str(i) for i in range(classes)],
                      "none", 0, "generated")


def _tiny() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))


def test_no_limits_by_default() -> None:
    assert limits.current() == limits.NO_LIMITS and not limits.current().active


def test_fit_stops_at_the_caps_and_records_them() -> None:
    cfg = rl.TrainConfig(epochs=5, batch_size=8, quiet=True, log_every_steps=1, eval_splits=("test",),
                         eval_batch_size=8)
    with limits.limited(limits.RunLimits(epochs=2, train_steps=3, eval_batches=1)):
        h = rl.fit(_tiny(), _bundle(), cfg)
    assert len(h.epochs) == 2
    assert [s[0] for s in h.steps] == [0, 1, 2, 3, 4, 5]  # 3 steps per epoch, not 12
    assert h.meta["limits"] == {"epochs": 2, "train_steps": 3, "eval_batches": 1, "batch_size": None}
    assert h.epochs[-1]["lr"] > 1e-3  # one-cycle computed for 5 epochs: after 2 of them the rate is still high
    assert limits.current() == limits.NO_LIMITS  # the block's limits are gone after it
    full = rl.fit(_tiny(), _bundle(), cfg)
    assert len(full.epochs) == 5 and "limits" not in full.meta and len(full.steps) == 60


def test_batch_size_cap_reaches_every_loader_and_fits_batches() -> None:
    cfg = rl.TrainConfig(epochs=1, batch_size=8, quiet=True, eval_splits=("test",), eval_batch_size=16)
    model, seen = _tiny(), {True: [], False: []}
    model.register_forward_hook(lambda m, i, o: seen[m.training].append(len(i[0])))
    with limits.limited(limits.RunLimits(train_steps=3, eval_batches=2, batch_size=4)):
        h = rl.fit(model, _bundle(), cfg)
        assert seen == {True: [4, 4, 4], False: [4, 4]} and h.meta["limits"]["batch_size"] == 4
        assert [len(y) for _, y in _bundle().loader("test", 64)] == [4] * 16       # any loader, any split
        assert rl.evaluate(model, _bundle(), batch_size=64).n == 8                 # 2 batches of at most 4
    seen = {True: [], False: []}
    with limits.limited(limits.RunLimits(batch_size=64)):     # a cap above the asked sizes changes nothing
        rl.fit(model, _bundle(), cfg)
    assert set(seen[True]) == {8} and set(seen[False]) == {16}
    assert [len(y) for _, y in _bundle().loader("train", 40)] == [40, 40, 16]   # no limits: as asked


def test_evaluate_reads_at_most_eval_batches() -> None:
    batches = [(torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)) for _ in range(5)]
    with limits.limited(limits.RunLimits(eval_batches=2)):
        assert rl.evaluate(_tiny(), batches, num_classes=3).n == 8
    assert rl.evaluate(_tiny(), batches, num_classes=3).n == 20


def test_landscape_uses_at_most_eval_batches() -> None:
    model = _tiny()
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
    batches = [(torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)) for _ in range(3)]
    with limits.limited(limits.RunLimits(eval_batches=1)):
        rl.loss_landscape_1d(model, batches, alphas=torch.tensor([0.0]))
    assert seen == [4]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_limits_are_one_line_errors(bad) -> None:
    with pytest.raises(ValueError, match="use a positive int"):
        limits.RunLimits(train_steps=bad)
    with pytest.raises(ValueError, match="RunLimits or None"):
        limits.set_limits({"epochs": 1})


def test_smoke_setup_installs_limits_and_skips_claims(capsys, monkeypatch) -> None:
    monkeypatch.setenv("RESNET_BOOK_SMOKE", "1")
    try:
        ctx = rl.book.setup(quiet=True)
        assert ctx.smoke and limits.current() == limits.SMOKE_LIMITS
        ctx.claim(False, "a claim about results")  # not checked, not raised
        assert capsys.readouterr().out.startswith(rl.book.NOT_CHECKED + " (smoke run")
    finally:
        limits.set_limits(None)
    ctx = rl.book.setup(quiet=True, smoke=False)
    assert limits.current() == limits.NO_LIMITS
    ctx.claim(True, "the deeper net trains worse")
    assert capsys.readouterr().out == f"{rl.book.HOLDS}: the deeper net trains worse\n"
    with pytest.raises(AssertionError, match="does not hold"):
        ctx.claim(False, "does not hold")
    ctx.claim(False, "about the full profile", profile="full")  # quick profile: not checked, not raised
    assert "measured in the full profile" in capsys.readouterr().out
    with pytest.raises(ValueError, match="not a profile"):
        ctx.claim(True, "x", profile="fast")
    monkeypatch.setattr(rl.hardware, "cpu_has_amx", lambda: False)
    ctx.claim(False, "int8 is faster", needs_amx=True)  # no AMX: reported, not raised
    assert capsys.readouterr().out.startswith(rl.book.NOT_CHECKED + " (a timing measured on a CPU with AMX")
    monkeypatch.setattr(rl.hardware, "cpu_has_amx", lambda: True)
    with pytest.raises(AssertionError, match="int8 is faster"):
        ctx.claim(False, "int8 is faster", needs_amx=True)


def test_repeats_are_the_profiles_count_and_one_in_a_smoke_run() -> None:
    quick = rl.book.BookContext(profile="quick", device=torch.device("cpu"), seed=0)
    full = rl.book.BookContext(profile="full", device=torch.device("cpu"), seed=0)
    smoke = rl.book.BookContext(profile="full", device=torch.device("cpu"), seed=0, smoke=True)
    assert (quick.repeats(2, 5), full.repeats(2, 5), smoke.repeats(2, 5)) == (2, 5, 1)
    with pytest.raises(ValueError, match="repeats must be positive ints"):
        full.repeats(2, 0)


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_smoke_variable(monkeypatch, value) -> None:
    monkeypatch.setenv("RESNET_BOOK_SMOKE", value)
    with pytest.raises(ValueError, match="RESNET_BOOK_SMOKE"):
        rl.book.setup(quiet=True)


def test_unchecked_claims_become_one_skip_reason_per_cause() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "chapters" / "conftest.py"
    spec = importlib.util.spec_from_file_location("chapters_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.NOT_CHECKED == rl.book.NOT_CHECKED
    smoke = f"{rl.book.NOT_CHECKED} (smoke run: capped training, its results are no measurement)"
    lines = [f"{smoke}: a: x > y", f"{smoke}: b", f"{rl.book.NOT_CHECKED} (measured in the quick profile): c"]
    assert mod.skip_reason(lines) == ("2 claims not checked (smoke run: capped training, its results are no "
                                      "measurement): a: x > y; b | 1 claim not checked (measured in the quick "
                                      "profile): c")
