#!/usr/bin/env bash
# The main job, from nothing: set everything up and build the website into _build/html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build_book.sh
echo "[book] open _build/html/index.html"
