"""scripts/stage_executed.py refuses what must not be published: stale, smoke-run, seed-sweep, failed executions."""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("stage_executed", ROOT / "scripts" / "stage_executed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _chapter(tmp: Path, **entry) -> tuple[Path, Path]:
    src, executed = tmp / "src" / "ch.ipynb", tmp / "executed"
    src.parent.mkdir()
    executed.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nbformat.write(nb, str(src))
    nb.cells[0].execution_count = 1
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nbformat.write(nb, str(executed / "ch.ipynb"))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    (executed / "manifest.json").write_text(json.dumps({"ch.ipynb": {"source_sha256": sha, **entry}}))
    return executed, src


def test_a_clean_execution_is_accepted(tmp_path):
    executed, src = _chapter(tmp_path, smoke=False, seed_override=None)
    assert _module().check(executed, [src]) == []


def test_smoke_runs_and_seed_sweeps_are_refused(tmp_path):
    executed, src = _chapter(tmp_path, smoke=True, seed_override="3")
    problems = _module().check(executed, [src])
    assert any("smoke run" in p for p in problems) and any("RESNET_BOOK_SEED=3" in p for p in problems)


def test_a_stale_execution_is_refused(tmp_path):
    executed, src = _chapter(tmp_path)
    src.write_text(src.read_text().replace("print(1)", "print(2)"))
    assert any("another version" in p for p in _module().check(executed, [src]))
