#!/usr/bin/env bash
# The whole test suite, from nothing: set-up, library tests, the chapters executed by nbval (quick profile),
# the website build (zero warnings) and the browser test of every page.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RESNET_BOOK_PROFILE="${RESNET_BOOK_PROFILE:-quick}" PYTHONHASHSEED=0
VPY=.venv/bin/python
t0=$SECONDS
echo "[test] 1/4 library tests"
"$VPY" -m pytest tests -m "not browser" -q -p no:cacheprovider --timeout 900 --durations=15
echo "[test] 2/4 chapters under nbval (profile: $RESNET_BOOK_PROFILE)"
"$VPY" -m pytest --nbval-lax --nbval-current-env chapters -q -p no:cacheprovider --durations=5
echo "[test] 3/4 website build"
bash scripts/build_book.sh
echo "[test] 4/4 browser test of the built site"
"$VPY" -m pytest tests -m browser -q -p no:cacheprovider --timeout 600
echo "[test] all passed in $((SECONDS - t0)) s (after set-up)"
