#!/usr/bin/env bash
# Chapter 8's stored runs (chapters/results/backbones/): the source network, the transfer grid (3 seeds) and the
# detection / segmentation models on composed canvases. Run from a clean checkout of a commit; each step is one
# command of at most ~15 min on a 2-core CPU, so on a shared machine each can take its turn (flock).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-chapters/results/backbones}
LOCK=${LOCK:-/tmp/heavy.lock}
run() { flock "$LOCK" env PYTHONPATH="$PWD" "$PY" -m resnet_lib.backbone_study "$@" --out "$OUT"; }
run pretrain
for seed in 0 1 2; do run transfer --seeds "$seed"; done
run dense --kinds faster_rcnn
run dense --kinds fcn deeplabv3
