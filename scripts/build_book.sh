#!/usr/bin/env bash
# Build the website into _build/html (jupyter-book 1.x). References are checked (nitpicky) and ANY warning fails
# the build. Works from any directory; needs the set-up (bash scripts/setup.sh) to have run.
#
#   bash scripts/build_book.sh                  executes the chapters (quick profile unless RESNET_BOOK_PROFILE is
#                                               set) and builds
#   bash scripts/build_book.sh --executed DIR   executes nothing: publishes the chapters exactly as nbval ran them
#                                               (pytest ... chapters --publish-dir DIR, as scripts/test.sh does);
#                                               refuses if a chapter is missing, failed, or is stale
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf '[book] %s\n' "$*"; }
die() { printf '[book] ERROR: %s\n' "$*" >&2; exit 1; }

JB="$ROOT/.venv/bin/jupyter-book"
[ -x "$JB" ] || die "no $JB: run 'bash scripts/setup.sh' first"
[ -f _static/mathjax/tex-chtml.js ] || bash scripts/fetch_assets.sh

EXECUTED=""
if [ "${1:-}" = "--executed" ]; then
  [ -n "${2:-}" ] || die "--executed needs a folder (the --publish-dir of the nbval run)"
  EXECUTED=$(cd "$2" 2>/dev/null && pwd) || die "--executed $2: no such folder"
elif [ $# -gt 0 ]; then
  die "unknown argument '$1': use no argument (execute and build) or --executed DIR"
fi

export RESNET_BOOK_PROFILE="${RESNET_BOOK_PROFILE:-quick}" PYTHONHASHSEED=0
export PATH="$ROOT/.venv/bin:$PATH"   # the notebooks' python3 kernel is this environment's Python
export PYDEVD_DISABLE_FILE_VALIDATION=1  # silences a debugger warning some kernels print on start

# --all rebuilds every page; also drop outputs of chapters that no longer exist.
rm -rf _build/html _build/jupyter_execute _build/.doctrees
mkdir -p _build
log=_build/build.log
t0=$SECONDS
if [ -n "$EXECUTED" ]; then
  SRC="$ROOT/_build/src"
  "$ROOT/.venv/bin/python" scripts/stage_executed.py "$EXECUTED" "$SRC" \
    || die "not building from $EXECUTED: the chapters above have no complete, current, tested execution"
  say "building the website from the chapters as nbval executed them ($EXECUTED; nothing is executed again)"
else
  SRC="$ROOT"
  say "building the website (profile: $RESNET_BOOK_PROFILE; the chapters execute, this takes minutes)"
fi
set +e
"$JB" build --all -W -n --keep-going --builder html --path-output "$ROOT" "$SRC" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ -n "$EXECUTED" ] && grep -q -E 'Executing notebook|Executing:' "$log"; then
  die "the build executed a chapter although it was asked to publish the tested execution (log: $log)"
fi
secs=$((SECONDS - t0))
nwarn=$(grep -c -E '(WARNING|ERROR|CRITICAL):' "$log" || true)
npages=$(find _build/html -name '*.html' 2>/dev/null | wc -l)
if [ "$status" -ne 0 ] || [ "$nwarn" -ne 0 ]; then
  grep -E '(WARNING|ERROR|CRITICAL):' "$log" >&2 || true
  # a chapter that fails to execute stops the build: name it and the error
  grep -E '^(myst_nb\.core\.execute\.base\.ExecutionError|nbclient\.exceptions\.\w+|\w*Error):' "$log" \
    | sort -u | head -n 5 >&2 || true
  die "website build failed after ${secs} s: exit status $status, $nwarn warning(s)/error(s) (full log: $log)"
fi
say "built $npages pages with 0 warnings in ${secs} s: open $ROOT/_build/html/index.html"
