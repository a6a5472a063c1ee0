#!/usr/bin/env bash
# Re-create the stored runs of chapter 6, the family tree (chapters/results/family/): the shortcut-form study
# (resnet_lib.shortcut_study) and the side-by-side runs.
# Six members of the family at one budget (0.25-0.30 M parameters, 31-34 M multiply-adds per 28x28 image), each
# trained with three seeds by one `python -m resnet_lib.train` call; history.json and run.json (provenance: the
# configuration with its model options, commit, device, times) are kept, the weights are not.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# the paper's CIFAR recipe (Sec. 4.2) shortened to 4 epochs of 6k Fashion-MNIST images: SGD 0.9, wd 1e-4,
# lr 0.1 divided by 10 at 50 % and 75 %, batch 128, crop + flip, a 1-epoch linear warm-up (as scripts/stored_runs.sh);
# the whole 10k test set, evaluated after the last epoch (the final model is compared, never the best epoch's)
recipe=(--data fashion-mnist --train-size 6000 --val-size 0 --epochs 4 --batch-size 128 --lr 0.1 --momentum 0.9
        --no-nesterov --weight-decay 1e-4 --no-no-decay-bn-bias --schedule step --milestones 0.5 0.75
        --label-smoothing 0 --augment crop-flip --warmup-epochs 1 --warmup-mode linear --warmup-start 0.1 --quiet)
# name | --model | --model-options (all with projection shortcuts, option B, so that only the idea differs)
variants=(
  "resnet20|resnet20|shortcut=B"
  "preact_resnet20|preact_resnet20|"
  "se_resnet20|se_resnet20|"
  "resnet20_sd|resnet20|shortcut=B stochastic_depth_prob=0.2"
  "wrn10_2|cifar_resnet|depth=8 block=preact_basic shortcut=B widths=(32,64,128) stem_width=16"
  "resnext20_8x4d|cifar_resnet|depth=20 block=bottleneck shortcut=B widths=(16,32,64) stem_width=16 groups=8 width_per_group=16"
)
seeds=${SEEDS:-0 1 2}
only=" ${*:-} "
if [ "$only" = "  " ] || [[ "$only" == *" shortcut_study "* ]]; then
  # the shortcut forms of He et al. (2016b), Sec. 3: 27-unit stacks on scikit-learn's digits, 150 steps, 3 seeds
  echo "[family] shortcut study -> chapters/results/family/shortcut_study.json"
  mkdir -p chapters/results/family
  "$PY" -m resnet_lib.shortcut_study --out chapters/results/family/shortcut_study.json --seeds $seeds
fi
for spec in "${variants[@]}"; do
  IFS='|' read -r name model options <<< "$spec"
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || continue
  for seed in $seeds; do
    out=chapters/results/family/${name}_s${seed}
    rm -rf "$out"
    echo "[family] $name seed $seed -> $out"
    # shellcheck disable=SC2086  # the options are separate KEY=VALUE words
    "$PY" -m resnet_lib.train --model "$model" ${options:+--model-options $options} "${recipe[@]}" --seed "$seed" \
      --out "$out"
    rm -f "$out/checkpoint.pt"
  done
done
