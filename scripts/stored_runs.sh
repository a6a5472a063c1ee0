#!/usr/bin/env bash
# Re-create the stored longer runs that chapter 3 plots next to its live quick run (chapters/results/).
# Each is one `python -m resnet_lib.train` call; its history.json and run.json (provenance) are kept, and the final
# weights as model.pt (fp32 state_dict, for the chapters that read a trained network); the checkpoint is not (it
# is only needed to resume). The time of each run is in its run.json (start_time, end_time, device_name).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}  # e.g. PY=/path/to/.venv/bin/python when run from a worktree at a fixed commit
# the paper's CIFAR recipe (Sec. 4.2) on 30k Fashion-MNIST images: SGD 0.9, wd 1e-4, lr 0.1 divided by 10 at
# 50 % and 75 %, batch 128, crop + flip; a 1-epoch linear warm-up from 0.01 for every net (the paper warmed up
# ResNet-110; applied to all four so that the only difference between the runs is the architecture)
recipe=(--data fashion-mnist --train-size 30000 --epochs 10 --batch-size 128 --lr 0.1 --momentum 0.9 --no-nesterov
        --weight-decay 1e-4 --no-no-decay-bn-bias --schedule step --milestones 0.5 0.75 --label-smoothing 0
        --augment crop-flip --warmup-epochs 1 --warmup-mode linear --warmup-start 0.1 --seed 0 --quiet)
[ $# -gt 0 ] || set -- resnet20 resnet56 plain20 plain56
for model in "$@"; do
  out=chapters/results/${model}_fmnist30k_step10
  rm -rf "$out"
  echo "[runs] $model -> $out"
  "$PY" -m resnet_lib.train --model "$model" "${recipe[@]}" --out "$out"
  "$PY" -c "import sys, torch; from resnet_lib.checkpoint import load_checkpoint
torch.save(load_checkpoint(sys.argv[1] + '/checkpoint.pt')['model'], sys.argv[1] + '/model.pt')" "$out"
  rm -f "$out/checkpoint.pt"
done
