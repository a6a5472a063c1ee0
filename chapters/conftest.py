"""pytest hooks for the chapters under nbval: publish what ran, and report unchecked claims as skipped.

* ``--publish-dir DIR``: after the run, every chapter whose cells all passed (or were skipped by ``NBVAL_SKIP``) is
  written to ``DIR/<name>.ipynb`` with the outputs of *this* execution (nbval keeps each cell's outputs on its test
  item as ``test_outputs``), plus ``DIR/manifest.json`` (source hash, profile, smoke flag, seconds, cells). A chapter
  with any failed, errored or un-run cell is not written, and an older copy of it is deleted first, so the website
  (``scripts/build_book.sh --executed DIR``) can only publish complete, tested executions.
* A cell that printed ``claim not checked (...)`` (``rl.book.BookContext.claim`` in a smoke run, or a claim that
  belongs to the other profile) is reported as *skipped* with that reason, so an unchecked claim never looks passed.
* The run ends with the seconds each chapter took (its cells' set-up, call and teardown, summed; under xdist, in
  whichever worker ran it): the figures the execution budget in CONTRIBUTING.md is tracked with.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

NOT_CHECKED = "claim not checked"  # = resnet_lib.book.NOT_CHECKED (not imported: this file must not need torch)
_SECONDS: dict[str, float] = {}  # chapter path -> seconds of its reports, for the summary line


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--publish-dir", default=None,
                     help="write each fully passing chapter, with this run's outputs, to this folder")


def _is_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


def _unchecked(item: pytest.Item) -> list[str]:
    lines = []
    for out in item.test_outputs or []:
        if out.get("output_type") == "stream":
            lines += [ln for ln in out.get("text", "").splitlines() if ln.startswith(NOT_CHECKED)]
    return lines


def skip_reason(unchecked: list[str]) -> str:
    """``["claim not checked (why): what", ...]`` -> ``"N claim(s) not checked (why): what; what"`` per reason."""
    by_why: dict[str, list[str]] = {}
    for line in unchecked:
        why, _, what = line[len(NOT_CHECKED):].strip().partition("): ")
        by_why.setdefault(why.lstrip("("), []).append(what)
    return " | ".join(f"{len(w)} {'claim' if len(w) == 1 else 'claims'} not checked ({why}): {'; '.join(w)}"
                      for why, w in by_why.items())


class _Publisher:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cells: dict[Path, list[pytest.Item]] = {}
        self.source: dict[Path, bytes] = {}  # each notebook as collected (the file may change during the run)
        self.outcome: dict[str, str] = {}  # nodeid -> "passed" | "skipped" | "failed"
        self.start: dict[Path, float] = {}
        self.end: dict[Path, float] = {}

    def collected(self, items: list[pytest.Item]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for item in items:
            if _is_cell(item):
                nb = Path(str(item.parent.path))
                self.cells.setdefault(nb, []).append(item)
                self.source.setdefault(nb, nb.read_bytes())
                (self.folder / nb.name).unlink(missing_ok=True)  # no stale copy survives a failed re-run

    def report(self, item: pytest.Item, report: pytest.TestReport) -> None:
        nb = Path(str(item.parent.path))
        self.start.setdefault(nb, time.time())
        self.end[nb] = time.time()
        if report.failed:
            self.outcome[item.nodeid] = "failed"
        elif report.when == "call" or report.skipped:
            self.outcome.setdefault(item.nodeid, "skipped" if report.skipped else "passed")

    def write(self) -> None:
        manifest_path = self.folder / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        for nb, items in self.cells.items():
            manifest.pop(nb.name, None)
            states = [self.outcome.get(i.nodeid) for i in items]
            ran_all = all(s in ("passed", "skipped") for s in states) and all(
                i.test_outputs is not None for i, s in zip(items, states) if not i.options.get("skip"))
            if not ran_all:
                continue
            notebook = nbformat.reads(self.source[nb].decode("utf-8"), as_version=4)
            code = [c for c in notebook.cells if c.cell_type == "code"]
            count = 0
            for cell, item in zip(code, items):
                if item.options.get("skip"):
                    cell.outputs, cell.execution_count = [], None
                    continue
                count += 1
                cell.execution_count = count
                cell.outputs = [nbformat.from_dict(_clean(o, count)) for o in item.test_outputs]
            nbformat.validate(notebook)
            nbformat.write(notebook, str(self.folder / nb.name))
            manifest[nb.name] = {
                "source_sha256": hashlib.sha256(self.source[nb]).hexdigest(),
                "profile": os.environ.get("RESNET_BOOK_PROFILE", ""),
                "smoke": os.environ.get("RESNET_BOOK_SMOKE", "") not in ("", "0"),
                "seed_override": os.environ.get("RESNET_BOOK_SEED", "").strip() or None,
                "seconds": round(self.end[nb] - self.start[nb], 1),
                "cells": {"executed": count, "skipped": len(items) - count,
                          "claims_not_checked": sum(len(_unchecked(i)) for i in items)},
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _clean(out: dict, count: int) -> dict:
    """An nbval output as a valid nbformat v4 output (nbval's own fields only)."""
    kind = out["output_type"]
    if kind == "stream":
        return {"output_type": kind, "name": out["name"], "text": out["text"]}
    d = {"output_type": kind, "data": dict(out["data"]), "metadata": dict(out.get("metadata", {}))}
    if kind == "execute_result":
        d["execution_count"] = count
    return d


def pytest_configure(config: pytest.Config) -> None:
    folder = config.getoption("--publish-dir", default=None)
    if folder:
        config._chapters_publisher = _Publisher(Path(folder).resolve())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pub = getattr(config, "_chapters_publisher", None)
    if pub is not None:
        pub.collected(items)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if _is_cell(item) and report.when == "call" and report.passed:
        unchecked = _unchecked(item)
        if unchecked:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.cell_num, skip_reason(unchecked))
    pub = getattr(item.config, "_chapters_publisher", None)
    if pub is not None and _is_cell(item):
        pub.report(item, report)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    chapter = report.nodeid.split("::")[0]
    if chapter.endswith(".ipynb"):
        _SECONDS[chapter] = _SECONDS.get(chapter, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if _SECONDS:
        per = "; ".join(f"{Path(c).stem.split('_')[0]} {s:.0f}" for c, s in sorted(_SECONDS.items()))
        terminalreporter.write_line(f"seconds per chapter: {per}; sum {sum(_SECONDS.values()):.0f}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    pub = getattr(session.config, "_chapters_publisher", None)
    if pub is not None:
        pub.write()
