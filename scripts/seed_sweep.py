"""Re-run chapters under nbval with other seeds and record what their asserting cells printed.

    python scripts/seed_sweep.py chapters/02_plain_cnn_limits.ipynb --seeds 1 2 3 4 [--profile quick]

A claim in a chapter is checked with the chapter's seed on every test run; this checks it once with other seeds, so
the text can say how robust it is. Each seed is one ``pytest --nbval-lax`` run with ``RESNET_BOOK_SEED`` set (every
cell executes, every claim is asserted); nothing it produces is published (scripts/stage_executed.py refuses seed
sweeps). Writes ``chapters/results/seed_sweeps/<chapter>.md``: per seed, passed or not and the seconds it took, and
for every code cell that asserts (``ctx.claim`` or ``assert``), its printed output under each seed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def asserting_cells(nb: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    """``(index among code cells, cell)`` of the code cells that assert something."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    return [(i, c) for i, c in enumerate(code) if "claim(" in c.source or "assert " in c.source]


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream").rstrip()


def failure_lines(stdout: str, limit: int = 8) -> list[str]:
    """The lines of a pytest run that say which cell failed and with what message (nbval's failure report)."""
    keep = [ln.rstrip() for ln in stdout.splitlines()
            if ln.startswith("FAILED ") or "Error:" in ln or ln.lstrip().startswith("assert ")]
    return list(dict.fromkeys(keep))[:limit] or ["(pytest printed no failure line)"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--profile", default="quick", choices=("quick", "full"))
    ap.add_argument("--out", type=Path, default=ROOT / "chapters" / "results" / "seed_sweeps")
    args = ap.parse_args(argv)
    chapter = args.chapter.resolve()
    if not chapter.is_file() or chapter.suffix != ".ipynb":
        raise SystemExit(f"{args.chapter} is not a notebook: pass e.g. chapters/02_plain_cnn_limits.ipynb")
    sys.path.insert(0, str(ROOT))
    from resnet_lib.hardware import cpu_label

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    rows, outputs, failures = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            env = dict(os.environ, RESNET_BOOK_SEED=str(seed), RESNET_BOOK_PROFILE=args.profile)
            env.pop("RESNET_BOOK_SMOKE", None)
            pub = Path(tmp) / f"seed{seed}"
            start = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", str(chapter),
                                "-q", "-rf", "-p", "no:cacheprovider", "--publish-dir", str(pub)],
                               cwd=ROOT, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            tail = (r.stdout.strip().splitlines() or ["(no output)"])[-1]
            rows.append((seed, r.returncode == 0, seconds, tail))
            if r.returncode != 0:  # which cell failed and why: the claim's own words, for the record
                failures[seed] = failure_lines(r.stdout)
            print(f"[sweep] {chapter.name} seed {seed}: {'passed' if r.returncode == 0 else 'FAILED'} "
                  f"in {seconds:.0f} s ({tail})", flush=True)
            done = pub / chapter.name
            if done.is_file():
                outputs[seed] = {i: printed(c) for i, c in asserting_cells(nbformat.read(str(done), as_version=4))}
    nb = nbformat.read(str(chapter), as_version=4)
    lines = [f"# Seed sweep: {chapter.name}", "",
             f"Written by `python scripts/seed_sweep.py` on {time.strftime('%Y-%m-%d')}, commit {commit}"
             f"{' (with uncommitted changes)' if dirty else ''}, profile `{args.profile}`, {cpu_label()}. "
             "Each seed is one full nbval run of the chapter with `RESNET_BOOK_SEED` set; the chapter's own seed "
             "is checked by every test run.", "", "| seed | result | seconds |", "|---|---|---|"]
    lines += [f"| {s} | {'all cells passed' if ok else 'FAILED: ' + tail} | {sec:.0f} |" for s, ok, sec, tail in rows]
    for seed, failed in failures.items():
        lines += ["", f"Seed {seed} failed:", "", "```", *failed, "```"]
    for i, cell in asserting_cells(nb):
        first = next((ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
        lines += ["", f"## Code cell {i}: `{first.strip()[:90]}`", ""]
        for seed in args.seeds:
            text = outputs.get(seed, {}).get(i)
            lines += [f"seed {seed}:", "", "```", text if text else "(no complete run, or nothing printed)", "```", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / (chapter.stem + ".md")
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    print(f"[sweep] wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0 if all(ok for _, ok, _, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
