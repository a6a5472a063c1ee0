#!/usr/bin/env bash
# Chapter 8's stored runs (chapters/results/backbones/): the source network, the transfer grid (3 seeds) and the
# detection / segmentation models on composed canvases. Run from a clean checkout of a commit. The steps run in
# one turn of the machine (flock), about 15 min on a 2-core CPU, so that a shared machine stays usable.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-chapters/results/backbones}
LOCK=${LOCK:-/tmp/heavy.lock}
study() { env PYTHONPATH="$PWD" "$PY" -m resnet_lib.backbone_study "$@" --out "$OUT"; }
turn() { flock "$LOCK" bash -c "$(declare -f study); set -e; PY='$PY' OUT='$OUT'; $1"; }
turn "study pretrain; study transfer --seeds 0; study transfer --seeds 1; study transfer --seeds 2;
      study dense --kinds faster_rcnn fcn deeplabv3"
