#!/usr/bin/env bash
# The whole test suite, from nothing: set-up, library tests, the chapters executed ONCE by nbval (quick profile;
# the website publishes exactly that execution), every chapter's full profile as a smoke run (capped training,
# generated CIFAR files), the website build (zero warnings, nothing executed) and the browser test of every page.
# Phases that measure no speed run in two pytest-xdist workers of one thread each (the machine has 2 cores: the
# library tests took 120 s in one process and 60 s this way, measured on the AMX Xeon, 2026-12-06); the quick
# chapters run alone, in one process, because their pages publish and assert timings.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
t_setup=$SECONDS
bash scripts/setup.sh
t_setup=$((SECONDS - t_setup))
export RESNET_BOOK_PROFILE="${RESNET_BOOK_PROFILE:-quick}" PYTHONHASHSEED=0
export PATH="$ROOT/.venv/bin:$PATH"   # nbval's kernels run in this environment
VPY="$ROOT/.venv/bin/python"
EXECUTED="$ROOT/_build/executed"
SMOKE_DATA="$ROOT/_build/smoke-data"
t0=$SECONDS
declare -a split
lap() { split+=("$1 $(($SECONDS - $2)) s"); }

echo "[test] 1/5 library tests"
t=$SECONDS
OMP_NUM_THREADS=1 "$VPY" -m pytest tests -m "not browser" -q -p no:cacheprovider --timeout 900 --durations=15 \
  -n 2
lap "library tests" $t

echo "[test] 2/5 chapters under nbval (profile: $RESNET_BOOK_PROFILE), published to $EXECUTED"
t=$SECONDS
rm -rf "$EXECUTED"
"$VPY" -m pytest --nbval-lax --nbval-current-env chapters -q -p no:cacheprovider -rs --durations=5 \
  --publish-dir "$EXECUTED"
lap "chapters (nbval, $RESNET_BOOK_PROFILE)" $t

echo "[test] 3/5 every chapter's full profile as a smoke run (RESNET_BOOK_SMOKE=1: capped training, claims skipped)"
t=$SECONDS
"$VPY" tests/cifar_files.py "$SMOKE_DATA"
OMP_NUM_THREADS=1 RESNET_BOOK_PROFILE=full RESNET_BOOK_SMOKE=1 RESNET_DATA_DIR="$SMOKE_DATA" \
  IPYTHONDIR="$SMOKE_DATA/ipython" "$VPY" -m pytest --nbval-lax --nbval-current-env chapters -q -p no:cacheprovider \
  -rs --durations=5 -n 2 --dist loadfile     # a notebook's cells stay together, in order, in one kernel
lap "chapters (nbval, full profile, smoke)" $t

echo "[test] 4/5 website build from the tested execution (nothing is executed again)"
t=$SECONDS
bash scripts/build_book.sh --executed "$EXECUTED"
lap "website build" $t

echo "[test] 5/5 browser test of the built site"
t=$SECONDS
"$VPY" -m pytest tests -m browser -q -p no:cacheprovider --timeout 600 -n 2
lap "browser test" $t

echo "[test] all passed in $((SECONDS - t0)) s after a ${t_setup} s set-up: $(IFS=';'; echo "${split[*]}" | sed 's/;/; /g')"
